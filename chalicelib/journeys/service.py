"""Journeys as the API sees them: create (optionally from a strategy), read, list, settings,
draft graph and edits with undo/redo (optimistic on the revision), validate, publish
(freeze a version; at most MAX_LIVE live journeys per workspace) and delete."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import AwareDatetime, BaseModel, Field, field_validator, model_validator

from chalicelib import dynamo, ids, pagination
from chalicelib.clock import iso
from chalicelib.errors import Conflict, FieldError, Invalid, NotFound
from chalicelib.events.schemas import EVENT_NAME
from chalicelib.journeys import edits, expressions, graph, history, lifecycle, repo, strategies, validate
from chalicelib.journeys.catalog import WorkspaceCatalog
from chalicelib.journeys.graph import Graph, Node
from chalicelib.journeys.nodes import LABEL, REF_ID
from chalicelib.schemas import JsonBool, JsonInt, PageQuery, Request, Response, StorableMap

MAX_LIVE = 100
MAX_GRAPH_BYTES = 300_000  # the graph as compact JSON; stored compressed, far below 400 KB
STATUSES = ("draft", "scheduled", "running", "paused", "ended")
LIVE = ("scheduled", "running", "paused")
DELETABLE = ("draft", "ended")


def _duration(value: Optional[str]) -> Optional[str]:
    if value is not None:
        problem = expressions.duration_problem(value)
        if problem:
            raise ValueError(problem)
    return value


class EntryRules(Request):
    reentry: Literal["once", "once_at_a_time", "unlimited"] = "once"
    min_interval: Optional[str] = None
    max_entries_per_user: Optional[JsonInt] = Field(None, ge=1, le=1_000_000)
    daily_cap: Optional[JsonInt] = Field(None, ge=1, le=1_000_000_000)
    total_cap: Optional[JsonInt] = Field(None, ge=1, le=1_000_000_000)

    _interval = field_validator("min_interval")(classmethod(lambda cls, v: _duration(v)))

    @model_validator(mode="after")
    def _unlimited_only(self) -> "EntryRules":
        if self.reentry != "unlimited" and (self.min_interval or self.max_entries_per_user):
            raise ValueError("min_interval and max_entries_per_user go with reentry 'unlimited'")
        return self


class Goal(Request):
    event: str = Field(pattern=EVENT_NAME)
    within: Optional[str] = None
    exit: JsonBool = True

    _within = field_validator("within")(classmethod(lambda cls, v: _duration(v)))


class JourneySettings(Request):
    name: str = Field(min_length=1, max_length=100)
    campaign_ids: list[Annotated[str, Field(pattern=REF_ID)]] = Field(default_factory=list, max_length=20)
    start_at: Optional[AwareDatetime] = None
    end_at: Optional[AwareDatetime] = None
    group: Optional[str] = Field(None, min_length=1, max_length=64)
    entry: EntryRules = Field(default_factory=EntryRules)
    messages_per_second: Optional[JsonInt] = Field(None, ge=1, le=10_000)
    goal: Optional[Goal] = None

    @model_validator(mode="after")
    def _order(self) -> "JourneySettings":
        if self.start_at and self.end_at and self.end_at <= self.start_at:
            raise ValueError("end_at must be after start_at")
        return self

    def stored(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude={"name"}, exclude_none=True)
        for key in ("start_at", "end_at"):
            moment = getattr(self, key)
            if moment is not None:
                data[key] = iso(moment)
        return data


class JourneyCreate(JourneySettings):
    template: Optional[Literal[tuple(strategies.STRATEGIES)]] = None  # type: ignore[valid-type]


class NodeIn(Request):
    id: str = Field(pattern=LABEL)
    type: Literal[graph.NODE_TYPES]  # type: ignore[valid-type]
    config: StorableMap = Field(default_factory=dict)


class EdgeIn(Request):
    source: str = Field(alias="from", pattern=LABEL)
    target: str = Field(alias="to", pattern=LABEL)
    branch: Optional[str] = Field(None, pattern=REF_ID)


class GraphIn(Request):
    nodes: list[NodeIn] = Field(max_length=edits.MAX_NODES)
    edges: list[EdgeIn] = Field(default_factory=list, max_length=edits.MAX_EDGES)

    @field_validator("nodes")
    @classmethod
    def _unique(cls, value: list[NodeIn]) -> list[NodeIn]:
        seen: set[str] = set()
        for node in value:
            if node.id in seen:
                raise ValueError(f"two nodes have the id '{node.id}'")
            seen.add(node.id)
        return value

    def graph(self) -> Graph:
        return Graph(tuple(Node(n.id, n.type, dict(n.config)) for n in self.nodes),
                     tuple(graph.Edge(e.source, e.target, e.branch) for e in self.edges))


class GraphPut(GraphIn):
    revision: JsonInt = Field(ge=1, description="the draft revision this replaces")


class NewNode(Request):
    type: Literal[graph.NODE_TYPES]  # type: ignore[valid-type]
    config: StorableMap = Field(default_factory=dict)


class Op(Request):
    revision: JsonInt = Field(ge=1, description="the draft revision the edit applies to")


class InsertOp(Op):
    op: Literal["insert"]
    node: NewNode
    after: Optional[str] = Field(None, pattern=LABEL)
    branch: Optional[str] = Field(None, pattern=REF_ID)
    branch_out: Optional[str] = Field(None, pattern=REF_ID)


class ConnectOp(Op):
    op: Literal["connect"]
    source: str = Field(alias="from", pattern=LABEL)
    branch: Optional[str] = Field(None, pattern=REF_ID)
    target: str = Field(alias="to", pattern=LABEL)


class CopyOp(Op):
    op: Literal["copy"]
    node_id: str = Field(pattern=LABEL)
    downstream: JsonBool = False


class PasteOp(Op):
    op: Literal["paste"]
    fragment: GraphIn
    after: Optional[str] = Field(None, pattern=LABEL)
    branch: Optional[str] = Field(None, pattern=REF_ID)


class NodeOp(Op):
    op: Literal["delete_subtree", "delete"]
    node_id: str = Field(pattern=LABEL)


class CutOp(Op):
    op: Literal["cut"]
    node_id: str = Field(pattern=LABEL)
    source: Optional[str] = Field(None, alias="from", pattern=LABEL)


class ConfigureOp(Op):
    op: Literal["configure"]
    node_id: str = Field(pattern=LABEL)
    config: StorableMap


class PlainOp(Op):
    op: Literal["add_ends", "undo", "redo"]


EditOp = Annotated[Union[InsertOp, ConnectOp, CopyOp, PasteOp, NodeOp, CutOp, ConfigureOp, PlainOp],
                   Field(discriminator="op")]


class EditRequest(BaseModel):
    edit: EditOp


class ProblemOut(Response):
    node_id: Optional[str]
    field: str
    message: str


class Validation(Response):
    valid: bool
    problems: list[ProblemOut]


class JourneyOut(Response):
    id: str
    name: str
    status: str
    revision: int
    published_version: Optional[int] = None
    published_at: Optional[str] = None
    template: Optional[str] = None
    can_undo: bool
    can_redo: bool
    created_at: str
    updated_at: str


class JourneyFull(JourneyOut):
    graph: dict[str, Any]


class EditResult(JourneyFull):
    fragment: Optional[dict[str, Any]] = None
    created: Optional[list[str]] = None


class JourneysQuery(PageQuery):
    name: Optional[str] = Field(None, min_length=1, max_length=100)
    status: Optional[Literal[STATUSES]] = None  # type: ignore[valid-type]
    campaign_id: Optional[str] = Field(None, pattern=REF_ID)


class PublishInvalid(Invalid):
    """400 listing the graph's problems, each with its node."""

    def __init__(self, problems: list[validate.Problem]):
        super().__init__(errors=[FieldError(f"nodes[{p.node_id}].{p.field}" if p.node_id else p.field, p.message)
                                 for p in problems])
        self.detail = f"the journey cannot be published: {len(problems)} problem(s); " + self.detail
        self.problems = problems

    def to_problem(self) -> dict[str, Any]:
        body = super().to_problem()
        body["problems"] = [p.to_json() for p in self.problems]
        return body


def to_api(record: repo.JourneyRecord) -> dict[str, Any]:
    return {
        "id": record.journey_id, "name": record.name, "status": record.status, "revision": record.draft.revision,
        "published_version": record.published_version, "published_at": record.published_at,
        "template": record.template, "can_undo": bool(record.draft.undo), "can_redo": bool(record.draft.redo),
        "created_at": record.created_at, "updated_at": record.updated_at, **record.settings,
    }


def _full(record: repo.JourneyRecord, g: Graph) -> dict[str, Any]:
    return {**to_api(record), "graph": g.to_json()}


def _load(workspace_id: str, journey_id: str) -> repo.JourneyRecord:
    record = repo.get(workspace_id, journey_id)
    if record is None:
        raise NotFound(f"no journey '{journey_id}'")
    return record


def _check_size(g: Graph) -> None:
    size = len(json.dumps(g.to_json(), separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_GRAPH_BYTES:
        raise Invalid("nodes", f"the journey is {size} bytes as JSON; at most {MAX_GRAPH_BYTES}")


def create(workspace_id: str, request: JourneyCreate, now: datetime) -> dict[str, Any]:
    """A new draft, empty or the chosen strategy's graph."""
    g = strategies.STRATEGIES[request.template].graph() if request.template else Graph()
    record = repo.JourneyRecord(
        workspace_id=workspace_id, journey_id=ids.ordered_id("jny", now), name=request.name, status="draft",
        settings=request.stored(), draft=history.start(), created_at=iso(now), updated_at=iso(now),
        template=request.template,
    )
    if not repo.create(record, g):
        raise Conflict("already_exists", "a journey with this id exists; try again")
    return _full(record, g)


def get(workspace_id: str, journey_id: str) -> dict[str, Any]:
    record = _load(workspace_id, journey_id)
    return _full(record, repo.get_graph(workspace_id, journey_id, record.draft.current))


def list_page(workspace_id: str, query: JourneysQuery) -> dict[str, Any]:
    start = pagination.decode(query.cursor, attribute="catalog", expected=f"{workspace_id}#journeys")
    found, last = repo.page(workspace_id, name=query.name, status=query.status, campaign_id=query.campaign_id,
                            limit=query.limit, start=start)
    return {"items": [to_api(r) for r in found], "next_cursor": pagination.encode(last)}


def put_settings(workspace_id: str, journey_id: str, request: JourneySettings, now: datetime) -> dict[str, Any]:
    def decide(record: repo.JourneyRecord) -> repo.JourneyRecord:
        if record.status == "ended":
            raise Conflict("invalid_state", "an ended journey cannot be changed")
        record.name, record.settings = request.name, {**request.stored()}
        record.updated_at = iso(now)
        return record

    def write(record: repo.JourneyRecord, read: repo.JourneyRecord) -> bool:
        return repo.update_settings(record, read.status, iso(now))

    record = dynamo.read_decide_write(lambda: _load(workspace_id, journey_id), decide, write, busy="the journey")
    if record.status in ("running", "paused"):
        lifecycle.listen_for_goal(record)  # a goal set, changed or removed on a live journey
    return to_api(record)


def _stale(record: repo.JourneyRecord, revision: int) -> None:
    if revision != record.draft.revision:
        raise Conflict("stale_revision", f"the draft is at revision {record.draft.revision}, not {revision}: "
                                         "another edit came first; read the journey and apply your edit again")


def _editable(record: repo.JourneyRecord) -> None:
    if record.status == "ended":
        raise Conflict("invalid_state", "an ended journey's draft cannot be edited")


def _commit(record: repo.JourneyRecord, revision: int, new: Graph | None, draft: history.Draft,
            dropped: list[int], now: datetime) -> repo.JourneyRecord:
    if not repo.commit_draft(record, revision, draft, new, dropped, iso(now)):
        raise Conflict("stale_revision", "another edit of the draft came first; read the journey and apply "
                                         "your edit again")
    record.draft, record.updated_at = draft, iso(now)
    return record


def put_graph(workspace_id: str, journey_id: str, request: GraphPut, now: datetime) -> dict[str, Any]:
    """Replace the draft graph (an edit that undo can take back)."""
    record = _load(workspace_id, journey_id)
    _editable(record)
    _stale(record, request.revision)
    g = request.graph()
    _check_size(g)
    draft, dropped = history.record(record.draft)
    return _full(_commit(record, request.revision, g, draft, dropped, now), g)


def _new_id() -> str:
    return "n" + ids.new_id("")[-8:].lower()


def edit(workspace_id: str, journey_id: str, op: Any, now: datetime) -> dict[str, Any]:
    """Apply one edit operation to the draft at ``op.revision``."""
    record = _load(workspace_id, journey_id)
    _editable(record)
    g = repo.get_graph(workspace_id, journey_id, record.draft.current)
    if isinstance(op, CopyOp):  # reads only: the fragment for a later paste
        return {**_full(record, g), "fragment": edits.copy(g, node_id=op.node_id, downstream=op.downstream).to_json()}
    _stale(record, op.revision)
    if isinstance(op, PlainOp) and op.op in ("undo", "redo"):
        draft = history.undo(record.draft) if op.op == "undo" else history.redo(record.draft)
        record = _commit(record, op.revision, None, draft, [], now)
        return _full(record, repo.get_graph(workspace_id, journey_id, draft.current))
    new, created = _apply(g, op)
    _check_size(new)
    draft, dropped = history.record(record.draft)
    return {**_full(_commit(record, op.revision, new, draft, dropped, now), new), "created": created}


def _apply(g: Graph, op: Any) -> tuple[Graph, list[str]]:
    before = g.ids()
    if isinstance(op, InsertOp):
        new, _ = edits.insert(g, op.node.type, dict(op.node.config), after=op.after, branch=op.branch,
                              branch_out=op.branch_out, new_id=_new_id)
    elif isinstance(op, ConnectOp):
        new = edits.connect(g, source=op.source, branch=op.branch, target=op.target)
    elif isinstance(op, PasteOp):
        new, _ = edits.paste(g, op.fragment.graph(), after=op.after, branch=op.branch, new_id=_new_id)
    elif isinstance(op, NodeOp):
        new = edits.delete_subtree(g, node_id=op.node_id) if op.op == "delete_subtree" else edits.delete_alone(op.node_id)
    elif isinstance(op, CutOp):
        new = edits.cut(g, node_id=op.node_id, source=op.source)
    elif isinstance(op, ConfigureOp):
        new = edits.set_config(g, node_id=op.node_id, config=dict(op.config))
    else:
        new = edits.add_ends(g, new_id=_new_id)
    return new, [n.id for n in new.nodes if n.id not in before]


def check(workspace_id: str, journey_id: str) -> dict[str, Any]:
    record = _load(workspace_id, journey_id)
    g = repo.get_graph(workspace_id, journey_id, record.draft.current)
    problems = validate.validate(g, WorkspaceCatalog(workspace_id))
    return {"valid": not problems, "problems": [p.to_json() for p in problems]}


def publish(workspace_id: str, journey_id: str, now: datetime) -> dict[str, Any]:
    """Validate the draft and freeze it as the next version: a draft becomes scheduled (start
    in the future) or running and takes one of the workspace's MAX_LIVE live slots; a live
    journey gets a new version (users keep the version they entered with)."""
    for attempt in range(5):
        read = _load(workspace_id, journey_id)
        if read.status == "ended":
            raise Conflict("invalid_state", "an ended journey cannot be published again; copy it into a new one")
        g = repo.get_graph(workspace_id, journey_id, read.draft.current)
        problems = validate.validate(g, WorkspaceCatalog(workspace_id))
        if problems:
            raise PublishInvalid(problems)
        end_at = read.settings.get("end_at")
        if end_at and end_at <= iso(now):
            raise Invalid("end_at", "the journey's end time has passed: set a later end_at before publishing")
        start_at = read.settings.get("start_at")
        going_live = read.status == "draft"
        status = ("scheduled" if start_at and start_at > iso(now) else "running") if going_live else read.status
        version = (read.published_version or 0) + 1
        record = repo.JourneyRecord(**{**read.__dict__, "status": status, "published_version": version,
                                       "published_at": iso(now), "updated_at": iso(now)})
        try:
            if repo.publish(record, read, g, version, take_slot=going_live, max_live=MAX_LIVE, now=iso(now)):
                lifecycle.after_publish(record, going_live, now)
                return to_api(record)
        except repo.LimitReached:
            raise Conflict("limit_exceeded", f"at most {MAX_LIVE} journeys can be live (scheduled, running or "
                                             "paused) at once in a workspace; stop or end one first") from None
        dynamo.backoff(attempt)
    raise Conflict("stale_revision", "the journey kept changing while it was being published; try again")


def delete(workspace_id: str, journey_id: str) -> None:
    record = _load(workspace_id, journey_id)
    if record.status not in DELETABLE or not repo.delete(workspace_id, journey_id, DELETABLE):
        raise Conflict("invalid_state", f"a {record.status} journey cannot be deleted: only drafts and ended "
                                        "journeys can (stop it first)")


def templates() -> dict[str, Any]:
    return {"items": [s.to_json() for s in strategies.STRATEGIES.values()], "next_cursor": None}
