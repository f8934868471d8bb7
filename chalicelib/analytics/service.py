"""Analytics of a task, a journey and a campaign: counters (never scans) regrouped into
totals, rates and a daily series in the workspace's time zone, the provider's cost, an
estimate of the AWS cost, and on request conversions to a goal event.

Reads: the workspace (its time zone), then one Query per counter partition (a task, a
journey, each campaign of a subtree), on a few threads; see docs/data-model.md "Analytics".
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Optional
from zoneinfo import ZoneInfo

from pydantic import Field

from chalicelib.analytics import aws_cost, conversions, report
from chalicelib.analytics import repo
from chalicelib.campaigns import campaigns as campaign_rules
from chalicelib.campaigns import repo as campaigns_repo
from chalicelib.counters import repo as counters
from chalicelib.counters.counting import total
from chalicelib.errors import Invalid, NotFound
from chalicelib.events.schemas import EVENT_NAME
from chalicelib.journeys import repo as journeys_repo
from chalicelib.journeys.expressions import DURATION_WORDS, parse_duration
from chalicelib.schemas import Request, Response, rule
from chalicelib.tenancy import repo as tenancy

DATE = rule(r"^\d{4}-\d{2}-\d{2}$", "a date YYYY-MM-DD (a day in the workspace's time zone)")


class AnalyticsQuery(Request):
    from_: Optional[str] = Field(None, alias="from", pattern=DATE,
                                 description="first day (workspace time zone), inclusive; default: all time")
    to: Optional[str] = Field(None, pattern=DATE, description="last day (workspace time zone), inclusive")


class ConversionQuery(AnalyticsQuery):
    goal: Optional[str] = Field(None, pattern=EVENT_NAME, description="an event name: count conversions to it")
    within: Optional[str] = Field(None, max_length=40,
                                  description="the window after each message's send, an ISO 8601 duration "
                                              "(default P7D)")


# --- response models --------------------------------------------------------------------

class Counts(Response):
    targeted: int
    sent: int
    delivered: int
    failed: int
    opened: int
    clicked: int
    unique_clicks: int
    dropped_fatigue: int
    dropped_suppressed: int
    dropped_consent: int
    bounced: int
    complained: int
    cost: float = Field(description="the providers' cost of the messages sent, in their unit")


class Day(Counts):
    date: str = Field(description="a day in the workspace's time zone, YYYY-MM-DD")


class Rated(Counts):
    delivery_rate: Optional[float] = Field(description="delivered / sent; null when nothing was sent")
    open_rate: Optional[float] = Field(description="opened / delivered; null when nothing was delivered")
    click_rate: Optional[float] = Field(description="unique_clicks / delivered; null when nothing was delivered")


class AwsCost(Response):
    usd: float
    messages: int
    per_million_messages_usd: float
    estimate: bool = Field(description="always true: counted requests and units times list prices")
    source: str


class Conversions(Response):
    goal: str
    within: str
    messages: int = Field(description="messages sent")
    users: int = Field(description="distinct users sent a message")
    converted: int = Field(description="of those, users who did the goal event within the window after a message")
    rate: Optional[float] = Field(description="converted / users; null when no user was sent a message")


class NodeAnalytics(Rated):
    node_id: str


class CampaignPart(Rated):
    campaign_id: str


class Analytics(Rated):
    id: str
    timezone: str
    from_: Optional[str] = Field(None, alias="from")
    to: Optional[str] = None
    daily: list[Day]
    estimated_aws_cost_usd: float = Field(description="an estimate: see aws_cost")
    aws_cost: AwsCost
    conversions: Optional[Conversions] = None


class JourneyAnalytics(Analytics):
    nodes: list[NodeAnalytics]


class CampaignAnalytics(Analytics):
    campaigns: list[CampaignPart] = Field(description="the campaign and each sub-campaign, each with its own "
                                                      "counters (the totals above roll them all up)")


# --- the three reads --------------------------------------------------------------------

def _zone(workspace_id: str) -> ZoneInfo:
    workspace = tenancy.get_workspace(workspace_id)
    return ZoneInfo(workspace.timezone if workspace else "UTC")


def _days(query: AnalyticsQuery) -> tuple[date | None, date | None]:
    def day(field: str, value: str | None) -> date | None:
        try:
            found = date.fromisoformat(value) if value else None
        except ValueError:
            raise Invalid(field, "must be a calendar date YYYY-MM-DD") from None
        if found and not 1970 <= found.year <= 9998:
            raise Invalid(field, "must be a date from 1970 to 9998")
        return found

    first, last = day("from", query.from_), day("to", query.to)
    if first and last and first > last:
        raise Invalid("to", "must be on or after from")
    if first and last and (last - first).days >= report.MAX_DAYS:
        raise Invalid("to", f"the period is at most {report.MAX_DAYS} days")
    return first, last


def _frame(owner_id: str, zone: ZoneInfo, query: AnalyticsQuery, buckets: list[counters.Bucket],
           first: date | None, last: date | None) -> dict[str, Any]:
    shown = report.summary(buckets, zone, first, last)
    cost = aws_cost.estimate(float(shown["targeted"]))  # type: ignore[arg-type]
    return {"id": owner_id, "timezone": zone.key, "from": query.from_, "to": query.to, **shown,
            "estimated_aws_cost_usd": cost["usd"], "aws_cost": cost}


def task(workspace_id: str, task_id: str, query: ConversionQuery, now: datetime) -> dict[str, Any]:
    """A task's counters; 404 when it has neither counters nor a task item."""
    zone, (first, last) = _zone(workspace_id), _days(query)
    goal = _goal(query)
    start, end = report.period(first, last, zone)
    buckets = counters.buckets(workspace_id, f"task#{task_id}", start, end)
    owner = f"task#{task_id}"
    if not buckets and not repo.task_exists(workspace_id, task_id) and not counters.exists(workspace_id, owner):
        raise NotFound(f"no task {task_id}")
    out = _frame(task_id, zone, query, buckets, first, last)
    if goal:
        out["conversions"] = _conversions(workspace_id, [task_id], goal, now)
    return out


def journey(workspace_id: str, journey_id: str, query: AnalyticsQuery, now: datetime) -> dict[str, Any]:
    """A journey's counters summed over its nodes, and each node's."""
    zone, (first, last) = _zone(workspace_id), _days(query)
    start, end = report.period(first, last, zone)
    buckets = counters.buckets(workspace_id, f"journey#{journey_id}", start, end)
    if not buckets and journeys_repo.get(workspace_id, journey_id) is None \
            and not counters.exists(workspace_id, f"journey#{journey_id}"):
        raise NotFound(f"no journey {journey_id}")
    out = _frame(journey_id, zone, query, buckets, first, last)
    out["nodes"] = [{"node_id": node, **report.counts(total(b.counts for b in part)),
                     **report.rates(total(b.counts for b in part))}
                    for node, part in sorted(report.by_part(buckets).items())]
    return out


def campaign(workspace_id: str, campaign_id: str, query: ConversionQuery, now: datetime) -> dict[str, Any]:
    """A campaign's own counters plus its sub-campaigns', rolled up; each one's beside."""
    zone, (first, last) = _zone(workspace_id), _days(query)
    goal = _goal(query)
    everything = campaigns_repo.all_of(workspace_id)
    if campaign_id not in everything:
        raise NotFound(f"no campaign {campaign_id}")
    ids = campaign_rules.subtree(everything, campaign_id)
    start, end = report.period(first, last, zone)
    per_campaign = repo.parallel(lambda c: counters.buckets(workspace_id, f"campaign#{c}", start, end), ids)
    buckets = [b for part in per_campaign for b in part]
    out = _frame(campaign_id, zone, query, buckets, first, last)
    out["campaigns"] = [{"campaign_id": c, **report.counts(total(b.counts for b in part)),
                         **report.rates(total(b.counts for b in part))} for c, part in zip(ids, per_campaign)]
    if goal:
        out["conversions"] = _conversions(workspace_id, repo.tasks_of(workspace_id, ids), goal, now)
    return out


# --- conversions ------------------------------------------------------------------------

def _goal(query: ConversionQuery) -> tuple[str, str] | None:
    if query.goal is None:
        if query.within is not None:
            raise Invalid("within", "needs goal: the event whose conversions to count")
        return None
    within = query.within or conversions.DEFAULT_WITHIN
    if parse_duration(within) is None:
        raise Invalid("within", f"must be {DURATION_WORDS}")
    return query.goal, within


def _conversions(workspace_id: str, task_ids: list[str], goal: tuple[str, str], now: datetime) -> dict[str, object]:
    name, within = goal
    sent_total = sum(counters.read(workspace_id, f"task#{t}")["sent"] for t in task_ids)
    if sent_total > conversions.MAX_MESSAGES:
        raise Invalid("goal", f"conversions are counted for at most {conversions.MAX_MESSAGES:,} sent messages "
                              f"a request; this has {int(sent_total):,}")
    sent = [m for t in task_ids for m in repo.sent_messages(workspace_id, t)]
    if len(sent) > conversions.MAX_MESSAGES:
        raise Invalid("goal", f"conversions are counted for at most {conversions.MAX_MESSAGES:,} sent messages "
                              f"a request; this has {len(sent):,}")
    duration = parse_duration(within)
    assert duration is not None
    windows = conversions.windows(((m.user_id, m.sent_at) for m in sent), duration, now)
    counted = repo.parallel(lambda w: (w.user_id, repo.goal_count(workspace_id, w.user_id, name, w.start, w.end, now)),
                            windows)
    converted = {user for user, n in counted if n > 0}
    return conversions.result(name, within, len(sent), len({m.user_id for m in sent}), converted)

