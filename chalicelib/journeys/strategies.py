"""Strategy templates: ready-made journeys to start from (the reference's three, plus a
welcome series and an abandoned cart). Each node lists in ``todo`` the configuration
fields the marketer still has to fill (templates, providers, audiences, URLs); once they
are filled, the graph passes validation (tests/api/test_journeys.py fills and validates)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.journeys.graph import Edge, Graph, Node


@dataclass(frozen=True)
class Step:
    id: str
    type: str
    config: dict[str, Any] = field(default_factory=dict)
    todo: tuple[str, ...] = ()


@dataclass(frozen=True)
class Strategy:
    id: str
    name: str
    description: str
    steps: tuple[Step, ...]
    edges: tuple[Edge, ...]

    def graph(self) -> Graph:
        return Graph(tuple(Node(s.id, s.type, dict(s.config)) for s in self.steps), self.edges)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "description": self.description,
            "nodes": [{"id": s.id, "type": s.type, "config": s.config, "todo": list(s.todo)} for s in self.steps],
            "edges": [e.to_json() for e in self.edges],
        }


SMS_TODO = ("provider", "template_id")


def _sms(node_id: str) -> Step:
    return Step(node_id, "sms", {}, SMS_TODO)


def _line(*ids: str) -> tuple[Edge, ...]:
    return tuple(Edge(a, b) for a, b in zip(ids, ids[1:]))


NEW_MEMBER = Strategy(
    "new_member_first_order", "New member first-order conversion",
    "New members get a coupon by webhook; those it reached get a care SMS; whoever has not logged in within "
    "three days gets a reminder before the coupon expires.",
    (
        Step("trigger", "trigger_event", {"event": "register"}),
        Step("coupon", "webhook", {}, ("url",)),
        Step("coupon_sent", "result_judgment", {"statuses": ["sent", "delivered"], "after": "PT10M"}),
        _sms("care_sms"),
        Step("logged_in", "event_judgment", {"event": "login", "within": "P3D"}),
        _sms("expiry_reminder"),
        Step("end_no_coupon", "end"), Step("end_logged_in", "end"), Step("end", "end"),
    ),
    _line("trigger", "coupon", "coupon_sent") + (
        Edge("coupon_sent", "care_sms", "yes"), Edge("coupon_sent", "end_no_coupon", "no"),
        Edge("care_sms", "logged_in"), Edge("logged_in", "end_logged_in", "yes"),
        Edge("logged_in", "expiry_reminder", "no"), Edge("expiry_reminder", "end"),
    ),
)

REPURCHASE = Strategy(
    "first_purchase_repurchase", "First-purchase member re-purchase",
    "Members who bought once and have not bought in 30 days get a coupon, then a reminder SMS. The audience: "
    "purchase count = 1 and no purchase within 30 days.",
    (
        Step("trigger", "trigger_audience", {"schedule": {"rate": "1 day"}}, ("audience_id",)),
        Step("coupon", "webhook", {}, ("url",)),
        _sms("reminder_sms"),
        Step("end", "end"),
    ),
    _line("trigger", "coupon", "reminder_sms", "end"),
)

HIGH_VALUE = Strategy(
    "high_value_low_frequency", "High-value low-frequency customers",
    "Customers with a high order amount but fewer than 3 purchases in 12 months get a new-product "
    "recommendation. The audience: order amount >= X and purchases < 3 within 365 days.",
    (
        Step("trigger", "trigger_audience", {}, ("audience_id",)),
        _sms("recommendation_sms"),
        Step("end", "end"),
    ),
    _line("trigger", "recommendation_sms", "end"),
)

WELCOME = Strategy(
    "welcome_series", "Welcome series",
    "A welcome email on sign-up, a second one two days later at 10:00, and a last one after a week for "
    "those who have not bought yet.",
    (
        Step("trigger", "trigger_event", {"event": "register"}),
        Step("welcome", "email", {}, SMS_TODO),
        Step("wait_2d", "wait", {"until_time": "10:00", "after_days": 2, "timezone": "user"}),
        Step("tips", "email", {}, SMS_TODO),
        Step("bought", "event_judgment", {"event": "purchase", "within": "P5D"}),
        Step("offer", "email", {}, SMS_TODO),
        Step("end_bought", "end"), Step("end", "end"),
    ),
    _line("trigger", "welcome", "wait_2d", "tips", "bought") + (
        Edge("bought", "end_bought", "yes"), Edge("bought", "offer", "no"), Edge("offer", "end"),
    ),
)

ABANDONED_CART = Strategy(
    "abandoned_cart", "Abandoned cart",
    "A user who adds to cart and does not buy within an hour gets a reminder; still no purchase a day later, "
    "a last nudge.",
    (
        Step("trigger", "trigger_event", {"event": "add_to_cart"}),
        Step("bought", "event_judgment", {"event": "purchase", "within": "PT1H"}),
        Step("reminder", "email", {}, SMS_TODO),
        Step("bought_later", "event_judgment", {"event": "purchase", "within": "P1D"}),
        _sms("nudge_sms"),
        Step("end_bought", "end"), Step("end_bought_later", "end"), Step("end", "end"),
    ),
    _line("trigger", "bought") + (
        Edge("bought", "end_bought", "yes"), Edge("bought", "reminder", "no"), Edge("reminder", "bought_later"),
        Edge("bought_later", "end_bought_later", "yes"), Edge("bought_later", "nudge_sms", "no"),
        Edge("nudge_sms", "end"),
    ),
)

STRATEGIES: dict[str, Strategy] = {s.id: s for s in (NEW_MEMBER, REPURCHASE, HIGH_VALUE, WELCOME, ABANDONED_CART)}
