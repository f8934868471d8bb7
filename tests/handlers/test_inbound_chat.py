"""Inbound chat messages find their sender's profile by the channel's address (WeChat
openid, WhatsApp number, Viber id: sparse keys-only indexes) and open the channel's
customer-service window for that address."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from chalicelib.providers import chat
from chalicelib.providers.base import Outgoing
from chalicelib.receipts.queue import InboundMessages, QueuedInbound, enqueue
from chalicelib.sending import repo_service_window

AT = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)


def _inbound(workspace_id: str, channel: str, address: str, mid: str) -> InboundMessages:
    return InboundMessages(workspace_id=workspace_id, provider="chat", messages=[QueuedInbound(
        channel=channel, address=address, at="2026-11-26T09:00:00.000Z", text=f"hello {mid}", provider_message_id=mid)])


def _received(api, workspace, user: str) -> list[str]:
    events = api.get(f"/v1/profiles/{user}/events", key=workspace.admin_key).json["items"]
    return [e["properties"]["text"] for e in events if e["name"] == "message_received"]


def test_wechat_whatsapp_and_viber_messages_land_on_the_profile_holding_that_address(api, app, workspace, drain):
    admin = workspace.admin_key
    api.put("/v1/profiles/wei", {"wechat_openid": "oABC123"}, key=admin)
    api.put("/v1/profiles/wan", {"phone": "+8613800000001", "whatsapp": "+8613800000002"}, key=admin)
    api.put("/v1/profiles/vic", {"viber": "01234567890A="}, key=admin)

    enqueue([_inbound(workspace.id, "wechat", "oABC123", "w1"),
             _inbound(workspace.id, "whatsapp", "8613800000002", "wa1"),  # WhatsApp sends digits without '+'
             _inbound(workspace.id, "viber", "01234567890A=", "v1")])
    drain()

    assert _received(api, workspace, "wei") == ["hello w1"]
    assert _received(api, workspace, "wan") == ["hello wa1"]
    assert _received(api, workspace, "vic") == ["hello v1"]


def test_an_inbound_message_opens_the_window_for_the_address_the_sender_sends_to(api, app, workspace, drain):
    api.put("/v1/profiles/wan", {"whatsapp": "+8613800000002"}, key=workspace.admin_key)
    reply = Outgoing(workspace_id=workspace.id, message_key="k", idempotency_key="i", user_id="wan",
                     channel="whatsapp", to="+8613800000002", content={"text": "hi"})
    assert chat.outside_window([reply], "whatsapp", AT)  # closed before the user writes

    enqueue([_inbound(workspace.id, "whatsapp", "8613800000002", "wa1"),
             _inbound(workspace.id, "wechat", "oNobody", "w9")])  # no profile: the window opens all the same
    drain()

    assert repo_service_window.open_until(workspace.id, "whatsapp", ["+8613800000002"]) == {
        "+8613800000002": AT + timedelta(hours=24)}
    assert repo_service_window.open_until(workspace.id, "wechat", ["oNobody"]) == {"oNobody": AT + timedelta(hours=48)}
    assert chat.outside_window([reply], "whatsapp", AT + timedelta(hours=23)) == {}
    assert chat.outside_window([reply], "whatsapp", AT + timedelta(hours=25))


def test_a_changed_chat_address_is_found_under_the_new_one_only(api, app, workspace, drain):
    admin = workspace.admin_key
    api.put("/v1/profiles/wei", {"wechat_openid": "oOLD"}, key=admin)
    api.put("/v1/profiles/wei", {"wechat_openid": "oNEW"}, key=admin)

    enqueue([_inbound(workspace.id, "wechat", "oOLD", "old"), _inbound(workspace.id, "wechat", "oNEW", "new")])
    drain()

    assert _received(api, workspace, "wei") == ["hello new"]
