"""Relaying the outbox: DynamoDB stream records in, EventBridge events out, at least once.

The relay walks a batch of stream records in order and puts the outbox events on the bus, up
to ten per PutEvents. When a call fails or EventBridge refuses an entry it can take later
(throttling, an internal failure), it stops and reports the first event not delivered: Lambda
retries the batch from there (so the events after it may arrive twice: consumers dedupe on
`eventId`). An entry EventBridge will never take (malformed) goes to the dead-letter queue with
its error, and the relay goes on: one bad event does not hold up the others.

A call that fails as a whole before anything of the batch was delivered (the bus missing, access
denied, EventBridge down or throttling the call) raises PublishFailed: the invocation fails, so
the function's Errors metric and its alarm see it, and Lambda retries the batch from its first
record, which is the first not delivered (nothing is lost, nothing sent twice). After a part
was delivered, the failure is reported as the batch's first failure instead (failing the
invocation would send that part again); the retry starts with the failed call, so a bus that
stays down fails the next invocation.

The window (template.yaml's event source mapping): Lambda retries an event until it is 6 h old
(MaximumRecordAgeInSeconds 21600; at most 10,000 tries of a batch), well inside the stream's
24 h. Then it gives the batch up to the dead-letter queue, which receives the batch's shard and
sequence numbers, not its events: those are re-driven from the outbox items, kept 7 days
(python -m reauth.redrive). The relay's IteratorAge alarm fires at 15 minutes behind.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .events import MAX_BATCH, EventPublisher
from .outbox import Envelope, envelope_from_stream

if TYPE_CHECKING:  # the stubs are a development dependency; the layer ships no boto3 types
    from mypy_boto3_sqs import SQSClient

logger = logging.getLogger(__name__)


class PublishFailed(Exception):
    """PutEvents failed as a whole and nothing of the batch was delivered: the invocation fails
    (an error the alarms count) and Lambda retries the batch from its first record."""


@dataclass(frozen=True)
class Delivery:
    delivered: int
    dead_lettered: int
    retry_from: str | None  # the sequence number Lambda must retry from (None: all done)
    sent: tuple[Envelope, ...] = ()  # the events EventBridge took, in order (the metrics count)


class Relay:
    def __init__(
        self, publisher: EventPublisher, dead_letter: Callable[[Envelope, str], None]
    ) -> None:
        self._publisher = publisher
        self._dead_letter = dead_letter

    def deliver(self, records: list[dict[str, Any]]) -> Delivery:
        pending: list[tuple[str, Envelope]] = []
        for record in records:
            envelope = envelope_from_stream(record)
            if envelope is not None:
                pending.append((record["dynamodb"]["SequenceNumber"], envelope))
        delivered = dead = 0
        sent: list[Envelope] = []
        for start in range(0, len(pending), MAX_BATCH):
            chunk = pending[start : start + MAX_BATCH]
            try:
                refused = self._publisher.publish_batch(
                    [(e.detail_type, e.detail) for _, e in chunk]
                )
            except Exception as error:
                if start == 0:  # nothing delivered yet: retrying the whole batch loses nothing
                    raise PublishFailed(
                        f"PutEvents failed before any event of the batch ({len(pending)}) was "
                        "delivered; Lambda retries the batch"
                    ) from error
                logger.exception("PutEvents failed; the batch is retried from here")
                return Delivery(delivered, dead, chunk[0][0], tuple(sent))
            retryable = next((r for r in refused if r.retryable), None)
            taken = [e for i, (_, e) in enumerate(chunk) if i not in {r.index for r in refused}]
            for refusal in refused:
                if retryable is not None and refusal.index > retryable.index:
                    break
                if not refusal.retryable:
                    self._dead_letter(chunk[refusal.index][1], refusal.code)
                    dead += 1
            if retryable is not None:
                logger.warning(
                    "EventBridge refused an event for now; the batch is retried from it",
                    extra={"errorCode": retryable.code},
                )
                earlier = sum(1 for r in refused if r.index < retryable.index)
                delivered += retryable.index - earlier
                sent += taken[: retryable.index - earlier]
                return Delivery(delivered, dead, chunk[retryable.index][0], tuple(sent))
            delivered += len(chunk) - len(refused)
            sent += taken
        return Delivery(delivered, dead, None, tuple(sent))


class QueueDeadLetters:
    """Dead letters to an SQS queue: the event as written, and why EventBridge refused it."""

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._sqs = client
        self._queue_url = queue_url

    def __call__(self, envelope: Envelope, error_code: str) -> None:
        logger.error(
            "EventBridge refused an event for good; sent to the dead-letter queue",
            extra={"eventId": envelope.event_id, "errorCode": error_code},
        )
        self._sqs.send_message(
            QueueUrl=self._queue_url,
            MessageBody=json.dumps(
                {
                    "eventId": envelope.event_id,
                    "detailType": envelope.detail_type,
                    "detail": envelope.detail,
                    "errorCode": error_code,
                }
            ),
        )
