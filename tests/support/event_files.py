"""The events/ files as they would arrive now.

The files keep fixed times: an example reads best with a real date, and a file that changed
every day could not be reviewed. Whatever invokes them moves every time in them to now first:
the webhook body's `created` and `timestamp` (then signs the new body again, when the file's
signature verified under the given secret), an EventBridge event's `time` (and its detail's
`requestedAt` / `occurredAt` / `reauthorizedAt`: the service's own events), SES's times in an
SES event (`mail.timestamp`, `bounce.timestamp` / `complaint.timestamp`), API Gateway's
`requestTime` and `requestTimeEpoch`, and in an SQS event (the platform webhook queue's) each
record's body, an EventBridge event, moved the same way (its `md5OfBody` and SQS's
`SentTimestamp` / `ApproximateFirstReceiveTimestamp` with it). Nothing else changes.

Without it, webhook-dwolla.json is answered "stale" once its `created` is older than Dwolla's
72 h of retries (plus an hour): the test would check a different path on every day after the
file was written.

By hand, for `sam local invoke -e`:

    PYTHONPATH=layers/reauth .venv/bin/python -m tests.support.event_files \
        events/webhook-dwolla.json > /tmp/webhook.json
"""

from __future__ import annotations

import hashlib
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from tests.support.webhooks import SIGNATURE_HEADER, sign

WEBHOOK_TIMES = ("created", "timestamp")
DETAIL_TIMES = ("requestedAt", "occurredAt", "reauthorizedAt")  # the service's own, in ms
SES_TIMED = ("mail", "bounce", "complaint")  # the parts of an SES event with a `timestamp`


def dwolla_time(moment: datetime) -> str:
    """Dwolla's format: 2024-11-18T18:48:11.357Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def as_of(event: dict, now: datetime, webhook_secret: str) -> dict:
    """A copy of `event` with every time in it moved to `now` (UTC)."""
    now = now.astimezone(UTC)
    moved = json.loads(json.dumps(event))
    if "time" in moved:  # EventBridge (and the schedule): to the second
        moved["time"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        detail = moved.get("detail")
        for name in DETAIL_TIMES:
            if isinstance(detail, dict) and name in detail:
                detail[name] = dwolla_time(now)
    if moved.get("source") == "aws.ses":
        for part in SES_TIMED:
            timed = (moved.get("detail") or {}).get(part)
            if isinstance(timed, dict) and "timestamp" in timed:
                timed["timestamp"] = dwolla_time(now)  # SES's format is the same
    context = moved.get("requestContext")
    if isinstance(context, dict) and "requestTimeEpoch" in context:  # API Gateway REST
        context["requestTime"] = now.strftime("%d/%b/%Y:%H:%M:%S +0000")
        context["requestTimeEpoch"] = int(now.timestamp() * 1000)
    if SIGNATURE_HEADER in (moved.get("headers") or {}):
        _move_webhook(moved, now, webhook_secret)
    for record in moved.get("Records") or []:
        if isinstance(record, dict) and record.get("eventSource") == "aws:sqs":
            _move_sqs_record(record, now, webhook_secret)
    return moved


SQS_TIMES = ("SentTimestamp", "ApproximateFirstReceiveTimestamp")  # epoch milliseconds


def _move_sqs_record(record: dict, now: datetime, webhook_secret: str) -> None:
    """An SQS record whose body is an EventBridge event (the rule's target): the body moved."""
    body = as_of(json.loads(record["body"]), now, webhook_secret)
    record["body"] = json.dumps(body, separators=(",", ":"))
    record["md5OfBody"] = hashlib.md5(record["body"].encode()).hexdigest()  # noqa: S324 (SQS's)
    attributes = record.get("attributes") or {}
    for name in SQS_TIMES:
        if name in attributes:
            attributes[name] = str(int(now.timestamp() * 1000))


def _move_webhook(event: dict, now: datetime, secret: str) -> None:
    body = json.loads(event["body"])
    for name in WEBHOOK_TIMES:
        if name in body:
            body[name] = dwolla_time(now)
    raw = json.dumps(body, separators=(",", ":"))
    signed = event["headers"][SIGNATURE_HEADER] == sign(event["body"], secret)
    event["body"] = raw
    if signed:  # a file signed wrongly stays wrong
        event["headers"][SIGNATURE_HEADER] = sign(raw, secret)
        event["multiValueHeaders"][SIGNATURE_HEADER] = [sign(raw, secret)]


def as_of_now(path: Path, directory: Path, webhook_secret: str) -> Path:
    """`path` moved to now, written under the same name in `directory`."""
    moved = as_of(json.loads(path.read_text()), datetime.now(UTC), webhook_secret)
    target = directory / path.name
    target.write_text(json.dumps(moved, indent=2) + "\n")
    return target


if __name__ == "__main__":
    from local.stack import LOCAL_DWOLLA

    moved = as_of(
        json.loads(Path(sys.argv[1]).read_text()), datetime.now(UTC), LOCAL_DWOLLA.webhook_secret
    )
    print(json.dumps(moved, indent=2))
