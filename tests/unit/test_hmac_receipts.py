"""Signed JSON receipts: HMAC over "<timestamp>.<body>", a 300-second window both ways."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.providers.base import CallbackRejected
from chalicelib.receipts.hmac_receipts import sign_receipt_body, signed_headers, verify_receipt_signature

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def test_a_signature_made_with_the_secret_within_the_window_verifies():
    verify_receipt_signature("s", lower(signed_headers("s", b"{}", NOW - timedelta(seconds=300))), b"{}", NOW)


def test_a_rotating_secret_may_send_two_signatures():
    ts = int(NOW.timestamp())
    both = f"v1={'0' * 64}, {sign_receipt_body('new', ts, b'{}')}"
    verify_receipt_signature("new", {"x-ma-timestamp": str(ts), "x-ma-signature": both}, b"{}", NOW)


@pytest.mark.parametrize("headers, why", [
    ({}, "not signed"),
    ({"x-ma-timestamp": "soon", "x-ma-signature": "v1=00"}, "Unix time"),
    ({"x-ma-timestamp": str(int(NOW.timestamp()) - 301), "x-ma-signature": "v1=00"}, "300 seconds"),
    ({"x-ma-timestamp": str(int(NOW.timestamp()) + 301), "x-ma-signature": "v1=00"}, "300 seconds"),
    ({"x-ma-timestamp": str(int(NOW.timestamp())), "x-ma-signature": "v1=00"}, "does not match"),
    ({"x-ma-timestamp": str(int(NOW.timestamp())),
      "x-ma-signature": sign_receipt_body("s", int(NOW.timestamp()), b"{}").replace("v1=", "v0=")}, "does not match"),
])
def test_unsigned_stale_future_or_wrong_signatures_are_rejected_in_words(headers, why):
    with pytest.raises(CallbackRejected, match=why):
        verify_receipt_signature("s", headers, b"{}", NOW)
