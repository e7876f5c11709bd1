"""Every file in events/ through `sam local invoke`, against this session's local stack.

The list is the directory's: a new file is invoked without touching this module (its name's
prefix picks the function, see conftest.FUNCTION_BY_PREFIX). Files known here also get their
specific answer checked; session ids in them are placeholders (404 / the refusal page).

Each file is invoked as it would arrive now (tests/support/event_files.py): its times moved to
this moment and the webhook signed again, so the answers are the same on any day (the files
keep their fixed, readable dates).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.platform_receiver import doc_snippet
from local.stack import EXCHANGES, LOCAL_DWOLLA
from tests.e2e.sam_cli import EVENTS_DIR, MAKE_UP_RETURN_URL, function_for
from tests.support.event_files import as_of_now

MX = EXCHANGES["mx"]
REFUSAL_TITLE = "This link can&#x27;t be used"

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("clean")]


def http_answer(result: dict) -> tuple[int, str, str]:
    """(status, content type, body) of an API Gateway proxy answer."""
    headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.setdefault(name.lower(), values[-1] if values else "")
    return result["statusCode"], headers.get("content-type", ""), result.get("body") or ""


def check_http(event_file: Path, result: object) -> tuple[int, str, str]:
    """Any API answer: no server error; a JSON error in the documented shape, or (for the
    browser routes) the generic refusal page."""
    assert isinstance(result, dict) and "statusCode" in result, result
    status, content_type, body = http_answer(result)
    assert status < 500, body
    if status >= 400:
        if content_type.startswith("text/html"):
            assert function_for(event_file) == "CallbackFunction"
            assert REFUSAL_TITLE in body
        else:
            assert content_type.startswith("application/json"), content_type
            error = json.loads(body)
            assert set(error) == {"code", "message", "requestId"}, error
            assert error["code"] and error["message"]
    return status, content_type, body


def refused(status, content_type, body):
    assert status == 400 and content_type.startswith("text/html") and REFUSAL_TITLE in body


def error_code(code: str, status: int):
    def check(got_status, _content_type, body):
        assert (got_status, json.loads(body)["code"]) == (status, code)

    return check


def created_session(status, _content_type, body):
    assert status in (201, 200), body  # 200: the same Idempotency-Key replayed
    session = json.loads(body)
    assert (session["exchangeId"], session["returnUrl"]) == (MX, MAKE_UP_RETURN_URL)
    assert session["handoff"]["type"] == "redirect"


def reauth_status(status, _content_type, body):
    if status == 404:  # no session was ever made for the exchange on this stack
        assert json.loads(body)["code"] == "ExchangeRecordNotFound"
    else:
        assert status == 200 and json.loads(body)["exchangeId"] == MX


def done_page(status, content_type, body):
    assert status == 200 and content_type.startswith("text/html")
    assert "working again" in body


def webhook_taken(status, _content_type, body):
    # Invoked with its `created` moved to now: recorded, or a duplicate of the same id (never
    # "stale", which the file as written would be 72 h after its date).
    assert status == 200 and json.loads(body)["outcome"] in ("recorded", "duplicate")


def session_from_event(result):
    assert isinstance(result["sessionId"], str) and isinstance(result["replayed"], bool)


def ses_feedback(result):
    # The placeholder request id names no request: nothing is done, nothing sent.
    assert (result["outcome"], result["messagesSent"]) == ("unknown", 0)


def nothing_to_renew(result):
    assert result == {"sessionId": None, "replayed": False}  # no contact kept for the request


def sweep(result):
    assert isinstance(result["expired"], int) and isinstance(result["verified"], int)


HTTP_EXPECTATIONS = {
    "api-create-session.json": created_session,
    "api-get-session.json": error_code("SessionNotFound", 404),
    "api-complete-session.json": error_code("SessionNotFound", 404),
    "api-cancel-session.json": error_code("SessionNotFound", 404),
    "api-get-reauth-status.json": reauth_status,
    "callback-open-link.json": refused,  # placeholder id and key
    "callback-open-link-head.json": refused,
    "callback-start-attempt.json": refused,
    "callback-complete-in-browser.json": refused,  # placeholder cookie and CSRF token
    "callback-renew-link.json": refused,  # placeholder id and key
    "callback-success.json": refused,  # placeholder binding cookie: nothing matches it
    "callback-error.json": refused,
    "callback-done.json": done_page,
    "callback-link-status.json": error_code("NotBound", 400),  # the placeholder cookie binds none
    "callback-plaid-oauth.json": refused,  # likewise: no Plaid attempt of this browser's
    "webhook-dwolla.json": webhook_taken,
}
EVENT_EXPECTATIONS = {
    "eventbridge-reauth-requested.json": session_from_event,
    "eventbridge-update-credentials.json": session_from_event,
    "eventbridge-link-requested.json": nothing_to_renew,
    "schedule-expiry-sweep.json": sweep,
    "eventbridge-ses-bounce.json": ses_feedback,
}


def delivered_to_the_platform(event_file: Path, result: dict, webhooks) -> None:
    """PlatformWebhookFunction POSTed the record's event to the receiver, signed with the
    stack's generated secret (checked with the docs' own code), and reported no failure."""
    assert result == {"batchItemFailures": []}, result
    [record] = json.loads(event_file.read_text())["Records"]
    event_id = json.loads(record["body"])["detail"]["eventId"]  # the service's, not EventBridge's
    arrived = [
        r for r in webhooks.receiver.received if r.headers.get("X-Reauth-Event-Id") == event_id
    ]
    assert arrived and arrived[-1].status == 204
    event = doc_snippet()["verify"](webhooks.secret, arrived[-1].headers, arrived[-1].body, set())
    assert (event["eventId"], event["type"]) == (event_id, "Exchange Reauthorized")


@pytest.mark.parametrize("event_file", sorted(EVENTS_DIR.glob("*.json")), ids=lambda p: p.name)
def test_sam_local_invoke_answers_the_event(event_file, sam_invoke, tmp_path, request):
    function = function_for(event_file)
    assert function, f"{event_file.name}: no function for this name (see FUNCTION_BY_PREFIX)"

    now = as_of_now(event_file, tmp_path, LOCAL_DWOLLA.webhook_secret)
    if function == "PlatformWebhookFunction":  # on a stack with PlatformWebhookUrl set only
        webhooks = request.getfixturevalue("platform_webhooks")
        delivered_to_the_platform(now, webhooks.invoke(function, now).result, webhooks)
        return
    result = sam_invoke(function, now).result

    if "httpMethod" in json.loads(event_file.read_text()):
        answer = check_http(event_file, result)
        if event_file.name in HTTP_EXPECTATIONS:
            HTTP_EXPECTATIONS[event_file.name](*answer)
    else:
        assert isinstance(result, dict), result
        assert "errorType" not in result and "errorMessage" not in result, result
        if event_file.name in EVENT_EXPECTATIONS:
            EVENT_EXPECTATIONS[event_file.name](result)
