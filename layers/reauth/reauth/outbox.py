"""The transactional outbox: every event is written in the same DynamoDB transaction as the state
change it tells of, and a relay delivers it to EventBridge at least once.

    use case ──TransactWriteItems──▶ the change + OUTBOX#<requestId> / <time>#<eventId>
    DynamoDB Streams (NEW_IMAGE) ──▶ RelayFunction ──PutEvents──▶ the service's bus

Nothing is published after a commit, so nothing is lost between the commit and the publish: a
failed PutEvents, a crash, or a bus that is down only delays the event (Lambda retries the batch
from the first record not delivered; relaying.py states the window). Every event's detail
carries:
- `eventId`, stable: a consumer dedupes on it (a retried batch delivers an event twice);
- `sequence`, per request (per exchange for the exchange-level "Exchange Reauth Required"),
  1, 2, 3 … with no gaps, written in the same transaction as the change it tells of (the write
  is conditioned on the sequence it read, so two writers never share a number);
- `occurredAt`, the change's time with milliseconds.
Neither EventBridge nor the relay promises order (a throttled entry is re-sent after later ones
that were accepted; rules and targets retry on their own): a consumer orders a request's events
by `sequence`, never by arrival.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .model import iso

if TYPE_CHECKING:  # the stubs are a development dependency; the layer ships no boto3 types
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

OUTBOX_PREFIX = "OUTBOX#"
RETENTION = timedelta(days=7)  # kept after writing, to trace or re-drive by hand


@dataclass(frozen=True)
class OutboxEvent:
    """An event to publish once the transaction that carries it commits."""

    detail_type: str
    detail: dict[str, Any]
    key: str  # what orders it: the request id (or the exchange id for exchange-level events)
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def item(self, table: str, now: datetime, sequence: int) -> TransactWriteItemTypeDef:
        """The Put of a TransactWriteItems that records this event, the `sequence`-th about its
        request (or exchange)."""
        detail = {
            **self.detail,
            "eventId": self.event_id,
            "sequence": sequence,
            "occurredAt": iso(now),
        }
        return {
            "Put": {
                "TableName": table,
                "Item": {
                    "pk": {"S": f"{OUTBOX_PREFIX}{self.key}"},
                    "sk": {"S": f"{now.timestamp():017.6f}#{self.event_id}"},
                    "eventId": {"S": self.event_id},
                    "detailType": {"S": self.detail_type},
                    "detail": {"S": json.dumps(detail, separators=(",", ":"))},
                    "ttl": {"N": str(int((now + RETENTION).timestamp()))},
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }


@dataclass(frozen=True)
class Envelope:
    """An outbox item as the relay reads it off the stream."""

    event_id: str
    detail_type: str
    detail: str  # JSON, as written


def envelope_from_stream(record: dict[str, Any]) -> Envelope | None:
    """The outbox event a DynamoDB stream record carries, or None for any other record."""
    if record.get("eventName") != "INSERT":
        return None
    image = (record.get("dynamodb") or {}).get("NewImage") or {}
    if not image.get("pk", {}).get("S", "").startswith(OUTBOX_PREFIX):
        return None
    return Envelope(image["eventId"]["S"], image["detailType"]["S"], image["detail"]["S"])
