"""Errors render as RFC 9457 problem+json."""
from __future__ import annotations

from chalicelib.errors import Conflict, FieldError, Invalid, NotFound, PayloadTooLarge, problem


def test_a_problem_has_type_title_status_code_and_detail_only():
    body = problem(404, "not_found", "no profile u1")

    assert body == {
        "type": "https://errors.marketing-automation.dev/not_found", "title": "Not Found",
        "status": 404, "code": "not_found", "detail": "no profile u1",
    }


def test_a_problem_lists_field_errors_when_given():
    body = problem(400, "validation_error", "x", [FieldError("events[0].name", "bad"), FieldError("phone", "worse")])

    assert body["errors"] == [{"field": "events[0].name", "message": "bad"}, {"field": "phone", "message": "worse"}]


def test_a_problem_with_an_empty_error_list_has_no_errors_member():
    assert "errors" not in problem(400, "validation_error", "x", [])


def test_an_unlisted_status_is_titled_error():
    assert problem(418, "teapot")["title"] == "Error"


def test_invalid_is_a_400_naming_its_field():
    body = Invalid("cursor", "not a cursor").to_problem()

    assert (body["status"], body["code"], body["title"]) == (400, "validation_error", "Bad Request")
    assert body["errors"] == [{"field": "cursor", "message": "not a cursor"}]
    assert body["detail"] == "cursor: not a cursor"


def test_invalid_without_a_field_blames_the_body():
    assert Invalid(message="not JSON").to_problem()["errors"] == [{"field": "body", "message": "not JSON"}]


def test_invalid_detail_summarises_the_first_five_errors():
    errors = [FieldError(f"f{i}", "bad") for i in range(7)]

    body = Invalid(errors=errors).to_problem()

    assert body["detail"] == "; ".join(f"f{i}: bad" for i in range(5))
    assert len(body["errors"]) == 7


def test_not_found_has_no_field_errors():
    body = NotFound("no journey j1").to_problem()

    assert body["status"] == 404 and body["detail"] == "no journey j1" and "errors" not in body


def test_a_conflict_carries_its_own_code():
    body = Conflict("invalid_state", "journey is not in progress").to_problem()

    assert (body["status"], body["code"]) == (409, "invalid_state")
    assert body["type"].endswith("/invalid_state")


def test_payload_too_large_is_a_413():
    body = PayloadTooLarge("over 1 MB").to_problem()

    assert (body["status"], body["code"], body["title"]) == (413, "payload_too_large", "Content Too Large")
