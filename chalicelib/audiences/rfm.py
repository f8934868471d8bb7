"""The RFM model: recency, frequency and monetary value from a purchase event, the eight
segments, and the selection an RFM audience makes. Pure functions; a builder reads the
profiles' ``event_stats`` in bulk and calls them.

Facts, per user who purchased at least once (``facts_of``):
* recency_days: whole days from the last purchase to ``as_of`` (elapsed time floored to
  days; 0 when the last purchase is on or after ``as_of``).
* frequency: the number of purchase events (the aggregate's count).
* monetary: the sum of ``amount_property`` over those purchases (``total``), or that sum
  divided by the number of purchases (``average``; a purchase without the property counts
  as 0). Sums come from the aggregate, which sums the first 20 numeric property names of
  an event name: an amount property past those is not summed and counts as 0.
A user without a purchase has no facts, no segment, and is in no RFM audience. Purchases
after ``as_of`` are still counted (the aggregate holds all of them): ``as_of`` sets the
day recency is measured to, not a cut-off of the history.

High or low, per dimension:
* with ``thresholds``: R is high when recency_days <= thresholds.recency_days, F when
  frequency >= thresholds.frequency, M when monetary >= thresholds.monetary.
* without: each dimension is scored 1-5 over the users who purchased, and high means a
  score >= 3.

Quintile scores (exact, deterministic, ties included): among the N users who purchased, a
user's score on a dimension is ``1 + floor(5 * worse / N)`` where ``worse`` is the number
of users with a strictly worse value (a lower frequency or monetary value; a larger
recency_days). So equal values always get equal scores, a better value never gets a lower
score, the best value gets 5 only if at least 80% of users are strictly worse, and when
every user has the same value they all score 1 (nobody stands out). High (>= 3) means at
least 40% of purchasers are strictly worse.

Two passes, so a parallel builder computes the cut points once: pass 1 adds every user's
facts to an ``RfmValues`` (counts of each distinct value, per dimension; values from
parallel segments merge exactly with ``merge``), ``cutpoints`` turns them into four
boundaries per dimension ("score >= k when frequency >= c"), which are small and JSON
(``Cutpoints.to_json``); pass 2 scores each user with ``scores`` against them. A score
from the cut points equals the definition above for every value that was collected.

Memory: ``RfmValues`` holds one counter entry per distinct value, not per user. Recency
in whole days has at most a few thousand distinct values (days of history), frequency a
few hundred; monetary is the only one that can approach one distinct value per user: a
million distinct floats in a dict take about 100 MB (in a list of floats, about 32 MB;
in ``array('d')``, 8 MB). Three honest ways out for monetary when that is too much:
round amounts to cents before counting (totals of prices cluster heavily), or collect
monetary from a deterministic sample of users (e.g. those whose crc32(user_id) % 16 == 0:
with n sampled values a cut point's rank is off by about sqrt(n)/n, under 0.3% for
62,500 of a million), saying that the scores are sampled; or a second scan that counts
only the values near each approximate cut point.
"""
from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from chalicelib import clock
from chalicelib.events.aggregates import Stat
from chalicelib.events.schemas import EVENT_NAME
from chalicelib.schemas import JsonFloat, JsonInt, Request, refuse

Segment = Literal[
    "important_value", "important_development", "important_retention", "important_recovery",
    "general_value", "general_development", "general_retention", "general_recovery",
]
SEGMENTS: tuple[Segment, ...] = (
    "important_value", "important_development", "important_retention", "important_recovery",
    "general_value", "general_development", "general_retention", "general_recovery",
)
# (R high, F high, M high) -> segment, as API.md names them.
_SEGMENT_OF: dict[tuple[bool, bool, bool], Segment] = {
    (True, True, True): "important_value",
    (True, False, True): "important_development",
    (False, True, True): "important_retention",
    (False, False, True): "important_recovery",
    (True, True, False): "general_value",
    (True, False, False): "general_development",
    (False, True, False): "general_retention",
    (False, False, False): "general_recovery",
}
HIGH_SCORE = 3
SECONDS_PER_DAY = 86_400


# --- the source -------------------------------------------------------------------------

class Thresholds(Request):
    recency_days: JsonInt = Field(ge=0, le=36_500, description="R is high when the last purchase is at most this many days ago")
    frequency: JsonInt = Field(ge=1, description="F is high with at least this many purchases")
    monetary: JsonFloat = Field(ge=0, description="M is high when the total or average amount is at least this")


ScoreRange = list[JsonInt]


class ScoreRanges(Request):
    """Inclusive [lo, hi] score ranges, 1-5; a user is selected when every given range holds."""

    r: ScoreRange | None = None
    f: ScoreRange | None = None
    m: ScoreRange | None = None

    @model_validator(mode="after")
    def _ranges(self) -> ScoreRanges:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for name in ("r", "f", "m"):
            bounds = getattr(self, name)
            if bounds is None:
                continue
            if len(bounds) != 2:
                problems.append(((name,), "a score range is a list of two scores, [lo, hi]"))
                continue
            lo, hi = bounds
            if not (1 <= lo <= 5 and 1 <= hi <= 5):
                problems.append(((name,), "scores run from 1 to 5: give [lo, hi] with 1 <= lo <= hi <= 5"))
            elif lo > hi:
                problems.append(((name,), f"the range is empty: lo ({lo}) is greater than hi ({hi})"))
        if self.r is None and self.f is None and self.m is None:
            problems.append(((), "give at least one of r, f, m as a [lo, hi] range of scores"))
        if problems:
            refuse(problems)
        return self


class RfmSource(Request):
    """``{"type": "rfm", ...}``: an audience of RFM segments, or of score ranges."""

    type: Literal["rfm"]
    purchase_event: str = Field(pattern=EVENT_NAME, description="the event name that is a purchase")
    amount_property: str = Field(min_length=1, max_length=255, description="the numeric property holding the amount")
    monetary: Literal["total", "average"] = "total"
    as_of: str | None = Field(None, description="ISO-8601 time recency is measured to; the build time when absent")
    thresholds: Thresholds | None = None
    segments: list[Segment] | None = Field(None, min_length=1, description="select users in any of these segments")
    scores: ScoreRanges | None = Field(None, description="select users by quintile scores (only without thresholds)")

    @field_validator("as_of")
    @classmethod
    def _as_of(cls, value: str | None) -> str | None:
        if value is not None:
            clock.parse_iso(value)  # BadTime is a ValueError in words
        return value

    @model_validator(mode="after")
    def _selection(self) -> RfmSource:
        if self.segments is None and self.scores is None:
            refuse([(("segments",), "select segments, or score ranges with scores: {r, f, m}")])
        if self.segments is not None and self.scores is not None:
            refuse([(("scores",), "select either segments or score ranges, not both")])
        if self.scores is not None and self.thresholds is not None:
            refuse([(("scores",), "score ranges need quintile scores, which are not computed when thresholds "
                                  "are given: remove thresholds or select segments")])
        return self

    def as_of_time(self, now: datetime) -> datetime:
        return clock.parse_iso(self.as_of) if self.as_of is not None else now


# --- facts ------------------------------------------------------------------------------

@dataclass(frozen=True)
class RfmFacts:
    recency_days: int
    frequency: int
    monetary: float


def facts_of(stat: Stat | None, amount_property: str, monetary: Literal["total", "average"],
             as_of: datetime) -> RfmFacts | None:
    """One user's facts from their purchase-event aggregate; None when they never purchased."""
    if stat is None or stat.count <= 0:
        return None
    elapsed = (as_of - clock.parse_iso(stat.last_at)).total_seconds()
    recency = max(0, math.floor(elapsed / SECONDS_PER_DAY))
    total = float(stat.sums.get(amount_property, 0))
    value = total if monetary == "total" else total / stat.count
    return RfmFacts(recency_days=recency, frequency=stat.count, monetary=value)


def source_facts(source: RfmSource, event_stats: Mapping[str, Stat], now: datetime) -> RfmFacts | None:
    """One user's facts for a source, from the profile's aggregates by event name."""
    return facts_of(event_stats.get(source.purchase_event), source.amount_property, source.monetary,
                    source.as_of_time(now))


# --- quintile scores: two passes ----------------------------------------------------------

@dataclass
class RfmValues:
    """Pass 1: how many purchasers have each value, per dimension. Mergeable."""

    recency: Counter[int] = field(default_factory=Counter)
    frequency: Counter[int] = field(default_factory=Counter)
    monetary: Counter[float] = field(default_factory=Counter)

    def add(self, facts: RfmFacts) -> None:
        self.recency[facts.recency_days] += 1
        self.frequency[facts.frequency] += 1
        self.monetary[facts.monetary] += 1

    def merge(self, other: RfmValues) -> RfmValues:
        return RfmValues(self.recency + other.recency, self.frequency + other.frequency,
                         self.monetary + other.monetary)

    @property
    def users(self) -> int:
        return sum(self.frequency.values())


def collect(all_facts: Iterable[RfmFacts | None]) -> RfmValues:
    values = RfmValues()
    for facts in all_facts:
        if facts is not None:
            values.add(facts)
    return values


Bounds = tuple[float | None, float | None, float | None, float | None]


@dataclass(frozen=True)
class Cutpoints:
    """Pass 2's input. ``frequency[k-2]`` is the least frequency that scores >= k (None: no
    collected value does); likewise monetary; ``recency[k-2]`` is the most days that score
    >= k."""

    users: int
    recency: Bounds
    frequency: Bounds
    monetary: Bounds

    def to_json(self) -> dict[str, Any]:
        return {"users": self.users, "recency": list(self.recency), "frequency": list(self.frequency),
                "monetary": list(self.monetary)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Cutpoints:
        def bounds(key: str) -> Bounds:
            a, b, c, d = data[key]
            return (a, b, c, d)
        return cls(int(data["users"]), bounds("recency"), bounds("frequency"), bounds("monetary"))


def _lower_bounds(counts: Mapping[Any, int]) -> Bounds:
    """For a dimension where larger is better: for k = 2..5 the least value v with
    5 * #{values < v} >= (k - 1) * N, or None."""
    n = sum(counts.values())
    distinct = sorted(counts)
    found: list[float | None] = []
    for k in range(2, 6):
        below, cut = 0, None
        for value in distinct:
            if 5 * below >= (k - 1) * n:
                cut = value
                break
            below += counts[value]
        found.append(cut)
    return (found[0], found[1], found[2], found[3])


def cutpoints(values: RfmValues) -> Cutpoints:
    """The four score boundaries per dimension, from every purchaser's values (pass 1)."""
    negated = Counter({-days: count for days, count in values.recency.items()})
    recency = tuple(None if c is None else -c for c in _lower_bounds(negated))
    return Cutpoints(
        users=values.users,
        recency=(recency[0], recency[1], recency[2], recency[3]),
        frequency=_lower_bounds(values.frequency),
        monetary=_lower_bounds(values.monetary),
    )


@dataclass(frozen=True)
class Scores:
    r: int
    f: int
    m: int


def _score_at_least(value: float, bounds: Bounds) -> int:
    return 1 + sum(1 for c in bounds if c is not None and value >= c)


def scores(facts: RfmFacts, cuts: Cutpoints) -> Scores:
    """Pass 2: one user's 1-5 scores against the cut points."""
    return Scores(
        r=1 + sum(1 for c in cuts.recency if c is not None and facts.recency_days <= c),
        f=_score_at_least(facts.frequency, cuts.frequency),
        m=_score_at_least(facts.monetary, cuts.monetary),
    )


def quintile_score(all_values: Iterable[float], value: float, *, lower_is_better: bool = False) -> int:
    """The definition, for one value among all (O(N log N); for tests and small sets)."""
    ordered = sorted(-v for v in all_values) if lower_is_better else sorted(all_values)
    target = -value if lower_is_better else value
    worse = bisect.bisect_left(ordered, target)
    return 1 + (5 * worse) // len(ordered) if ordered else 1


# --- segments and selection ------------------------------------------------------------

@dataclass(frozen=True)
class Levels:
    r: bool
    f: bool
    m: bool


def levels_by_thresholds(facts: RfmFacts, thresholds: Thresholds) -> Levels:
    return Levels(
        r=facts.recency_days <= thresholds.recency_days,
        f=facts.frequency >= thresholds.frequency,
        m=facts.monetary >= thresholds.monetary,
    )


def levels_by_scores(s: Scores) -> Levels:
    return Levels(r=s.r >= HIGH_SCORE, f=s.f >= HIGH_SCORE, m=s.m >= HIGH_SCORE)


def segment_of(levels: Levels) -> Segment:
    return _SEGMENT_OF[(levels.r, levels.f, levels.m)]


@dataclass(frozen=True)
class Assessment:
    facts: RfmFacts
    segment: Segment
    scores: Scores | None  # None when thresholds decide


def assess(facts: RfmFacts, source: RfmSource, cuts: Cutpoints | None) -> Assessment:
    """A purchaser's segment (and scores, without thresholds). ``cuts`` is required
    exactly when the source has no thresholds."""
    if source.thresholds is not None:
        return Assessment(facts, segment_of(levels_by_thresholds(facts, source.thresholds)), None)
    if cuts is None:
        raise ValueError("an RFM source without thresholds is scored against cut points (pass 1)")
    s = scores(facts, cuts)
    return Assessment(facts, segment_of(levels_by_scores(s)), s)


def needs_cutpoints(source: RfmSource) -> bool:
    return source.thresholds is None


def _in_range(score: int, bounds: list[int] | None) -> bool:
    return bounds is None or bounds[0] <= score <= bounds[1]


def selects(source: RfmSource, assessment: Assessment) -> bool:
    """Whether the audience of ``source`` includes this purchaser."""
    if source.segments is not None:
        return assessment.segment in source.segments
    ranges, s = source.scores, assessment.scores
    if ranges is None or s is None:
        return False
    return _in_range(s.r, ranges.r) and _in_range(s.f, ranges.f) and _in_range(s.m, ranges.m)


def segment_distribution(segments: Iterable[Segment | None]) -> dict[str, int]:
    """Users per segment, all eight named (0 when empty); None (no purchase) is not counted."""
    counts: dict[str, int] = dict.fromkeys(SEGMENTS, 0)
    for segment in segments:
        if segment is not None:
            counts[segment] += 1
    return counts
