"""Is a journey graph ready to publish? Pure: every problem as {node_id, field, message}.

The rules: exactly one trigger, and it is the root (nothing leads into it, everything is
reached from it); every node configured by its type's schema; every edge from and to
existing nodes, on a branch its node emits, one edge per branch; every branch followed
(so, with no loops, every path ends in an End); no loops; A/B and split percentages sum
to 100 (variants plus control); and references that exist: audiences (ready), templates
(approved, of the node's channel), providers (of the node's channel), events (declared,
when the workspace declares any). References are looked up through a ``Catalog`` with
one batched call per kind, so this module stays free of I/O. It never raises on any graph.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib.journeys import graph, nodes
from chalicelib.journeys.graph import Graph, Node

MAX_PROBLEMS = 200


@dataclass(frozen=True)
class Problem:
    node_id: str | None
    field: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"node_id": self.node_id, "field": self.field, "message": self.message}


@dataclass(frozen=True)
class TemplateInfo:
    channel: str
    status: str


class Catalog(Protocol):
    """The workspace's referenced things, looked up in batches (one call per kind)."""

    def audiences(self, ids: set[str]) -> dict[str, str]:
        """audience id -> status, for those that exist."""

    def templates(self, ids: set[str]) -> dict[str, TemplateInfo]:
        """template id -> channel and review status, for those that exist."""

    def providers(self, names: set[str]) -> dict[str, str]:
        """provider name -> channel, for those that exist."""

    def event_names(self) -> set[str] | None:
        """The declared event names, or None when the workspace declares none."""


def _branch_name(branch: graph.Branch) -> str:
    return "next" if branch is None else f"branch '{branch}'"


def structure(g: Graph) -> list[Problem]:
    """Trigger, edges, branches, loops: the shape of the graph."""
    found: list[Problem] = []
    ids = Counter(n.id for n in g.nodes)
    for node_id, times in ids.items():
        if times > 1:
            found.append(Problem(node_id, "id", "two nodes have this id"))
    triggers = [n for n in g.nodes if graph.is_trigger(n)]
    if not triggers:
        found.append(Problem(None, "nodes", "a journey needs one trigger (trigger_audience, trigger_event or "
                                            "trigger_manual) as its first node"))
    for extra in triggers[1:]:
        found.append(Problem(extra.id, "type", f"a journey has one trigger; '{triggers[0].id}' is already its trigger"))
    for trigger in triggers[:1]:
        if g.in_edges(trigger.id):
            found.append(Problem(trigger.id, "edges", "the trigger is the first node: no link may lead into it"))
    seen_branches: set[tuple[str, graph.Branch]] = set()
    for index, edge in enumerate(g.edges):
        source = g.node(edge.source)
        if source is None:
            found.append(Problem(None, f"edges[{index}].from", f"no node '{edge.source}' in this journey"))
            continue
        if g.node(edge.target) is None:
            found.append(Problem(source.id, f"edges[{index}].to", f"no node '{edge.target}' in this journey"))
        emitted = graph.branches(source)
        if edge.branch not in emitted:
            if not emitted:
                words = "an End is the last node: nothing follows it"
            elif emitted == [None]:
                words = "this node has one next link, without a branch label"
            else:
                words = "this node's branches are " + ", ".join(str(b) for b in emitted)
            found.append(Problem(source.id, f"edges[{index}].branch", words))
        elif (source.id, edge.branch) in seen_branches:
            found.append(Problem(source.id, f"edges[{index}].branch",
                                 f"{_branch_name(edge.branch)} already leads to another node (one link per branch)"))
        seen_branches.add((source.id, edge.branch))
    for node, branch in graph.open_branches(g):
        field = "next" if branch is None else f"branches.{branch}"
        found.append(Problem(node.id, field, f"{_branch_name(branch)} leads nowhere: every path must end in an "
                                             "End (add_ends adds one to every open branch)"))
    cycle = graph.find_cycle(g)
    if cycle:
        shown = " -> ".join(cycle[:10] + [cycle[0]])
        found.append(Problem(cycle[-1], "edges", f"these links make a loop ({shown}); a journey only moves forward"))
    if triggers and not cycle:
        reached = graph.reachable(g, [triggers[0].id])
        for node in g.nodes:
            if node.id not in reached and not graph.is_trigger(node):
                found.append(Problem(node.id, "node", "nothing leads to this node from the trigger"))
    return found


def configurations(g: Graph) -> tuple[list[Problem], dict[str, Any]]:
    """Each node's configuration against its schema; the parsed ones by node id."""
    found: list[Problem] = []
    parsed: dict[str, Any] = {}
    for node in g.nodes:
        config, problems = nodes.parse_config(node.type, node.config)
        found.extend(Problem(node.id, field, message) for field, message in problems)
        if config is not None:
            parsed[node.id] = config
            found.extend(_percentages(node, config))
    return found, parsed


def _percentages(node: Node, config: Any) -> list[Problem]:
    if isinstance(config, nodes.AbTest):
        total = sum(v.percent for v in config.variants) + config.control_percent
        if total != 100:
            return [Problem(node.id, "config.variants", f"the variants' percentages and control_percent add up to "
                                                        f"{total}; they must add up to 100")]
    if isinstance(config, nodes.RandomSplit):
        total = sum(g.percent for g in config.groups)
        if total != 100:
            return [Problem(node.id, "config.groups", f"the groups' percentages add up to {total}; they must add "
                                                      "up to 100")]
    return []


def references(g: Graph, parsed: dict[str, Any], catalog: Catalog) -> list[Problem]:
    """Audiences, templates, providers and events that the configured nodes name."""
    wanted_audiences: set[str] = set()
    wanted_templates: set[str] = set()
    wanted_providers: set[str] = set()
    uses_events = False
    for node in g.nodes:
        config = parsed.get(node.id)
        if isinstance(config, nodes.TriggerAudience):
            wanted_audiences.add(config.audience_id)
        elif isinstance(config, nodes.AudienceJudgment):
            wanted_audiences.update(config.audiences)
        elif isinstance(config, nodes.Touch):
            wanted_templates.add(config.template_id)
            wanted_providers.add(config.provider)
        elif isinstance(config, nodes.Kafka):
            wanted_providers.add(config.provider)
        elif isinstance(config, (nodes.TriggerEvent, nodes.EventJudgment)):
            uses_events = True
    audiences = catalog.audiences(wanted_audiences) if wanted_audiences else {}
    templates = catalog.templates(wanted_templates) if wanted_templates else {}
    providers = catalog.providers(wanted_providers) if wanted_providers else {}
    events = catalog.event_names() if uses_events else None
    found: list[Problem] = []
    for node in g.nodes:
        config = parsed.get(node.id)
        if isinstance(config, nodes.TriggerAudience):
            found.extend(_audience(node.id, "config.audience_id", config.audience_id, audiences))
        elif isinstance(config, nodes.AudienceJudgment):
            for i, audience_id in enumerate(config.audiences):
                found.extend(_audience(node.id, f"config.audiences[{i}]", audience_id, audiences))
        elif isinstance(config, nodes.Touch):
            channel = nodes.TOUCH_CHANNEL[node.type]
            template = templates.get(config.template_id)
            if template is None:
                found.append(Problem(node.id, "config.template_id", f"no template '{config.template_id}'"))
            elif template.channel != channel:
                found.append(Problem(node.id, "config.template_id", f"the template is for {template.channel}, "
                                                                    f"this node sends {channel}"))
            elif template.status != "approved":
                found.append(Problem(node.id, "config.template_id", f"the template is {template.status}: only an "
                                                                    "approved template is sent"))
            found.extend(_provider(node.id, config.provider, channel, providers))
        elif isinstance(config, nodes.Kafka):
            found.extend(_provider(node.id, config.provider, "kafka", providers))
        elif isinstance(config, (nodes.TriggerEvent, nodes.EventJudgment)) and events is not None:
            if config.event not in events:
                found.append(Problem(node.id, "config.event", f"the workspace declares no event '{config.event}' "
                                                              "(see /v1/event-definitions)"))
    return found


def _audience(node_id: str, field: str, audience_id: str, audiences: dict[str, str]) -> list[Problem]:
    status = audiences.get(audience_id)
    if status is None:
        return [Problem(node_id, field, f"no audience '{audience_id}'")]
    if status != "ready":
        return [Problem(node_id, field, f"the audience is {status}; it must be ready (built) to be used")]
    return []


def _provider(node_id: str, name: str, channel: str, providers: dict[str, str]) -> list[Problem]:
    have = providers.get(name)
    if have is None:
        return [Problem(node_id, "config.provider", f"no provider '{name}' (see /v1/providers)")]
    if have != channel:
        return [Problem(node_id, "config.provider", f"the provider sends {have}, this node needs {channel}")]
    return []


def _result_judgments(g: Graph) -> list[Problem]:
    """A result judgment judges the previous touch: one must come before it on its way."""
    found: list[Problem] = []
    senders = set(graph.TOUCHES) | {"webhook", "kafka"}
    parents: dict[str, list[str]] = {}
    for edge in g.edges:
        parents.setdefault(edge.target, []).append(edge.source)
    for node in g.nodes:
        if node.type != "result_judgment":
            continue
        seen: set[str] = set()
        stack = list(parents.get(node.id, []))
        has_touch = False
        while stack and not has_touch:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            before = g.node(current)
            has_touch = before is not None and before.type in senders
            stack.extend(parents.get(current, []))
        if not has_touch:
            found.append(Problem(node.id, "type", "a result judgment judges the touch before it: put a touch, "
                                                  "webhook or Kafka node earlier on its way"))
    return found


def validate(g: Graph, catalog: Catalog | None = None) -> list[Problem]:
    """Every problem of the graph (at most MAX_PROBLEMS); empty when it can be published."""
    found = structure(g)
    config_problems, parsed = configurations(g)
    found.extend(config_problems)
    found.extend(_result_judgments(g))
    if catalog is not None:
        found.extend(references(g, parsed, catalog))
    return found[:MAX_PROBLEMS]
