"""Platform webhooks (reauth/platform_webhooks.py): what a receiver relies on. The body and its
signature, the retry schedule the docs promise and the template's queue keeps, the URL the
configuration accepts, and the docs' own verification snippet run against what the service
signs. The whole chain over HTTP is tests/integration/test_platform_webhooks_over_http.py."""

from __future__ import annotations

import json
import re
import time

import pytest

from local.platform_receiver import doc_snippet
from local.provision import load_template
from reauth.config import ConfigError, PlatformWebhookConfig
from reauth.platform_webhooks import (
    EVENT_ID_HEADER,
    MAX_ATTEMPTS,
    RETRY_WINDOW_SECONDS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    PlatformWebhooks,
    retry_delay,
)

SECRET = "s" * 64
NOW = 1_767_225_600.0  # any moment: the snippet is given `now`


def envelope(
    event_id: str = "6a7e8feb-b491-4cf7-a9f1-bf3703467718", bus_id: str = "eventbridge-1"
) -> dict:
    """The bus's envelope: EventBridge's own `id`, the service's `eventId` in the detail."""
    return {
        "version": "0",
        "id": bus_id,
        "detail-type": "Exchange Reauthorized",
        "source": "dwolla-reauth",
        "time": "2026-01-01T00:00:00Z",
        "detail": {"exchangeId": "036c8a60-fa45-45d4-8f5d-181d348c6ec8", "eventId": event_id},
    }


def record(
    message_id: str, receive_count: int = 1, event_id: str = "e-1", bus_id: str = "eventbridge-1"
) -> dict:
    return {
        "messageId": message_id,
        "receiptHandle": f"handle-{message_id}",
        "body": json.dumps(envelope(event_id, bus_id)),
        "attributes": {"ApproximateReceiveCount": str(receive_count)},
    }


class Receiver:
    def __init__(self, *statuses: int | None) -> None:
        self.statuses = list(statuses)
        self.posts: list[tuple[bytes, dict]] = []

    def post(self, body: bytes, headers) -> int | None:
        self.posts.append((body, dict(headers)))
        return self.statuses.pop(0) if self.statuses else 200


class Backoff:
    def __init__(self) -> None:
        self.delays: list[tuple[str, int]] = []

    def delay(self, receipt_handle: str, seconds: int) -> None:
        self.delays.append((receipt_handle, seconds))


def webhooks(receiver: Receiver, backoff: Backoff | None = None) -> PlatformWebhooks:
    return PlatformWebhooks(receiver, backoff or Backoff(), lambda: SECRET, clock=lambda: NOW)


@pytest.fixture(scope="module")
def snippet() -> dict:
    """The docs' verification code, run as a receiver would paste it."""
    return doc_snippet()


def test_the_body_is_the_event_with_its_id_and_the_headers_sign_timestamp_and_body(snippet):
    receiver = Receiver()
    outcome = webhooks(receiver).deliver([record("m-1", event_id="e-42")])
    assert (outcome.delivered, outcome.failed) == (1, ())
    ((body, headers),) = receiver.posts
    assert json.loads(body) == {
        "eventId": "e-42",
        "type": "Exchange Reauthorized",
        "source": "dwolla-reauth",
        "time": "2026-01-01T00:00:00Z",
        "detail": envelope("e-42")["detail"],
    }
    assert headers[EVENT_ID_HEADER] == "e-42" and headers[TIMESTAMP_HEADER] == str(int(NOW))
    assert re.fullmatch(r"[0-9a-f]{64}", headers[SIGNATURE_HEADER])
    seen: set[str] = set()
    assert snippet["verify"](SECRET, headers, body, seen, now=NOW)["eventId"] == "e-42"
    assert snippet["verify"](SECRET, headers, body, seen, now=NOW) is None  # the retry: deduped


def test_an_event_put_on_the_bus_twice_keeps_the_services_event_id(snippet):
    """The relay delivers at least once: a second PutEvents (or a re-drive) of one event gets a
    new EventBridge id, and the receiver must still see one eventId to dedupe on."""
    receiver = Receiver()
    webhooks(receiver).deliver(
        [record("m-1", event_id="e-7", bus_id="eb-a"), record("m-2", event_id="e-7", bus_id="eb-b")]
    )
    seen: set[str] = set()
    handled = [snippet["verify"](SECRET, h, b, seen, now=NOW) for b, h in receiver.posts]
    assert [json.loads(b)["eventId"] for b, _ in receiver.posts] == ["e-7", "e-7"]
    assert handled[0] is not None and handled[1] is None


@pytest.mark.parametrize(
    "tamper",
    ["body", "secret", "timestamp-old", "timestamp-moved", "no-signature"],
)
def test_the_docs_snippet_refuses_what_the_service_did_not_sign_just_now(snippet, tamper):
    receiver = Receiver()
    webhooks(receiver).deliver([record("m-1")])
    ((body, headers),) = receiver.posts
    secret, now = SECRET, NOW
    if tamper == "body":
        body = body.replace(b'"Exchange Reauthorized"', b'"Reauth Session Expired"')
        assert body != receiver.posts[0][0]
    elif tamper == "secret":
        secret = "t" * 64
    elif tamper == "timestamp-old":  # a replay, 5 minutes and a second later
        now = NOW + 301
    elif tamper == "timestamp-moved":  # a fresh timestamp on an old signature
        headers[TIMESTAMP_HEADER] = str(int(NOW) + 60)
    else:
        del headers[SIGNATURE_HEADER]
    with pytest.raises(snippet["Refused"]):
        snippet["verify"](secret, headers, body, set(), now=now)


def test_the_snippet_uses_the_wall_clock_when_not_given_one(snippet):
    receiver = Receiver()
    PlatformWebhooks(receiver, Backoff(), lambda: SECRET, clock=time.time).deliver([record("m")])
    ((body, headers),) = receiver.posts
    assert snippet["verify"](SECRET, headers, body, set())["eventId"] == "e-1"


@pytest.mark.parametrize("status", [None, 301, 400, 401, 408, 429, 500, 503])
def test_anything_but_2xx_is_retried_after_its_backoff(status):
    receiver, backoff = Receiver(status), Backoff()
    outcome = webhooks(receiver, backoff).deliver([record("m-1", receive_count=3), record("m-2")])
    assert outcome.failed == ("m-1",) and outcome.delivered == 1
    assert backoff.delays == [("handle-m-1", retry_delay(3))]


def test_a_message_that_is_no_event_is_dropped_not_retried_forever():
    outcome = webhooks(Receiver()).deliver([{"messageId": "m", "body": "not json"}])
    assert (outcome.delivered, outcome.failed, outcome.unreadable) == (0, (), 1)


def test_the_schedule_doubles_from_30_s_to_hourly_and_spans_about_a_day():
    assert [retry_delay(n) for n in range(1, 9)] == [30, 60, 120, 240, 480, 960, 1920, 3600]
    assert retry_delay(MAX_ATTEMPTS) == 3600
    assert 23 * 3600 < RETRY_WINDOW_SECONDS < 25 * 3600


def test_the_template_queue_dead_letters_after_the_attempts_the_code_counts():
    resources = load_template()["Resources"]
    queue = resources["PlatformWebhookQueue"]["Properties"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == MAX_ATTEMPTS
    assert queue["MessageRetentionPeriod"] > RETRY_WINDOW_SECONDS
    function = resources["PlatformWebhookFunction"]["Properties"]
    assert queue["VisibilityTimeout"] >= function["Timeout"]
    mapping = function["Events"]["Queued"]["Properties"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] * 10 < function["Timeout"]  # 10 s per POST at most
    alarm = resources["PlatformWebhookDeadLetterQueueAlarm"]["Properties"]
    assert alarm["Dimensions"][0]["Value"] == {
        "Fn::GetAtt": ["PlatformWebhookDeadLetterQueue", "QueueName"]
    }


def _config(url: str, **extra: str) -> PlatformWebhookConfig:
    env = {"PLATFORM_WEBHOOK_SECRET_ID": "arn:secret", "PLATFORM_WEBHOOK_QUEUE_URL": "q", **extra}
    return PlatformWebhookConfig.from_environment({"PLATFORM_WEBHOOK_URL": url, **env})


def test_the_url_is_off_when_empty_and_https_otherwise():
    assert not PlatformWebhookConfig.from_environment({}).on
    assert _config("https://api.example.com/hooks/reauth?tenant=1").on
    assert _config("http://127.0.0.1:9100/hooks").on  # this machine (the local stack)


@pytest.mark.parametrize(
    "url", ["http://api.example.com/hooks", "ftp://x.example/", "https://u:p@x.example/", "/hooks"]
)
def test_a_url_that_is_not_https_is_refused_naming_the_variable(url):
    with pytest.raises(ConfigError, match="PLATFORM_WEBHOOK_URL"):
        _config(url)


def test_the_secret_is_required_when_the_url_is_set():
    with pytest.raises(ConfigError, match="PLATFORM_WEBHOOK_SECRET_ID"):
        PlatformWebhookConfig.from_environment(
            {"PLATFORM_WEBHOOK_URL": "https://x.example/", "PLATFORM_WEBHOOK_QUEUE_URL": "q"}
        )
