"""Templates: per-channel content, strict and bounded Liquid rendering, review checks, review states."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.errors import Conflict, Invalid
from chalicelib.sending import content, liquid_env
from chalicelib.sending import templates as tpl
from chalicelib.sending.templates import Recipient, RenderFailed, Status

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
ALICE = Recipient(
    profile=tpl.profile_data("u1", {"first_name": "Alice", "plan": "pro"}, {"email": "a@example.com", "phone": None},
                             ["vip"]),
    event={"sku": "SKU-1", "price": 9.5},
    message={"id": "m1", "task_id": "t1"},
)


def spec(**fields):
    return content.parse({"name": "welcome", **fields})


def render(fields, recipient=ALICE, **options):
    return tpl.render(spec(**fields), recipient, **options)


def failure(fields, recipient=ALICE) -> dict[str, str]:
    with pytest.raises(RenderFailed) as failed:
        render(fields, recipient)
    return {e.field: e.message for e in failed.value.errors}


def problems(fields) -> dict[str, str]:
    return {e.field: e.message for e in tpl.check(spec(**fields))}


# every channel renders

CHANNELS = {
    "sms": ({"body": "Hi {{ profile.attributes.first_name }}, {{ event.sku }}"},
            {"body": "Hi Alice, SKU-1"}),
    "email": ({"subject": "Hi {{ profile.attributes.first_name }}", "html": "<p>{{ profile.attributes.plan }}</p>",
               "text": "{{ profile.email }}"},
              {"subject": "Hi Alice", "html": "<p>pro</p>", "text": "a@example.com"}),
    "push": ({"title": "{{ profile.attributes.first_name }}", "body": "{{ event.price }}",
              "data": {"deep_link": "app://p/{{ event.sku }}"}},
             {"title": "Alice", "body": "9.5", "data": {"deep_link": "app://p/SKU-1"}}),
    "wechat": ({"body": "{{ profile.user_id }}"}, {"body": "u1"}),
    "wechat_template": ({"external_id": "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY",
                         "data": {"thing1": "{{ profile.attributes.first_name }}", "amount2": "{{ event.price }}"},
                         "url": "https://shop.example/o/{{ message.id }}"},
                        {"external_id": "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY",
                         "data": {"thing1": "Alice", "amount2": "9.5"}, "url": "https://shop.example/o/m1"}),
    "whatsapp": ({"external_id": "order_update", "language": "en_US",
                  "params": ["{{ profile.attributes.first_name }}", "{{ event.sku }}"]},
                 {"external_id": "order_update", "language": "en_US", "params": ["Alice", "SKU-1"]}),
    "viber": ({"body": "{{ profile.attributes.first_name }}", "image_url": "https://cdn.example/i.png",
               "button": {"text": "Buy {{ event.sku }}", "url": "https://shop.example/{{ event.sku }}"}},
              {"body": "Alice", "image_url": "https://cdn.example/i.png",
               "button": {"text": "Buy SKU-1", "url": "https://shop.example/SKU-1"}}),
    "webhook": ({"body": {"user": "{{ profile.user_id }}", "items": [{"sku": "{{ event.sku }}", "qty": 1}],
                          "vip": True}},
                {"body": {"user": "u1", "items": [{"sku": "SKU-1", "qty": 1}], "vip": True}}),
}


@pytest.mark.parametrize("channel", sorted(CHANNELS))
def test_every_channel_renders_its_liquid_fields_and_keeps_the_others(channel):
    fields, expected = CHANNELS[channel]
    assert tpl.check(spec(channel=channel, **fields)) == []
    assert render({"channel": channel, **fields}) == {"channel": channel, **expected}


def test_every_channel_has_a_rendering_test():
    assert set(CHANNELS) == set(content.CHANNELS)


def test_an_email_needs_html_or_text():
    with pytest.raises(Invalid) as refused:
        spec(channel="email", subject="Hi")
    assert {e.field: e.message for e in refused.value.errors} == {"html": "an email template needs html, text or both"}


def test_an_unknown_channel_is_refused_naming_the_channels():
    with pytest.raises(Invalid) as refused:
        spec(channel="fax", body="x")
    [error] = refused.value.errors
    assert error.field == "channel" and "sms, email" in error.message


def test_fields_beyond_their_size_are_refused_by_name():
    with pytest.raises(Invalid) as refused:
        spec(channel="sms", body="x" * 2001)
    assert [e.field for e in refused.value.errors] == ["body"]
    assert "2000" in refused.value.errors[0].message


def test_a_field_error_names_the_field_inside_the_channel_template():
    with pytest.raises(Invalid) as refused:
        spec(channel="whatsapp", external_id="Order Update", language="english", params=["x"])
    assert {e.field for e in refused.value.errors} == {"external_id", "language"}


def test_a_webhook_body_dynamodb_cannot_store_is_refused_at_its_path():
    with pytest.raises(Invalid) as refused:
        spec(channel="webhook", body={"a": {"": "x"}})
    assert [e.field for e in refused.value.errors] == ["body.a[\"\"]"]


# strict variables and declared defaults

def test_a_missing_value_fails_the_message_naming_the_variable():
    assert failure({"channel": "sms", "body": "Hi\n{{ profile.attributes.nickname }}"}) == {
        "body": "the variable profile.attributes.nickname has no value for this recipient and no declared default"
                " (line 2)"}


def test_a_missing_channel_address_is_missing_not_empty():
    assert "profile.phone" in failure({"channel": "sms", "body": "{{ profile.phone }}"})["body"]


def test_a_missing_event_is_missing():
    no_event = Recipient(profile=ALICE.profile)
    assert "event" in failure({"channel": "sms", "body": "{{ event.sku }}"}, no_event)["body"]


def test_every_failing_field_is_reported_at_once():
    failed = failure({"channel": "email", "subject": "{{ profile.attributes.a }}", "text": "{{ profile.attributes.b }}"})
    assert set(failed) == {"subject", "text"}


def test_a_declared_default_fills_a_missing_value():
    fields = {"channel": "sms", "body": "Hi {{ profile.attributes.nickname }} {{ event.coupon }}",
              "variables": {"profile.attributes.nickname": "friend", "event.coupon": "WELCOME"}}
    assert render(fields)["body"] == "Hi friend WELCOME"
    assert render(fields, Recipient(profile=ALICE.profile))["body"] == "Hi friend WELCOME"


def test_a_declared_default_never_hides_a_present_value():
    fields = {"channel": "sms", "body": "{{ profile.attributes.first_name }}",
              "variables": {"profile.attributes.first_name": "friend"}}
    assert render(fields)["body"] == "Alice"


def test_a_declared_top_level_variable_takes_the_given_value_else_its_default():
    fields = {"channel": "sms", "body": "Code {{ coupon }}", "variables": {"coupon": "WELCOME"}}
    assert render(fields)["body"] == "Code WELCOME"
    given_value = Recipient(profile=ALICE.profile, values={"coupon": "VIP20"})
    assert render(fields, given_value)["body"] == "Code VIP20"


def test_the_default_filter_and_if_work_on_missing_values():
    body = "{{ profile.attributes.nickname | default: 'friend' }}{% if profile.attributes.coupon %}!{% endif %}"
    assert render({"channel": "sms", "body": body})["body"] == "friend"


def test_rendering_does_not_change_the_recipients_data():
    recipient = Recipient(profile={"user_id": "u1", "attributes": {}})
    render({"channel": "sms", "body": "{{ profile.attributes.x }}", "variables": {"profile.attributes.x": "d"}},
           recipient)
    assert recipient.profile == {"user_id": "u1", "attributes": {}}


# Liquid injection and escaping

def test_liquid_in_profile_data_is_text_never_evaluated():
    mallory = Recipient(profile=tpl.profile_data("u2", {"first_name": "{{ 7*7 }}{% for i in (1..9) %}x{% endfor %}"},
                                                 {}, []))
    assert render({"channel": "sms", "body": "Hi {{ profile.attributes.first_name }}"}, mallory)["body"] == \
        "Hi {{ 7*7 }}{% for i in (1..9) %}x{% endfor %}"


def test_profile_values_are_escaped_in_html_email_but_not_in_text():
    mallory = Recipient(profile=tpl.profile_data("u2", {"first_name": "<script>x</script>"}, {}, []))
    rendered = render({"channel": "email", "subject": "{{ profile.attributes.first_name }}",
                       "html": "<p>{{ profile.attributes.first_name }}</p>",
                       "text": "{{ profile.attributes.first_name }}"}, mallory)
    assert rendered["html"] == "<p>&lt;script&gt;x&lt;/script&gt;</p>"
    assert rendered["text"] == rendered["subject"] == "<script>x</script>"


# bounded rendering

def test_a_loop_over_a_huge_range_fails_fast_with_a_reason():
    failed = failure({"channel": "sms", "body": "{% for i in (1..1000000000) %}x{% endfor %}"})
    assert failed == {"body": f"loops run more than {liquid_env.MAX_LOOP_ITERATIONS} iterations"}


def test_loops_one_after_another_share_the_iteration_bound():
    loop = "{% for i in (1..600) %}{% endfor %}"
    assert render({"channel": "sms", "body": loop + "ok"})["body"] == "ok"
    assert "loops run more than" in failure({"channel": "sms", "body": loop + loop})["body"]


def test_a_huge_output_fails_with_a_reason():
    body = "{% for i in (1..1000) %}" + "x" * 1_000 + "{% endfor %}"
    assert failure({"channel": "sms", "body": body}) == {
        "body": f"the result is longer than {liquid_env.MAX_OUTPUT_BYTES} bytes"}


def test_a_string_doubled_in_a_loop_fails_before_it_grows_large():
    body = "{% assign s = 'xxxxxxxxxx' %}{% for i in (1..60) %}{% assign s = s | append: s %}{% endfor %}{{ s.size }}"
    assert "characters is beyond the limit" in failure({"channel": "sms", "body": body})["body"]


def test_a_replace_that_would_square_its_input_is_refused_before_it_runs():
    body = ("{% assign s = 'xxxxxxxxxxxxxxxxxxxx' %}{% for i in (1..12) %}{% assign s = s | append: s %}{% endfor %}"
            "{{ s | replace: '', s }}")
    assert "replace would produce more than" in failure({"channel": "sms", "body": body})["body"]


def test_chained_escapes_cannot_multiply_a_value_without_bound():
    body = ("{% assign s = '&&&&&&&&&&' %}{% for i in (1..14) %}{% assign s = s | append: s %}{% endfor %}"
            "{{ s | escape | escape | escape | escape | escape | escape | escape | escape }}")
    assert "beyond the limit" in failure({"channel": "sms", "body": body})["body"]


@pytest.mark.parametrize("body, reason", [
    ("{{ profile.attributes.list | sum }}", "sum cannot take this value (line 1)"),
    ("{{ profile.attributes.huge | plus: profile.attributes.huge | floor }}", "floor cannot take this value (line 1)"),
    ("{{ 1 | divided_by: 0 }}", "divided_by: can't divide by 0 (line 1)"),
])
def test_a_filter_that_cannot_take_its_value_fails_the_message_in_words(body, reason):
    odd = Recipient(profile=tpl.profile_data("u3", {"list": [1, "a"], "huge": 1e308}, {}, []))
    assert failure({"channel": "sms", "body": body}, odd) == {"body": reason}


def test_numbers_cannot_grow_without_bound():
    body = "{% assign x = 99999999 %}{% for i in (1..12) %}{% assign x = x | times: x %}{% endfor %}{{ x }}"
    assert "bits is beyond the limit" in failure({"channel": "sms", "body": body})["body"]


def test_other_templates_cannot_be_included():
    assert "include" in problems({"channel": "sms", "body": "{% include 'other' %}"})["body"]


# review-time checks

def test_a_syntax_error_names_the_field_and_line():
    assert problems({"channel": "email", "subject": "ok", "text": "a\nb\n{% if %}x{% endif %}"}) == {
        "text": "is not valid Liquid: missing expression (line 3)"}


def test_an_unclosed_block_names_the_line_it_opens_on():
    assert problems({"channel": "sms", "body": "a\n{% for x in profile.tags %}\nb\nc"})["body"].endswith("(line 2)")


def test_an_unknown_filter_is_a_review_error():
    assert problems({"channel": "sms", "body": "x\n{{ profile.user_id | shout }}"}) == {
        "body": "uses the unknown filter 'shout' (line 2)"}


def test_a_variable_outside_the_allowed_roots_is_a_review_error():
    found = problems({"channel": "push", "title": "t", "body": "{{ user.name }}"})
    assert found["body"].startswith("uses the unknown variable 'user.name' (line 1)")


def test_loop_and_assigned_names_and_declared_roots_are_known():
    body = ("{% for t in profile.tags %}{{ forloop.index }}{{ t }}{% endfor %}{% assign n = 1 %}{{ n }}"
            "{% capture c %}x{% endcapture %}{{ c }}{{ coupon }}{{ 'https://a.example' | short_link }}")
    assert problems({"channel": "sms", "body": body, "variables": {"coupon": "X"}}) == {}


def test_a_template_with_review_errors_cannot_be_saved():
    with pytest.raises(Invalid) as refused:
        tpl.new("tp1", spec(channel="sms", body="{{ secrets.key }}"), NOW)
    assert [e.field for e in refused.value.errors] == ["body"]


def test_declaring_a_root_itself_is_refused():
    with pytest.raises(Invalid) as refused:
        spec(channel="sms", body="x", variables={"profile": "x"})
    assert [e.field for e in refused.value.errors] == ["variables.profile"]


# short links

def test_short_link_asks_the_shortener_for_the_recipients_url():
    asked = []

    def shortener(url: str) -> str:
        asked.append(url)
        return "https://ma.example/s/Ab3"

    body = "Buy: {{ 'https://shop.example/p/1' | short_link }}"
    assert render({"channel": "sms", "body": body}, shortener=shortener)["body"] == "Buy: https://ma.example/s/Ab3"
    assert asked == ["https://shop.example/p/1"]


def test_short_link_without_a_shortener_renders_the_original_url():
    body = "{{ 'https://shop.example/p/' | append: event.sku | short_link }}"
    assert render({"channel": "sms", "body": body})["body"] == "https://shop.example/p/SKU-1"


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://files.example/x", "shop.example/p/1", "https://"])
def test_short_link_takes_only_http_and_https_urls(url):
    failed = failure({"channel": "sms", "body": "{{ event.url | short_link }}"},
                     Recipient(profile=ALICE.profile, event={"url": url}))
    assert failed == {"body": "short_link takes an http or https URL (line 1)"}


# the review state machine

def test_approve_and_reject_only_from_pending_review():
    template = tpl.new("tp1", spec(channel="sms", body="hi"), NOW)
    approved = tpl.approve(template, NOW)
    assert tpl.sendable(approved)
    with pytest.raises(Conflict) as conflict:
        tpl.reject(approved, "too late", NOW)
    assert conflict.value.code == "invalid_state"
    rejected = tpl.reject(template, "tone", NOW)
    assert (rejected.status, rejected.reason, tpl.sendable(rejected)) == (Status.REJECTED, "tone", False)
    with pytest.raises(Conflict):
        tpl.approve(rejected, NOW)


def test_editing_an_approved_template_returns_it_to_review_as_a_new_version():
    approved = tpl.approve(tpl.new("tp1", spec(channel="sms", body="hi"), NOW), NOW)
    edited = tpl.edit(approved, spec(channel="sms", body="hello"), NOW)
    assert (edited.status, edited.version, tpl.sendable(edited)) == (Status.PENDING_REVIEW, 2, False)


def test_an_edit_that_changes_nothing_keeps_the_approval():
    approved = tpl.approve(tpl.new("tp1", spec(channel="sms", body="hi"), NOW), NOW)
    assert tpl.edit(approved, spec(channel="sms", body="hi"), NOW) == approved


def test_approving_a_version_the_reviewer_did_not_read_is_a_conflict():
    edited = tpl.edit(tpl.new("tp1", spec(channel="sms", body="hi"), NOW), spec(channel="sms", body="buy now"), NOW)
    with pytest.raises(Conflict) as conflict:
        tpl.approve(edited, NOW, version=1)
    assert conflict.value.code == "stale_version"
    assert tpl.sendable(tpl.approve(edited, NOW, version=2))


def test_a_channel_cannot_change_by_editing():
    template = tpl.new("tp1", spec(channel="sms", body="hi"), NOW)
    with pytest.raises(Invalid):
        tpl.edit(template, spec(channel="wechat", body="hi"), NOW)


ACTIONS = st.lists(st.sampled_from(["edit", "approve", "reject"]), max_size=20)


@settings(max_examples=200, deadline=None)
@given(ACTIONS)
def test_a_template_is_sendable_only_if_approved_after_its_last_edit(actions):
    template = tpl.new("tp1", spec(channel="sms", body="v0"), NOW)
    applied: list[str] = []
    for step, action in enumerate(actions):
        before = template
        try:
            if action == "edit":
                template = tpl.edit(template, spec(channel="sms", body=f"v{step + 1}"), NOW)
            elif action == "approve":
                template = tpl.approve(template, NOW)
            else:
                template = tpl.reject(template, "no", NOW)
        except Conflict as conflict:
            assert conflict.code == "invalid_state"
            assert action != "edit" and before.status is not Status.PENDING_REVIEW
            assert template == before
            continue
        applied.append(action)
    approved_since_edit = "approve" in applied and (
        "edit" not in applied or applied[::-1].index("approve") < applied[::-1].index("edit"))
    assert tpl.sendable(template) == approved_since_edit
    assert template.version == 1 + applied.count("edit")
