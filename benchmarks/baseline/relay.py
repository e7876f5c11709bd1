"""Baseline RelayFunction: the outbox's stream records in, one PutEvents per ten events out.
On a refused entry or a failed call Lambda retries the batch from the first event not sent."""

from __future__ import annotations

from . import core


def handler(event: dict, context) -> dict:
    pending = [
        (record["dynamodb"]["SequenceNumber"], record["dynamodb"]["NewImage"])
        for record in event.get("Records") or []
        if record.get("eventName") == "INSERT"
        and record["dynamodb"]["NewImage"]["pk"]["S"].startswith("OUTBOX#")
    ]
    for start in range(0, len(pending), 10):
        chunk = pending[start : start + 10]
        answer = core.client("events").put_events(
            Entries=[
                {
                    "EventBusName": core.BUS,
                    "Source": core.SOURCE,
                    "DetailType": image["detailType"]["S"],
                    "Detail": image["detail"]["S"],
                }
                for _, image in chunk
            ]
        )
        if answer.get("FailedEntryCount"):
            failed = next(i for i, e in enumerate(answer["Entries"]) if e.get("ErrorCode"))
            return {"batchItemFailures": [{"itemIdentifier": chunk[failed][0]}]}
    return {"batchItemFailures": []}
