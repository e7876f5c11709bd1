"""Platform webhooks end to end on this machine: a real flow's events, from the outbox through
the relay, the bus and the template's rule into the queue (moto server), through
PlatformWebhookFunction's handler (fed as Lambda's SQS mapping feeds it) to a receiver on
127.0.0.1, which verifies each one with the docs' own code."""

from __future__ import annotations

import json

import pytest

from local.platform_receiver import PlatformReceiver, doc_snippet
from local.platform_webhook import QueuePump, load_handler, provision
from tests.support.constants import ROOT
from tests.support.event_contract import assert_conforms
from tests.support.functions import new_container


@pytest.fixture
def receiver():
    with PlatformReceiver() as running:
        yield running


@pytest.fixture
def platform_webhooks(functions, receiver, monkeypatch):
    """The PlatformWebhook* resources on moto server, the function's environment, and a pump
    that records the records it hands the handler."""
    session, resources = functions.session, functions.resources
    made = provision(session, resources, prefix=resources.table_name)
    for name, value in made.environment(receiver.url).items():
        monkeypatch.setenv(name, value)
    new_container()
    handed: list[dict] = []
    handler = load_handler(ROOT)

    def recording(event, context):
        handed.extend(event["Records"])
        return handler(event, context)

    secret = session.client("secretsmanager").get_secret_value(SecretId=made.secret_id)
    return QueuePump(session, made.queue_url, recording), handed, made, secret["SecretString"]


def test_a_flows_events_reach_the_platform_signed_and_a_500_is_retried_with_the_same_event_id(
    api, dwolla, published, platform_webhooks, receiver, functions
):
    pump, handed, made, secret = platform_webhooks
    snippet = doc_snippet()
    exchange = dwolla.seed_exchange("mx")
    status, created, _ = api.create(exchange["id"])
    assert status == 201
    on_the_bus = published()  # the relay delivered the outbox; the tap read the bus
    assert on_the_bus

    receiver.answers = [500]  # the platform's first answer
    sqs = functions.session.client("sqs")
    while pump.pump():
        pass
    first = receiver.received[0]
    assert first.status == 500
    # The failed one waits for its backoff (30 s): not visible, not dead-lettered.
    failed_handle = next(
        r["receiptHandle"]
        for r in handed
        if json.loads(r["body"])["detail"]["eventId"] == _id(first)
    )
    assert pump.pump() == 0
    sqs.change_message_visibility(
        QueueUrl=made.queue_url, ReceiptHandle=failed_handle, VisibilityTimeout=0
    )  # the backoff elapses
    assert pump.pump() == 1

    seen: set[str] = set()
    delivered = []
    for received in receiver.received:
        event = snippet["verify"](secret, received.headers, received.body, seen)
        if received.status == 500:
            seen.discard(_id(received))  # refused: not handled, so not remembered
        elif event is not None:
            delivered.append(event)
    retried = [r for r in receiver.received if _id(r) == _id(first)]
    assert [r.status for r in retried] == [500, 204]
    assert retried[1].headers["X-Reauth-Event-Id"] == _id(first)
    assert_conforms(  # what the platform receives is the events' published contract
        [
            {"source": e["source"], "detail-type": e["type"], "detail": e["detail"]}
            for e in delivered
        ]
    )
    assert sorted(e["eventId"] for e in delivered) == sorted(
        e["detail"]["eventId"] for e in on_the_bus
    )
    assert {e["detail"]["sessionId"] for e in delivered if "sessionId" in e["detail"]} == {
        created["id"]
    }
    assert [json.loads(r["body"])["detail"]["eventId"] for r in handed].count(_id(first)) == 2
    with pytest.raises(snippet["Refused"]):  # and a tampered copy is refused
        snippet["verify"](secret, first.headers, first.body + b" ", set())


def _id(received) -> str:
    return json.loads(received.body)["eventId"]
