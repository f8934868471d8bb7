"""An estimate of what AWS charges to run the send pipeline, per message: counted requests
and units per message times public list prices. Labelled as an estimate wherever shown.

The Lambda package must not read ``bench/``, so the figures live here.

* Prices: ``bench/prices.json`` (us-east-1 on-demand list prices, assumed_as_of 2026-11-23);
  ``tests/unit/test_analytics_report.py`` checks these copies still match it.
* Requests and units per message: no ``bench/results/latest.json`` with a ``scenario.send``
  run exists yet, so they are the counts measured on moto and written down in
  docs/data-model.md ("messages" and "Counters", issue 13): a message sent in provider
  batches of 10 with one task and one campaign counter owner, and one status-changing
  receipt per message posted 100 to a request. Lambda duration is assumed, not measured.
  When the send benchmark exists, replace ``SOURCE`` and the figures with its run.
"""
from __future__ import annotations

SOURCE = ("estimate: requests and units per message counted on moto (docs/data-model.md, issue 13 measurements) "
          "times bench/prices.json list prices for us-east-1 (assumed as of 2026-11-23); Lambda duration assumed")

PRICES = {  # USD, copied from bench/prices.json
    "dynamodb_write_request_units_per_million": 0.625,
    "dynamodb_read_request_units_per_million": 0.125,
    "sqs_requests_per_million": 0.40,
    "lambda_requests_per_million": 0.20,
    "lambda_gb_second": 0.0000166667,
    "api_gateway_requests_per_million": 3.50,
}

PER_MESSAGE = {
    # sender: claim 1 + outcome in a transaction 2 + by_provider_id index entry 1 + counters
    # 0.4 (two owners' shards, 2 WRU each, per batch of 10); receipt: the message update in
    # a transaction 2 + counters 0.4
    "dynamodb_write_units": 4.4 + 2.4,
    # sender: consistent BatchGetItem 1 + admission (consent, fatigue, suppression) 1.5;
    # receipt: by_provider_id Query 0.5 + BatchGetItem 1
    "dynamodb_read_units": 2.5 + 1.5,
    # send, receive, delete of a sends page of up to 100 recipients, and of a receipts batch of 100
    "sqs_requests": 3 / 100 + 3 / 100,
    # sender invoked per 10 queue messages (1,000 recipients), receipts handler per 10 batches,
    # the receipts route per request of 100
    "lambda_requests": 1 / 1000 + 1 / 1000 + 1 / 100,
    # assumed: 1 GB for 5 ms of the sender and 1 ms of receipts per message
    "lambda_gb_seconds": 0.006,
    # the receipts route, one request of 100 receipts (SES through SNS posts one per receipt: 1.0)
    "api_gateway_requests": 1 / 100,
}


def per_message_usd() -> float:
    m, p = PER_MESSAGE, PRICES
    return (m["dynamodb_write_units"] * p["dynamodb_write_request_units_per_million"]
            + m["dynamodb_read_units"] * p["dynamodb_read_request_units_per_million"]
            + m["sqs_requests"] * p["sqs_requests_per_million"]
            + m["lambda_requests"] * p["lambda_requests_per_million"]
            + m["api_gateway_requests"] * p["api_gateway_requests_per_million"]) / 1_000_000 \
        + m["lambda_gb_seconds"] * p["lambda_gb_second"]


def estimate(messages: float) -> dict[str, object]:
    """The estimated AWS cost of ``messages`` messages through the pipeline (the decided
    ones: ``targeted``), labelled as an estimate with its source."""
    each = per_message_usd()
    return {"usd": round(messages * each, 6), "messages": int(messages),
            "per_million_messages_usd": round(each * 1_000_000, 4), "estimate": True, "source": SOURCE}
