"""The selectors the builder uses per source type (``builder.register``).

``rules``: the rule decides from the profile alone when it can (``evaluate_partial``);
only for users still undecided are their events of the names the rule needs read, from
the earliest time that can count (one Query per name), and ``matches`` decides.
``rfm``: from the purchase event's lifetime aggregate, no event read; with thresholds in
one pass, with quintile scores against the cut points of a first pass (``rfm_build``).
``aipl``: from the aggregates; only users the aggregates cannot place have their events
of the needed names read since the window opened (``aipl.window_reads``).
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from chalicelib import clock
from chalicelib.audiences import aipl, builder, rfm, rfm_build, rules
from chalicelib.audiences.schemas import parse_source
from chalicelib.events.aggregates import Stat
from chalicelib.schemas import parse
from chalicelib.events import repo as events_repo
from chalicelib.profiles.repo import ProfileRecord, StatRecord


class RulesSelector:
    def __init__(self, source: Mapping[str, Any], now: datetime):
        self.rule = rules.compile_rule(parse_source(dict(source)))
        self.now = now
        self.needs = rules.behaviour_needs(self.rule, now)

    def needs_events(self) -> bool:
        return False  # it reads the few events it needs itself, not every aggregate

    def select(self, profile: ProfileRecord, stats: Mapping[str, StatRecord], tags: frozenset[str]) -> bool:
        decided = rules.evaluate_partial(self.rule, profile.attributes, tags)
        if decided is not None:
            return decided
        events = {name: events_repo.events_of(profile.workspace_id, profile.user_id, name,
                                              clock.iso(since) if since else None, self.now)
                  for name, since in self.needs.items()}
        return rules.matches(self.rule, rules.UserFacts(profile.attributes, tags, events), self.now)


def _stats(stats: Mapping[str, StatRecord]) -> dict[str, Stat]:
    return {name: Stat(s.count, s.first_at, s.last_at, dict(s.sums)) for name, s in stats.items()}


class RfmSelector:
    """Segments by thresholds (one pass), or by quintile scores against the cut points the
    first pass stored (``prepared``, with the moment recency is measured to)."""

    def __init__(self, source: Mapping[str, Any], now: datetime, prepared: str | None = None):
        self.source: rfm.RfmSource = parse(rfm.RfmSource, dict(source))
        self.cuts: rfm.Cutpoints | None = None
        self.now = now
        if rfm.needs_cutpoints(self.source):
            if prepared is None:
                raise builder.UnbuildableSource("RFM quintile scores need the cut points of a first pass")
            self.cuts, self.now = rfm_build.prepared_of(prepared)

    def needs_events(self) -> bool:
        return True  # the purchase event's aggregate

    def classify(self, profile: ProfileRecord, stats: Mapping[str, StatRecord],
                 tags: frozenset[str]) -> tuple[bool, str | None]:
        facts = rfm.source_facts(self.source, _stats(stats), self.now)
        if facts is None:
            return False, None
        assessment = rfm.assess(facts, self.source, self.cuts)
        return rfm.selects(self.source, assessment), assessment.segment

    def select(self, profile: ProfileRecord, stats: Mapping[str, StatRecord], tags: frozenset[str]) -> bool:
        return self.classify(profile, stats, tags)[0]


class AiplSelector:
    def __init__(self, source: Mapping[str, Any], now: datetime):
        self.source: aipl.AiplSource = parse(aipl.AiplSource, dict(source))
        self.rules = self.source.effective_rules()
        self.now = now

    def needs_events(self) -> bool:
        return True

    def classify(self, profile: ProfileRecord, stats: Mapping[str, StatRecord],
                 tags: frozenset[str]) -> tuple[bool, str | None]:
        event_stats = _stats(stats)
        windowed = {name: [ts for ts, _ in events_repo.events_of(profile.workspace_id, profile.user_id, name,
                                                                  since, self.now)]
                    for name, since in aipl.window_reads(event_stats, self.rules, self.now).items()}
        stage = aipl.stage_of(aipl.AiplFacts(event_stats, windowed), self.rules, self.now)
        return aipl.selects(self.source, stage), stage

    def select(self, profile: ProfileRecord, stats: Mapping[str, StatRecord], tags: frozenset[str]) -> bool:
        return self.classify(profile, stats, tags)[0]


builder.register("rules", RulesSelector)
builder.register("rfm", RfmSelector, groups=rfm.SEGMENTS, first_pass=rfm_build.FIRST_PASS)
builder.register("aipl", AiplSelector, groups=aipl.STAGES)
