"""RFM on real data: the CDNOW sample (2,357 customers, 6,919 purchases, 1997-01 to 1998-06)
that the lifetimes package ships, loaded as purchase events and folded into the same
aggregates the events handler keeps. Every customer's R, F and M, and every segment's size
(with thresholds and with quintile scores), equal an independent computation written here
in plain Python from the file's text."""
from __future__ import annotations

import importlib.util
import pathlib
from bisect import bisect_left
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from chalicelib.audiences import rfm
from chalicelib.events.aggregates import Stat, fold


def _sample_path() -> pathlib.Path:
    spec = importlib.util.find_spec("lifetimes")
    assert spec is not None and spec.submodule_search_locations
    return pathlib.Path(spec.submodule_search_locations[0]) / "datasets" / "CDNOW_sample.txt"


Row = tuple[str, date, int, str]  # customer, day, quantity, amount as written


def _rows() -> list[Row]:
    rows = []
    for line in _sample_path().read_text().splitlines():
        if line.strip():
            customer, _, day, quantity, amount = line.split()
            rows.append((customer, date(int(day[:4]), int(day[4:6]), int(day[6:])), int(quantity), amount))
    return rows


ROWS = _rows()
AS_OF_DAY = max(day for _, day, _, _ in ROWS) + timedelta(days=1)
AS_OF = datetime(AS_OF_DAY.year, AS_OF_DAY.month, AS_OF_DAY.day, tzinfo=timezone.utc)
THRESHOLDS = {"recency_days": 90, "frequency": 3, "monetary": 100}


def _stats() -> dict[str, Stat]:
    """The events handler's aggregates: one purchase event per line, at midnight UTC."""
    events: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for customer, day, quantity, amount in ROWS:
        events[customer].append((f"{day.isoformat()}T00:00:00.000Z", {"amount": float(amount), "quantity": quantity}))
    stats = {}
    for customer, evs in events.items():
        stat = fold(None, evs)
        assert stat is not None
        stats[customer] = stat
    return stats


STATS = _stats()


# --- the independent computation ---------------------------------------------------------

def _expected_facts(monetary: str) -> dict[str, tuple[int, int, float]]:
    last: dict[str, date] = {}
    count: Counter[str] = Counter()
    total: dict[str, Decimal] = defaultdict(Decimal)
    for customer, day, _, amount in ROWS:
        last[customer] = max(last.get(customer, day), day)
        count[customer] += 1
        total[customer] += Decimal(amount)
    return {
        c: ((AS_OF_DAY - last[c]).days, count[c],
            float(total[c]) if monetary == "total" else float(total[c]) / count[c])
        for c in last
    }


NAMES = {  # (R high, F high, M high)
    (1, 1, 1): "important_value", (1, 0, 1): "important_development", (0, 1, 1): "important_retention",
    (0, 0, 1): "important_recovery", (1, 1, 0): "general_value", (1, 0, 0): "general_development",
    (0, 1, 0): "general_retention", (0, 0, 0): "general_recovery",
}


def _expected_threshold_segments(facts: dict[str, tuple[int, int, float]]) -> Counter[str]:
    out: Counter[str] = Counter()
    for r, f, m in facts.values():
        key = (int(r <= THRESHOLDS["recency_days"]), int(f >= THRESHOLDS["frequency"]), int(m >= THRESHOLDS["monetary"]))
        out[NAMES[key]] += 1
    return out


def _expected_scores(facts: dict[str, tuple[int, int, float]]) -> dict[str, tuple[int, int, int]]:
    """Score = 1 + floor(5 * (customers strictly worse) / N); fewer days is better."""
    n = len(facts)
    neg_recency = sorted(-r for r, _, _ in facts.values())
    frequency = sorted(f for _, f, _ in facts.values())
    monetary = sorted(m for _, _, m in facts.values())
    return {
        c: (1 + 5 * bisect_left(neg_recency, -r) // n, 1 + 5 * bisect_left(frequency, f) // n,
            1 + 5 * bisect_left(monetary, m) // n)
        for c, (r, f, m) in facts.items()
    }


# --- the checks -------------------------------------------------------------------------

def test_the_sample_is_the_one_we_expect() -> None:
    assert len(ROWS) == 6919 and len(STATS) == 2357
    assert AS_OF_DAY == date(1998, 7, 1)


@pytest.mark.parametrize("monetary", ["total", "average"])
def test_each_customers_recency_frequency_and_monetary_value_match(monetary: str) -> None:
    expected = _expected_facts(monetary)
    got = {c: rfm.facts_of(stat, "amount", monetary, AS_OF) for c, stat in STATS.items()}  # type: ignore[arg-type]
    assert {c: (f.recency_days, f.frequency, f.monetary) for c, f in got.items() if f is not None} == expected


@pytest.mark.parametrize("monetary", ["total", "average"])
def test_segment_sizes_with_thresholds_match(monetary: str) -> None:
    source = rfm.RfmSource.model_validate({"type": "rfm", "purchase_event": "purchase", "amount_property": "amount",
                                           "monetary": monetary, "as_of": AS_OF.isoformat(),
                                           "thresholds": THRESHOLDS, "segments": ["important_value"]})
    segments = []
    for stat in STATS.values():
        facts = rfm.source_facts(source, {"purchase": stat}, now=datetime(2030, 1, 1, tzinfo=timezone.utc))
        assert facts is not None
        segments.append(rfm.assess(facts, source, None).segment)
    expected = _expected_threshold_segments(_expected_facts(monetary))
    assert rfm.segment_distribution(segments) == {name: expected[name] for name in rfm.SEGMENTS}
    assert sum(1 for s in segments if s == "important_value") == expected["important_value"] > 0


@pytest.mark.parametrize("monetary", ["total", "average"])
def test_quintile_scores_and_segment_sizes_match(monetary: str) -> None:
    source = rfm.RfmSource.model_validate({"type": "rfm", "purchase_event": "purchase", "amount_property": "amount",
                                           "monetary": monetary, "segments": list(rfm.SEGMENTS)})
    facts = {c: rfm.source_facts(source, {"purchase": stat}, now=AS_OF) for c, stat in STATS.items()}
    # Pass 1 in three "parallel segments", merged; pass 2 against the merged cut points.
    customers = sorted(facts)
    parts = [rfm.collect(facts[c] for c in customers[i::3]) for i in range(3)]
    cuts = rfm.Cutpoints.from_json(rfm.cutpoints(parts[0].merge(parts[1]).merge(parts[2])).to_json())
    assessed = {c: rfm.assess(f, source, cuts) for c, f in facts.items() if f is not None}

    expected_scores = _expected_scores(_expected_facts(monetary))
    got_scores = {c: (a.scores.r, a.scores.f, a.scores.m) for c, a in assessed.items() if a.scores is not None}
    assert got_scores == expected_scores
    expected_sizes = Counter(NAMES[(int(r >= 3), int(f >= 3), int(m >= 3))] for r, f, m in expected_scores.values())
    assert rfm.segment_distribution(a.segment for a in assessed.values()) == {
        name: expected_sizes[name] for name in rfm.SEGMENTS}


def test_a_score_range_audience_matches_the_independent_count() -> None:
    source = rfm.RfmSource.model_validate({"type": "rfm", "purchase_event": "purchase", "amount_property": "amount",
                                           "as_of": AS_OF.isoformat(), "scores": {"r": [4, 5], "m": [3, 5]}})
    facts = [rfm.source_facts(source, {"purchase": s}, now=AS_OF) for s in STATS.values()]
    cuts = rfm.cutpoints(rfm.collect(facts))
    chosen = sum(1 for f in facts if f is not None and rfm.selects(source, rfm.assess(f, source, cuts)))
    expected = sum(1 for r, _, m in _expected_scores(_expected_facts("total")).values() if r >= 4 and m >= 3)
    assert chosen == expected > 0
