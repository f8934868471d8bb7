"""The Chalice app: registers blueprints, middleware and queue handlers. Nothing else."""
from chalice import Chalice, CORSConfig, Rate
from chalice.app import CloudWatchEvent, SQSEvent

from chalicelib import aws
from chalicelib.config import settings
from chalicelib.api import (audiences, campaigns, chat_campaigns, events, fatigue, journeys, materials, meta, profiles,
                            providers, receipts, short_links, tasks, templates, unsubscribe, workspaces)
from chalicelib.api import analytics
from chalicelib.api import signatures as sms_signatures
from chalicelib.api.middleware import http_middleware
from chalicelib.handlers import audience_jobs
from chalicelib.handlers import events as events_handler
from chalicelib.handlers import receipts as receipts_handler
from chalicelib.handlers import sandbox_receipts
from chalicelib.handlers import schedule as schedule_handler
from chalicelib.handlers import sends as sends_handler
from chalicelib.handlers import steps as steps_handler

aws.enable_tracing()
app = Chalice(app_name="marketing-automation")
app.register_middleware(http_middleware, "http")
app.api.cors = CORSConfig(allow_origin=settings.cors_origin, expose_headers=["X-Request-Id"], max_age=600)
for blueprint in (meta.bp, workspaces.bp, profiles.bp, events.bp, templates.bp, providers.bp, fatigue.bp,
                  unsubscribe.bp, audiences.bp, campaigns.bp, journeys.bp, sms_signatures.bp, short_links.bp,
                  materials.bp, receipts.bp, tasks.bp, chat_campaigns.bp):
    app.register_blueprint(blueprint)
app.register_blueprint(analytics.bp)


@app.on_sqs_message(queue="events", batch_size=10, maximum_batching_window_in_seconds=1)
def on_events(event: SQSEvent) -> dict:
    return events_handler.handle(event.to_dict(), event.context)


@app.on_sqs_message(queue="sends", batch_size=10, maximum_batching_window_in_seconds=1)
def on_sends(event: SQSEvent) -> dict:
    return sends_handler.handle(event.to_dict(), event.context)


@app.on_sqs_message(queue="steps", batch_size=10, maximum_batching_window_in_seconds=1)
def on_steps(event: SQSEvent) -> dict:
    return steps_handler.handle(event.to_dict(), event.context)


@app.on_sqs_message(queue="audience-jobs", batch_size=2)
def on_audience_jobs(event: SQSEvent) -> dict:
    return audience_jobs.handle(event.to_dict(), event.context)


@app.on_sqs_message(queue="receipts", batch_size=10, maximum_batching_window_in_seconds=1)
def on_receipts(event: SQSEvent) -> dict:
    return receipts_handler.handle(event.to_dict(), event.context)


@app.schedule(Rate(1, unit=Rate.MINUTES))
def post_sandbox_receipts(event: CloudWatchEvent) -> None:
    sandbox_receipts.handle(event.to_dict(), event.context)


@app.schedule(Rate(1, unit=Rate.MINUTES))
def every_minute(event: CloudWatchEvent) -> dict:
    return schedule_handler.handle(event.to_dict(), event.context)
