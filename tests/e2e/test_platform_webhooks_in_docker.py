"""Platform webhooks end to end, the function in Docker: a re-authentication created through
`sam local start-api` (ApiFunction in Docker) publishes "Reauth Session Created"; the template's
rule copies it into the platform webhook queue (moto server); PlatformWebhookFunction, run by
`sam local invoke` in Docker, POSTs it signed to a receiver on this machine (the bridge
address: the container reaches it as host.docker.internal), which verifies it with the code of
docs/platform-webhooks.md and the stack's generated secret, read from moto.

What runs on the host, honestly: Lambda's SQS event source mapping. local.platform_webhook's
QueuePump receives the batch, hands it to the function and deletes what it did not report as
failed, as the mapping does; here the function it hands the batch to is the real one in Docker
(one `sam local invoke` per batch), not its handler in process as under `make up`. The backoff
the function sets after a failure (30 s, by SQS visibility) is made to elapse at once, as in
tests/integration/test_platform_webhooks_over_http.py; nothing waits for a clock.
"""

from __future__ import annotations

import json
import time

import pytest

from local.platform_receiver import Received, doc_snippet
from local.platform_webhook import QueuePump

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("clean")]
CREATED = "Reauth Session Created"
DEADLINE = 240.0  # seconds for a batch through `sam local invoke` on a busy machine


def test_an_event_reaches_the_platform_signed_and_a_500_is_retried_with_the_same_event_id(
    stack, aws, api, dwolla, published, platform_webhooks, tmp_path
):
    webhooks, sqs = platform_webhooks, aws.client("sqs")
    queue_url = webhooks.resources.queue_url
    sqs.purge_queue(QueueUrl=queue_url)  # what earlier tests published since the rule was made
    handed: list[dict] = []

    def function_in_docker(event: dict, _context: object) -> dict:
        handed.extend(event["Records"])
        batch = tmp_path / f"batch-{len(handed)}.json"
        batch.write_text(json.dumps(event))
        result = webhooks.invoke("PlatformWebhookFunction", batch).result
        assert isinstance(result, dict), result
        return result

    pump = QueuePump(aws, queue_url, function_in_docker)

    exchange = dwolla.seed_exchange("mx")
    answer = api.create(exchange["id"], {"returnUrl": stack.return_url})
    assert answer.status_code == 201, answer.text
    session = answer.json()
    [created] = [
        e
        for e in published(expect=CREATED, timeout=60)
        if e["detail-type"] == CREATED and e["detail"]["sessionId"] == session["id"]
    ]
    event_id = created["detail"]["eventId"]  # the service's id (EventBridge's is another)
    # The platform stores the event, then fails before answering 2xx: it answers 500 once.
    webhooks.receiver.answers_for[event_id] = [500]

    first = _pump_until(pump, webhooks.receiver, event_id, attempts=1)
    assert [r.status for r in first] == [500]
    [ours] = [r for r in handed if json.loads(r["body"])["detail"]["eventId"] == event_id]
    pump.pump()  # held back for its backoff: not handed out again yet
    assert [json.loads(r["body"])["detail"]["eventId"] for r in handed].count(event_id) == 1
    sqs.change_message_visibility(
        QueueUrl=queue_url, ReceiptHandle=ours["receiptHandle"], VisibilityTimeout=0
    )  # the backoff elapses

    attempts = _pump_until(pump, webhooks.receiver, event_id, attempts=2)
    assert [r.status for r in attempts] == [500, 204]
    assert [r.headers["X-Reauth-Event-Id"] for r in attempts] == [event_id, event_id]

    snippet, seen = doc_snippet(), set()
    verify = snippet["verify"]
    stored = [verify(webhooks.secret, r.headers, r.body, seen) for r in attempts]
    assert stored[1] is None  # the retry: a duplicate of what was stored, kept once
    assert stored[0] == {
        "eventId": event_id,
        "type": CREATED,
        "source": created["source"],
        "time": created["time"],
        "detail": created["detail"],
    }
    with pytest.raises(snippet["Refused"]):  # and a tampered copy is refused
        verify(webhooks.secret, attempts[1].headers, attempts[1].body + b" ", set())


def _of(received: list[Received], event_id: str) -> list[Received]:
    return [r for r in received if r.headers.get("X-Reauth-Event-Id") == event_id]


def _pump_until(pump: QueuePump, receiver, event_id: str, attempts: int) -> list[Received]:
    """Batches through the function until `attempts` POSTs of the event arrived (or the
    deadline passed); between empty rounds it waits on the receiver, not on a clock."""
    deadline = time.monotonic() + DEADLINE
    while len(_of(receiver.received, event_id)) < attempts and time.monotonic() < deadline:
        if not pump.pump():
            receiver.wait_for(lambda got: len(_of(got, event_id)) >= attempts, timeout=0.5)
    return _of(receiver.received, event_id)
