"""Signed webhooks for platforms off AWS: the service's events POSTed to the platform's URL.

    the service's bus ──rule (source = the service)──▶ SQS queue ──▶ PlatformWebhookFunction
        ──▶ POST <PlatformWebhookUrl>  (signed)  ──2xx──▶ delivered (deleted from the queue)
                                                  └─else─▶ retried later (backoff), then the
                                                           queue's dead-letter queue (alarm)

The body is the event as the platform reads it off the bus, in fewer words:
`{"eventId", "type", "source", "time", "detail"}`. `eventId` is the service's own id of the event
(the detail's `eventId`, written with the change it tells of): the same on every retry, on a
relay's second PutEvents and on a re-drive, each of which EventBridge gives a new id of its own;
so a receiver dedupes on it. Signed the way Dwolla signs its own webhooks
(HMAC-SHA256, hex), over `<timestamp>.<raw body>` so that a receiver can refuse replays:

    X-Reauth-Timestamp: <unix seconds when this attempt was signed>
    X-Reauth-Signature-SHA-256: hex(HMAC-SHA256(secret, "<timestamp>." + raw body))
    X-Reauth-Event-Id: <eventId>

Any answer but 2xx (a redirect, a 4xx, a 5xx, a timeout, a refused connection) is retried: a
4xx from a receiver is most often a deployment fault the platform fixes within the window (a
rotated secret, a clock off, a route not yet deployed), and dropping the event at once would
leave the platform to re-drive it by hand. The retry of the n-th failed attempt waits
RETRY_DELAYS[n-1] (30 s doubling to 1 h, then hourly); MAX_ATTEMPTS attempts span ~24 h, then
SQS moves the message to the dead-letter queue (template.yaml: maxReceiveCount).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

logger = logging.getLogger(__name__)

TIMESTAMP_HEADER = "X-Reauth-Timestamp"
SIGNATURE_HEADER = "X-Reauth-Signature-SHA-256"
EVENT_ID_HEADER = "X-Reauth-Event-Id"
MAX_ATTEMPTS = 30  # the queue's maxReceiveCount (template.yaml PlatformWebhookQueue)
FIRST_DELAY_SECONDS = 30
MAX_DELAY_SECONDS = 3600


def retry_delay(attempt: int) -> int:
    """Seconds before the attempt after failed attempt number `attempt` (1-based): 30 s,
    1 min, 2 min, ... doubling up to 1 h, then 1 h."""
    return int(min(FIRST_DELAY_SECONDS * 2 ** max(attempt - 1, 0), MAX_DELAY_SECONDS))


RETRY_DELAYS = tuple(retry_delay(n) for n in range(1, MAX_ATTEMPTS + 1))
# From the first attempt to the dead-letter queue (~24 h): the last failure is held back too,
# and SQS moves the message on its next receive, past maxReceiveCount.
RETRY_WINDOW_SECONDS = sum(RETRY_DELAYS)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """hex HMAC-SHA256 of `<timestamp>.<body>` with the platform's webhook secret."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def event_id(envelope: Mapping[str, Any]) -> str:
    """The service's id of the event (its detail's `eventId`); EventBridge's own id only for an
    event without one (none the service publishes)."""
    detail = envelope["detail"]
    own = detail.get("eventId") if isinstance(detail, Mapping) else None
    return own if isinstance(own, str) and own else str(envelope["id"])


def payload(envelope: Mapping[str, Any]) -> bytes:
    """The body POSTed for an EventBridge envelope (as SQS carries it from the rule)."""
    return json.dumps(
        {
            "eventId": event_id(envelope),
            "type": envelope["detail-type"],
            "source": envelope["source"],
            "time": envelope["time"],
            "detail": envelope["detail"],
        },
        separators=(",", ":"),
    ).encode()


def signed_headers(secret: str, timestamp: int, body: bytes, event_id: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "dwolla-reauth-webhooks/1",
        EVENT_ID_HEADER: event_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


class Receiver(Protocol):
    """The platform's endpoint: the HTTP status it answered, or None (no answer in time)."""

    def post(self, body: bytes, headers: Mapping[str, str]) -> int | None: ...


class Backoff(Protocol):
    """Holds a message back for `seconds` before its next attempt (SQS visibility)."""

    def delay(self, receipt_handle: str, seconds: int) -> None: ...


@dataclass(frozen=True)
class BatchOutcome:
    delivered: int
    failed: tuple[str, ...]  # the SQS message ids to report as batchItemFailures
    unreadable: int = 0  # bodies that are no EventBridge event: dropped, logged


class PlatformWebhooks:
    def __init__(
        self,
        receiver: Receiver,
        backoff: Backoff,
        secret: Callable[[], str],
        clock: Callable[[], float],
    ) -> None:
        self._receiver = receiver
        self._backoff = backoff
        self._secret = secret
        self._clock = clock

    def deliver(self, records: Sequence[Mapping[str, Any]]) -> BatchOutcome:
        """POST each SQS record's event; those not answered 2xx are held back for their
        backoff and returned as failures (SQS redelivers them, then dead-letters them)."""
        delivered, unreadable, failed = 0, 0, []
        for record in records:
            try:
                envelope = json.loads(record["body"])
                body, their_id = payload(envelope), event_id(envelope)
            except (ValueError, KeyError, TypeError):
                logger.error("a queued message is no EventBridge event: dropped")
                unreadable += 1
                continue
            if self._post(body, their_id):
                delivered += 1
                continue
            failed.append(str(record["messageId"]))
            self._hold_back(record, _receive_count(record))
        return BatchOutcome(delivered, tuple(failed), unreadable)

    def _post(self, body: bytes, event_id: str) -> bool:
        timestamp = int(self._clock())
        headers = signed_headers(self._secret(), timestamp, body, event_id)
        status = self._receiver.post(body, headers)
        if status is not None and 200 <= status < 300:
            return True
        logger.warning(
            "the platform's webhook was not accepted; retried later",
            extra={"eventId": event_id, "status": status},
        )
        return False

    def _hold_back(self, record: Mapping[str, Any], attempt: int) -> None:
        try:
            self._backoff.delay(str(record["receiptHandle"]), retry_delay(attempt))
        except Exception:  # the queue's own visibility timeout applies instead
            logger.warning("the retry's backoff could not be set", exc_info=True)


def _receive_count(record: Mapping[str, Any]) -> int:
    attributes = record.get("attributes") or {}
    try:
        return max(int(attributes.get("ApproximateReceiveCount", 1)), 1)
    except (TypeError, ValueError):
        return 1
