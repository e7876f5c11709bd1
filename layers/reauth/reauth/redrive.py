"""Re-driving the outbox: a window of OUTBOX# items published to the bus again, as written.

The relay retries an event for 6 h after it was written (template.yaml); then Lambda gives the
batch up, and the dead-letter queue receives only its shard and sequence numbers, not its
events. The events themselves are still in the table, as the outbox item each was written as,
for outbox.RETENTION (7 days). This command publishes them again:

    python -m reauth.redrive --table T --bus B --since 2026-12-05T10:00:00Z
        [--until <ISO time>] [--request <id>] [--source dwolla-reauth] [--dry-run]

Each event goes out with the detail-type and the detail JSON it was written with (the same
`eventId`: consumers dedupe on it), a request's events in the order of their outbox sort key
(the time written; the detail's `sequence`, where it has one, breaks a tie within one
transaction). It writes nothing, so running it twice, or over a window partly delivered already,
only sends events consumers already drop by `eventId`.

Finding a window across requests is a Scan of the table with a filter: it reads every item (a
cost in proportion to the table, not to the window), fine for an operator's re-drive, not for a
schedule. With --request (a request id, or the exchange id of an exchange-level event) it is one
Query of that outbox partition.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .events import MAX_BATCH, EventPublisher
from .outbox import OUTBOX_PREFIX

if TYPE_CHECKING:  # the stubs are a development dependency; the layer ships no boto3 types
    from mypy_boto3_dynamodb import DynamoDBClient

DEFAULT_SOURCE = "dwolla-reauth"  # template.yaml's EventSource default
TRIES = 5  # PutEvents rounds for entries EventBridge refuses for now (throttling), per batch


@dataclass(frozen=True)
class OutboxItem:
    """One OUTBOX# item as written: `pk = OUTBOX#<key>`, `sk = <epoch seconds>#<eventId>`."""

    key: str  # the request id (or the exchange id of an exchange-level event)
    sort_key: str
    event_id: str
    detail_type: str
    detail: str  # JSON, as written

    @property
    def written_at(self) -> datetime:
        return datetime.fromtimestamp(float(self.sort_key.split("#", 1)[0]), UTC)

    def order(self) -> tuple[datetime, float, str]:
        """Its place in its request's events: the outbox sort key's time, then `sequence`."""
        sequence = json.loads(self.detail).get("sequence")
        tie = float(sequence) if isinstance(sequence, int | float) else 0.0
        return self.written_at, tie, self.sort_key


def _item(raw: dict[str, Any]) -> OutboxItem:
    return OutboxItem(
        key=raw["pk"]["S"].removeprefix(OUTBOX_PREFIX),
        sort_key=raw["sk"]["S"],
        event_id=raw["eventId"]["S"],
        detail_type=raw["detailType"]["S"],
        detail=raw["detail"]["S"],
    )


class OutboxReader:
    """The outbox items of a time window, read from the table."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._db = client
        self._table = table

    def window(self, since: datetime, until: datetime, key: str | None = None) -> list[OutboxItem]:
        """The items written from `since` to `until` (both included), of one request's outbox
        (`key`) or of all, in the order they are re-driven."""
        found = [item for item in map(_item, self._pages(key)) if since <= item.written_at <= until]
        return sorted(found, key=OutboxItem.order)

    def _pages(self, key: str | None) -> Iterator[dict[str, Any]]:
        if key is not None:
            paginator = self._db.get_paginator("query")
            pages = paginator.paginate(
                TableName=self._table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"{OUTBOX_PREFIX}{key}"}},
                ConsistentRead=True,
            )
        else:  # every item is read; the filter only trims what comes back
            pages = self._db.get_paginator("scan").paginate(
                TableName=self._table,
                FilterExpression="begins_with(pk, :outbox)",
                ExpressionAttributeValues={":outbox": {"S": OUTBOX_PREFIX}},
                ConsistentRead=True,
            )
        for page in pages:
            yield from page.get("Items", [])


@dataclass
class Redriven:
    """What a re-drive did: the events published, those EventBridge refused for good (with its
    error code), and where it stopped when it could not go on (the first event not published)."""

    published: int = 0
    refused: list[tuple[OutboxItem, str]] = field(default_factory=list)
    stopped_at: OutboxItem | None = None
    reason: str = ""


def redrive(
    items: Sequence[OutboxItem],
    publisher: EventPublisher,
    *,
    sleep: Callable[[float], None] = time.sleep,
    tries: int = TRIES,
) -> Redriven:
    """Publish `items` in order, up to ten per PutEvents. An entry refused for now (throttling)
    is sent again, and the batch goes on from it (what followed it may go twice: same eventId);
    after `tries` rounds, or when a call fails as a whole, it stops and says where."""
    done = Redriven()
    position, attempt = 0, 0
    while position < len(items):
        chunk = items[position : position + MAX_BATCH]
        try:
            refusals = publisher.publish_batch([(i.detail_type, i.detail) for i in chunk])
        except Exception as error:
            done.stopped_at, done.reason = chunk[0], f"PutEvents failed: {error}"
            return done
        retryable = next((r for r in refusals if r.retryable), None)
        upto = retryable.index if retryable else len(chunk)
        for refusal in refusals:
            if refusal.index < upto:
                done.refused.append((chunk[refusal.index], refusal.code))
        done.published += upto - sum(1 for r in refusals if r.index < upto)
        position += upto
        if retryable is None:
            attempt = 0
            continue
        attempt += 1
        if attempt >= tries:
            done.stopped_at, done.reason = chunk[upto], f"EventBridge refused: {retryable.code}"
            return done
        sleep(min(2.0**attempt, 30.0))
    return done


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # no zone given: UTC


def _arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m reauth.redrive",
        description="Publish the outbox's events of a time window to the bus again, as written "
        "(the same eventIds: consumers dedupe). Writes nothing; safe to run twice.",
    )
    parser.add_argument("--table", required=True, help="the table (the stack's TableName output)")
    parser.add_argument("--bus", required=True, help="the bus (the stack's EventBusName output)")
    parser.add_argument(
        "--since", required=True, type=_moment, help="ISO 8601 time; no zone means UTC"
    )
    parser.add_argument("--until", type=_moment, help="ISO 8601 time (default: now)")
    parser.add_argument("--request", help="one request's events only (or an exchange id)")
    parser.add_argument("--source", default=DEFAULT_SOURCE, help="the stack's EventSource")
    parser.add_argument("--region", help="the AWS region (default: the environment's)")
    parser.add_argument("--dry-run", action="store_true", help="list the events; publish nothing")
    return parser.parse_args(argv)


def _line(item: OutboxItem) -> str:
    return f"{item.written_at.isoformat()}  {item.key}  {item.detail_type}  {item.event_id}"


def main(argv: Sequence[str] | None = None) -> int:
    """The command: 0 when every event of the window was published, 1 otherwise."""
    import boto3

    args = _arguments(sys.argv[1:] if argv is None else argv)
    until = args.until or datetime.now(UTC)
    session = boto3.session.Session(region_name=args.region)
    items = OutboxReader(session.client("dynamodb"), args.table).window(
        args.since, until, args.request
    )
    for item in items:
        print(_line(item))
    window = f"{args.since.isoformat()} to {until.isoformat()}"
    if args.dry_run:
        print(f"dry run: {len(items)} events written {window} would be published", file=sys.stderr)
        return 0
    publisher = EventPublisher(session.client("events"), args.bus, args.source)
    done = redrive(items, publisher)
    print(f"published {done.published} of {len(items)} events written {window}", file=sys.stderr)
    for item, code in done.refused:
        print(f"refused for good ({code}): {_line(item)}", file=sys.stderr)
    if done.stopped_at is not None:
        resume = done.stopped_at.written_at.isoformat()
        print(f"stopped: {done.reason}; resume with --since {resume}", file=sys.stderr)
    return 0 if done.stopped_at is None and not done.refused else 1


if __name__ == "__main__":
    sys.exit(main())
