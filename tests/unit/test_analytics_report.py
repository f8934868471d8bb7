"""Analytics' pure parts: hourly counter keys, regrouping hours into local days, rates,
conversion windows, and the AWS cost figures against bench/prices.json."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from chalicelib.analytics import aws_cost, conversions, report
from chalicelib.counters import repo
from chalicelib.counters.repo import Bucket
from chalicelib.receipts import apply
from chalicelib.receipts.apply import Incoming, Stored

ROOT = Path(__file__).resolve().parents[2]
UTC = timezone.utc


def hour(day: int, h: int) -> datetime:
    return datetime(2026, 11, day, h, tzinfo=UTC)


def test_the_aws_cost_prices_are_bench_prices_json_s():
    prices = json.loads((ROOT / "bench" / "prices.json").read_text())

    assert aws_cost.PRICES == {
        "dynamodb_write_request_units_per_million": prices["dynamodb_on_demand"]["write_request_units_per_million"],
        "dynamodb_read_request_units_per_million": prices["dynamodb_on_demand"]["read_request_units_per_million"],
        "sqs_requests_per_million": prices["sqs_standard"]["requests_per_million"],
        "lambda_requests_per_million": prices["lambda"]["requests_per_million"],
        "lambda_gb_second": prices["lambda"]["gb_second"],
        "api_gateway_requests_per_million": prices["api_gateway_rest"]["requests_per_million"],
    }
    assert prices["assumed_as_of"] in aws_cost.SOURCE


def test_a_counter_goes_to_its_utc_hour_and_a_journey_node_to_its_journeys_partition():
    at = datetime(2026, 11, 27, 7, 30, tzinfo=ZoneInfo("Asia/Shanghai"))

    assert repo.counter_pk("ws1", "task#t1") == "ws1#counters#task#t1"
    assert repo.counter_sk("task#t1", at, 3) == "2026-11-26T23#3"
    assert repo.counter_pk("ws1", "journey#j1#node#n#2") == "ws1#counters#journey#j1"
    assert repo.counter_sk("journey#j1#node#n#2", at, 0) == "2026-11-26T23#node#n#2#0"


def test_one_transaction_holds_at_most_100_items_counting_an_update_per_owner_and_hour():
    def update(i: int, owner: str, at: datetime) -> repo.CountedUpdate:
        return repo.CountedUpdate(None, [], None, "ws1", (owner, "campaign#c"), {"sent": 1}, at)

    same_hour = [update(i, "task#t", hour(26, 9)) for i in range(150)]
    many_owners = [update(i, f"task#t{i}", hour(26, 9)) for i in range(60)]

    assert [len(p) for p in repo.parts(same_hour)] == [98, 52]  # 98 messages + 2 counter updates
    assert all(len(p) + len({o for i in p for o in many_owners[i].owners}) <= 100 for p in repo.parts(many_owners))
    assert sum(len(p) for p in repo.parts(many_owners)) == 60


def test_hours_regroup_into_local_days_zeros_between_and_an_hour_belongs_to_the_day_it_starts_in():
    buckets = [Bucket(hour(26, 15), None, {"sent": 1}), Bucket(hour(26, 16), None, {"sent": 2}),
               Bucket(hour(28, 18), None, {"delivered": 1}), Bucket(None, None, {"sent": 5})]

    shanghai = report.daily(buckets, ZoneInfo("Asia/Shanghai"))
    kolkata = report.daily(buckets, ZoneInfo("Asia/Kolkata"))  # +05:30: 18:00 UTC starts at 23:30 local

    assert [(d["date"], d["sent"], d["delivered"]) for d in shanghai] == [
        ("2026-11-26", 1, 0), ("2026-11-27", 2, 0), ("2026-11-28", 0, 0), ("2026-11-29", 0, 1)]
    assert [(d["date"], d["sent"], d["delivered"]) for d in kolkata] == [
        ("2026-11-26", 3, 0), ("2026-11-27", 0, 0), ("2026-11-28", 0, 1)]
    assert report.summary(buckets, ZoneInfo("UTC"))["sent"] == 8  # an item from before hourly buckets: totals only


def test_a_period_is_the_local_days_from_midnight_to_midnight_and_caps_the_series():
    start, end = report.period(date(2026, 11, 27), date(2026, 11, 27), ZoneInfo("Asia/Shanghai"))

    assert (start, end) == (hour(26, 16), hour(27, 16))
    assert len(report.daily([], ZoneInfo("UTC"), date(2020, 1, 1), date(2026, 1, 1))) == report.MAX_DAYS


def test_rates_are_null_when_their_denominator_is_zero():
    assert report.rates({"sent": 4, "delivered": 2, "opened": 1, "unique_clicks": 2}) == {
        "delivery_rate": 0.5, "open_rate": 0.5, "click_rate": 1.0}
    assert report.rates({"sent": 0, "delivered": 0}) == {"delivery_rate": None, "open_rate": None, "click_rate": None}


def test_a_users_overlapping_windows_merge_so_they_convert_once_and_windows_stop_at_now():
    now = hour(30, 0)
    sent = [("u1", "2026-11-26T09:00:00.000Z"), ("u1", "2026-11-27T09:00:00.000Z"), ("u2", "2026-11-29T12:00:00.000Z")]

    found = conversions.windows(sent, timedelta(days=2), now)

    assert [(w.user_id, w.start, w.end) for w in found] == [
        ("u1", "2026-11-26T09:00:00.000Z", "2026-11-29T09:00:00.000Z"),
        ("u2", "2026-11-29T12:00:00.000Z", "2026-11-30T00:00:00.000Z")]


def test_a_receipts_counts_go_to_the_time_of_the_latest_receipt_that_counted_something():
    stored = Stored("pk", "sk", "ws1", "u1", "sms", "sent", 1, counted=frozenset({"targeted", "sent"}))

    outcome = apply.apply(stored, [Incoming("delivered", "2026-11-26T09:00:05Z"),
                                   Incoming("delivered", "2026-11-26T11:00:00Z"),  # a duplicate counts nothing
                                   Incoming("opened", "2026-11-26T10:00:00Z")])

    assert outcome.change is not None and outcome.change.counted_at == "2026-11-26T10:00:00Z"
