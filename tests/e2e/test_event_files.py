"""The files in events/ are what API Gateway, EventBridge and Dwolla would send: checked without
Docker (shape, routes in template.yaml, the webhook signature). Running them is
test_sam_local_invoke.py.

The files carry fixed dates, to be read; test_sam_local_invoke.py invokes each one as it would
arrive now (tests/support/event_files.py moves every time in it to now and signs the webhook
again), so the answers do not depend on the day: the webhook as written is "stale" 73 h after
its `created`. The last tests here check that move.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from local.provision import load_template
from local.stack import EXCHANGES, FUNDING_SOURCES, LOCAL_DWOLLA
from tests.e2e.sam_cli import EVENTS_DIR, FUNCTION_BY_PREFIX, function_for
from tests.support.event_contract import violations
from tests.support.event_files import DETAIL_TIMES, SQS_TIMES, as_of, dwolla_time
from tests.support.webhooks import SIGNATURE_HEADER, sign

EVENT_FILES = sorted(EVENTS_DIR.glob("*.json"))
PROXY_FILES = [f for f in EVENT_FILES if "httpMethod" in json.loads(f.read_text())]
MX = EXCHANGES["mx"]


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def routes_of(function: str) -> set[tuple[str, str]]:
    events = load_template()["Resources"][function]["Properties"]["Events"]
    return {
        (e["Properties"]["Method"].upper(), e["Properties"]["Path"])
        for e in events.values()
        if e["Type"] == "Api"
    }


def test_there_is_an_event_for_every_entry_point():
    assert {f.name for f in EVENT_FILES} >= {
        "api-create-session.json",
        "api-get-session.json",
        "api-complete-session.json",
        "api-cancel-session.json",
        "api-get-reauth-status.json",
        "callback-open-link.json",
        "callback-open-link-head.json",
        "callback-start-attempt.json",
        "callback-complete-in-browser.json",
        "callback-renew-link.json",
        "callback-success.json",
        "callback-error.json",
        "callback-done.json",
        "callback-link-status.json",
        "callback-plaid-oauth.json",
        "webhook-dwolla.json",
        "eventbridge-reauth-requested.json",
        "eventbridge-update-credentials.json",
        "eventbridge-link-requested.json",
        "schedule-expiry-sweep.json",
        "eventbridge-ses-bounce.json",
        "sqs-platform-webhook.json",
    }
    covered = {(load(f)["httpMethod"], load(f)["resource"]) for f in PROXY_FILES}
    assert routes_of("ApiFunction") | routes_of("CallbackFunction") <= covered


@pytest.mark.parametrize("event_file", EVENT_FILES, ids=lambda p: p.name)
def test_the_file_name_says_which_function_takes_it(event_file):
    assert function_for(event_file), f"name it {' / '.join(FUNCTION_BY_PREFIX)}<what>.json"


@pytest.mark.parametrize("event_file", PROXY_FILES, ids=lambda p: p.name)
def test_api_gateway_events_are_rest_proxy_events_of_a_real_route(event_file):
    event = load(event_file)
    resource, method = event["resource"], event["httpMethod"]
    assert (method, resource) in routes_of(function_for(event_file))

    path = resource
    for name, value in (event["pathParameters"] or {}).items():
        path = path.replace(f"{{{name}}}", value)
    assert event["path"] == path and "{" not in path

    context = event["requestContext"]
    assert context["resourcePath"] == resource
    assert context["httpMethod"] == method
    assert context["path"] == f"/{context['stage']}{path}"
    assert context["requestId"] and context["identity"]["sourceIp"]

    assert event["multiValueHeaders"] == {k: [v] for k, v in event["headers"].items()}
    single, multi = event["queryStringParameters"], event["multiValueQueryStringParameters"]
    assert (single is None) == (multi is None)
    if multi is not None:
        assert single == {k: v[-1] for k, v in multi.items()}
    assert event["isBase64Encoded"] is False
    assert event["body"] is None or isinstance(event["body"], str)


def test_create_session_event_asks_for_the_seeded_mx_exchange():
    event = load(EVENTS_DIR / "api-create-session.json")
    assert event["pathParameters"] == {"exchangeId": MX}
    assert json.loads(event["body"]) == {
        "returnUrl": "http://127.0.0.1:3000/reauth/done",
        "fundingSourceId": FUNDING_SOURCES["mx"],
    }
    assert event["headers"]["Idempotency-Key"]


def test_webhook_event_is_signed_with_the_local_stack_webhook_secret():
    event = load(EVENTS_DIR / "webhook-dwolla.json")
    expected = sign(event["body"], LOCAL_DWOLLA.webhook_secret)
    assert event["headers"][SIGNATURE_HEADER] == expected
    body = json.loads(event["body"])
    assert body["topic"] == event["headers"]["X-Dwolla-Topic"]
    assert body["_links"]["resource"]["href"].endswith(f"/exchanges/{MX}")


@pytest.mark.parametrize(
    "name", ["eventbridge-reauth-requested.json", "eventbridge-update-credentials.json"]
)
def test_eventbridge_events_match_the_template_rule(name):
    event = load(EVENTS_DIR / name)
    rule = load_template()["Resources"]["ApiFunction"]["Properties"]["Events"]["ReauthRequested"]
    assert event["detail-type"] in rule["Properties"]["Pattern"]["detail-type"]
    own_source = load_template()["Parameters"]["EventSource"]["Default"]
    assert event["source"] != own_source  # the rule ignores the service's own events
    assert {"version", "id", "account", "time", "region", "resources"} <= set(event)


def test_ses_bounce_event_matches_the_template_rule_and_is_one_the_service_acts_on():
    from reauth.feedback import email_feedback

    event = load(EVENTS_DIR / "eventbridge-ses-bounce.json")
    rule = load_template()["Resources"]["ApiFunction"]["Properties"]["Events"]["EmailFeedback"]
    pattern = rule["Properties"]["Pattern"]
    assert event["source"] in pattern["source"]
    assert event["detail-type"] in pattern["detail-type"]
    assert set(pattern["detail"]["mail"]["tags"]) <= set(event["detail"]["mail"]["tags"])
    news = email_feedback(event["detail-type"], event["detail"])
    assert news is not None and news.slot == 0


def test_the_link_requested_event_matches_its_own_rule():
    """The service's own "Reauth Link Requested" (selfService) starts a renewal."""
    event = load(EVENTS_DIR / "eventbridge-link-requested.json")
    rules = load_template()["Resources"]["ApiFunction"]["Properties"]["Events"]
    pattern = rules["LinkRequested"]["Properties"]["Pattern"]
    assert event["detail-type"] in pattern["detail-type"]
    assert event["source"] == load_template()["Parameters"]["EventSource"]["Default"]
    assert event["detail"]["selfService"] in pattern["detail"]["selfService"]
    assert {"version", "id", "account", "time", "region", "resources"} <= set(event)


def test_update_credentials_event_carries_dwollas_body():
    detail = load(EVENTS_DIR / "eventbridge-update-credentials.json")["detail"]
    assert detail["code"] == "UpdateCredentials"
    assert detail["_links"]["about"]["href"].endswith(f"/exchanges/{MX}/exchange-sessions")


def test_the_sqs_event_carries_one_of_the_services_events_as_the_platform_webhook_rule_sends_it():
    """PlatformWebhookFunction's input: SQS records whose body is the EventBridge event the
    rule (source = the service's) put in the queue, valid against its schema."""
    [record] = load(EVENTS_DIR / "sqs-platform-webhook.json")["Records"]
    template = load_template()
    rule = template["Resources"]["PlatformWebhookRule"]["Properties"]["EventPattern"]
    assert rule == {"source": [{"Ref": "EventSource"}]}
    envelope = json.loads(record["body"])
    assert envelope["source"] == template["Parameters"]["EventSource"]["Default"]
    assert {"version", "id", "account", "time", "region", "resources"} <= set(envelope)
    assert violations(envelope["detail-type"], envelope["detail"]) == []
    assert record["eventSource"] == "aws:sqs" and record["attributes"]["ApproximateReceiveCount"]


def test_schedule_event_is_the_expiry_sweep():
    event = load(EVENTS_DIR / "schedule-expiry-sweep.json")
    assert (event["source"], event["detail-type"]) == ("aws.events", "Scheduled Event")


# ---- as invoked: every time moved to now --------------------------------------------------
DATES = re.compile(r"\d{4}-\d{2}-\d{2}|\d{2}/[A-Z][a-z]{2}/\d{4}")


def _without_times(event: dict) -> dict:
    event = json.loads(json.dumps(event))
    event.pop("time", None)
    for name in DETAIL_TIMES:
        (event.get("detail") if isinstance(event.get("detail"), dict) else {}).pop(name, None)
    for part in ("mail", "bounce", "complaint"):
        ((event.get("detail") or {}).get(part) or {}).pop("timestamp", None)
    for name in ("requestTime", "requestTimeEpoch"):
        (event.get("requestContext") or {}).pop(name, None)
    for record in event.get("Records") or []:  # SQS: the body is an EventBridge event
        record["body"] = _without_times(json.loads(record["body"]))
        record.pop("md5OfBody")
        for name in SQS_TIMES:
            record["attributes"].pop(name, None)
    if SIGNATURE_HEADER in (event.get("headers") or {}):
        body = json.loads(event.pop("body"))
        event["body"] = {k: v for k, v in body.items() if k not in ("created", "timestamp")}
        del event["headers"][SIGNATURE_HEADER], event["multiValueHeaders"][SIGNATURE_HEADER]
    return event


@pytest.mark.parametrize("event_file", EVENT_FILES, ids=lambda p: p.name)
def test_as_invoked_every_date_in_a_file_is_now_and_nothing_else_changes(event_file):
    now = datetime.now(UTC)
    moved = as_of(load(event_file), now, LOCAL_DWOLLA.webhook_secret)
    dates = set(DATES.findall(json.dumps(moved)))
    assert dates <= {now.strftime("%Y-%m-%d"), now.strftime("%d/%b/%Y")}, dates
    assert _without_times(moved) == _without_times(load(event_file))
    context = moved.get("requestContext") or {}
    if "requestTimeEpoch" in context:
        assert context["requestTimeEpoch"] == int(now.timestamp() * 1000)
    if "time" in moved:
        assert moved["time"] == now.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_as_invoked_the_webhook_is_created_now_and_signed_again():
    now = datetime.now(UTC)
    moved = as_of(load(EVENTS_DIR / "webhook-dwolla.json"), now, LOCAL_DWOLLA.webhook_secret)
    body = json.loads(moved["body"])
    assert body["created"] == body["timestamp"] == dwolla_time(now)
    expected = sign(moved["body"], LOCAL_DWOLLA.webhook_secret)
    assert moved["headers"][SIGNATURE_HEADER] == expected
    assert moved["multiValueHeaders"][SIGNATURE_HEADER] == [expected]


def test_as_invoked_a_wrong_signature_stays_wrong():
    event = load(EVENTS_DIR / "webhook-dwolla.json")
    event["headers"][SIGNATURE_HEADER] = "0" * 64
    moved = as_of(event, datetime.now(UTC), LOCAL_DWOLLA.webhook_secret)
    assert moved["headers"][SIGNATURE_HEADER] == "0" * 64
