"""Alibaba Cloud SMS through the real sends handler (moto): credentials from Secrets
Manager, one SendBatchSms for the batch, and the ids receipts will look up."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

from chalicelib import aws
from chalicelib.config import settings
from chalicelib.sending import repo_messages, signature_service
from chalicelib.sending.signatures import SignatureIn
from tests.handlers.test_sender import invoke, record, stored
from tests.providers.test_aliyun_sms import CREDS, OK, signed_form


def test_a_batch_goes_out_as_one_signed_send_batch_sms_and_each_message_keeps_its_own_id(app, httpserver):
    ws = "ws_" + uuid.uuid4().hex[:12]
    aws.secretsmanager().create_secret(Name=f"marketing-automation/{settings.stage}/{ws}/providers/ali",
                                       SecretString=json.dumps(CREDS))
    now = datetime.now(timezone.utc)  # the SMS signature the account names is reviewed like any other
    signature_service.create(ws, SignatureIn(name="Shop"), now)
    signature_service.approve(ws, "Shop", None, now)
    httpserver.expect_request("/", method="POST").respond_with_json(OK)
    body = {"type": "send", "workspace_id": ws, "channel": "sms", "task_id": "tsk_1",
            "provider": {"name": "ali", "kind": "aliyun_sms",
                         "settings": {"sign_name": "Shop", "endpoint": httpserver.url_for("/")}},
            "recipients": [{"user_id": f"u{i}", "to": f"+861380000000{i}",
                            "content": {"external_id": "SMS_1", "params": {"code": str(i)}}} for i in range(3)]}

    assert invoke(app, record(body)) == {"batchItemFailures": []}

    [(request, _)] = httpserver.log
    form = signed_form(request)
    assert form["Action"] == "SendBatchSms"
    assert json.loads(form["PhoneNumberJson"]) == [f"861380000000{i}" for i in range(3)]
    for i in range(3):
        item = stored(ws, f"u{i}")
        assert item.status == "sent" and item.provider_message_id == f"9006197469364984^0:1380000000{i}"
        assert item.cost == 0.045  # Alibaba's published price, the account having set none
        assert repo_messages.find_by_provider_id(ws, "ali", item.provider_message_id) is not None
