"""Marketing tasks: create (instant or scheduled), read with the reconciliation, list, cancel."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib import clock
from chalicelib.api.http import endpoint, workspace_of
from chalicelib.schemas import Page
from chalicelib.tasks import exports, service
from chalicelib.tenancy.auth import Principal
from chalicelib.tenancy.schemas import Role

bp = Blueprint(__name__)


@endpoint(bp, "/v1/tasks", "POST", role=Role.operator, body=service.TaskBody, response=service.TaskOut, status=201)
def create_task(principal: Principal, body: service.TaskBody) -> service.TaskOut:
    """Send a message on one channel to an audience or an id list, now or at ``send_at``."""
    return service.create(workspace_of(principal), body, clock.now())


@endpoint(bp, "/v1/tasks", "GET", role=Role.viewer, query=service.TasksQuery, response=Page[service.TaskOut])
def list_tasks(principal: Principal, query: service.TasksQuery) -> dict[str, Any]:
    """Tasks in creation order; ?status= and ?campaign_id= filter."""
    return service.list_page(workspace_of(principal), query)


@endpoint(bp, "/v1/tasks/{task_id}", "GET", role=Role.viewer, response=service.TaskOut)
def get_task(principal: Principal, task_id: str) -> service.TaskOut:
    """A task, its counts per status and the reconciliation targeted = sent + dropped + failed + pending."""
    return service.get(workspace_of(principal), task_id)


@endpoint(bp, "/v1/tasks/{task_id}/cancel", "POST", role=Role.operator, response=service.TaskOut)
def cancel_task(principal: Principal, task_id: str) -> service.TaskOut:
    """Cancel a scheduled or sending task: what is not yet sent is not sent."""
    return service.cancel(workspace_of(principal), task_id, clock.now())


@endpoint(bp, "/v1/tasks/{task_id}/messages", "GET", role=Role.viewer, query=service.MessagesQuery,
          response=Page[service.MessageOut])
def task_messages(principal: Principal, task_id: str, query: service.MessagesQuery) -> dict[str, Any]:
    """The task's messages with their status, reason and history; ?status=failed,dropped_fatigue filters."""
    return service.messages(workspace_of(principal), task_id, query)


@endpoint(bp, "/v1/tasks/{task_id}/exports", "POST", role=Role.operator, response=exports.TaskExport, status=202)
def export_task_messages(principal: Principal, task_id: str) -> exports.TaskExport:
    """Export the task's messages as CSV to S3; read the export for its download link."""
    service.get(workspace_of(principal), task_id)  # 404 for an unknown task
    return exports.create(workspace_of(principal), task_id, clock.now())


@endpoint(bp, "/v1/tasks/{task_id}/exports/{export_id}", "GET", role=Role.viewer, response=exports.TaskExport)
def get_task_export(principal: Principal, task_id: str, export_id: str) -> exports.TaskExport:
    """An export's status, rows and, once done, a presigned download link (one hour)."""
    return exports.get(workspace_of(principal), task_id, export_id)
