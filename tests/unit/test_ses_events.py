"""SES event types as receipts (receipts.sns.ses_receipts), and the certificate URL rule."""
from __future__ import annotations

import pytest

from chalicelib.providers.base import CallbackMalformed
from chalicelib.receipts.sns import CertPolicy, ses_receipts
from tests.receipts_support import ses_event


@pytest.mark.parametrize("kind, detail, expected", [
    ("Delivery", {"delivery": {"timestamp": "2026-11-26T09:00:01Z"}}, ("delivered", None, None)),
    ("Open", {"open": {"timestamp": "2026-11-26T09:01:00Z"}}, ("opened", None, None)),
    ("Click", {"click": {"timestamp": "2026-11-26T09:02:00Z", "link": "https://shop.example/x"}},
     ("clicked", None, "https://shop.example/x")),
    ("Complaint", {"complaint": {"complainedRecipients": [{"emailAddress": "a@example.com"}],
                                 "complaintFeedbackType": "abuse"}}, ("complained", "a@example.com", None)),
    ("Reject", {"reject": {"reason": "Bad content"}}, ("failed", None, None)),
    ("Rendering Failure", {"failure": {"errorMessage": "missing name", "templateName": "t"}}, ("failed", None, None)),
])
def test_each_ses_event_type_becomes_its_receipt(kind, detail, expected):
    [receipt] = ses_receipts(ses_event(kind, "ses-1", **detail))
    assert (receipt.status, receipt.address, receipt.url) == expected and receipt.provider_message_id == "ses-1"


def test_events_without_a_status_change_are_ignored_and_one_without_a_message_id_is_malformed():
    assert ses_receipts(ses_event("Send", "ses-1")) == [] and ses_receipts(ses_event("DeliveryDelay", "ses-1")) == []
    with pytest.raises(CallbackMalformed):
        ses_receipts({"eventType": "Delivery", "mail": {}})


@pytest.mark.parametrize("url, allowed", [
    ("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem", True),
    ("https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem", True),
    ("http://sns.us-east-1.amazonaws.com/x.pem", False),
    ("https://sns.us-east-1.amazonaws.com.evil.example/x.pem", False),
    ("https://evil.example/sns.us-east-1.amazonaws.com/x.pem", False),
    ("https://user@sns.us-east-1.amazonaws.com/x.pem", False),
    ("https://sns.us-east-1.amazonaws.com:8443/x.pem", False),
    ("https://s3.amazonaws.com/x.pem", False),
])
def test_only_https_sns_hosts_may_serve_the_certificate(url, allowed):
    assert CertPolicy().allows(url) is allowed
