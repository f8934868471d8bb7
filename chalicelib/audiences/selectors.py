"""The selectors the builder uses per source type (``builder.register``).

``rules``: the rule decides from the profile alone when it can (``evaluate_partial``);
only for users still undecided are their events of the names the rule needs read, from
the earliest time that can count (one Query per name), and ``matches`` decides.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from chalicelib import clock
from chalicelib.audiences import builder, rules
from chalicelib.audiences.schemas import parse_source
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


builder.register("rules", RulesSelector)
