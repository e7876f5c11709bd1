"""The re-drive (python -m reauth.redrive): what the relay gave up on after its window (the
dead-letter queue holds only the batch's shard and sequence numbers) is published again from the
outbox items, kept 7 days: a window of them, each with its detail-type and detail as written
(the same eventId, so consumers dedupe), a request's events in the order of their outbox sort
key. It writes nothing: running it twice only sends the same events again.

Here the relay never runs: the events are in the outbox only, as after the relay gave them up.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta

from local.provision import drain_events
from reauth import redrive
from reauth.events import EventPublisher
from reauth.model import utcnow


def _outbox(functions) -> dict[str, dict]:
    """Every outbox item in the table, by eventId."""
    db = functions.session.client("dynamodb")
    items = db.scan(TableName=functions.resources.table_name)["Items"]
    return {i["eventId"]["S"]: i for i in items if i["pk"]["S"].startswith("OUTBOX#")}


def _table(functions) -> list[dict]:
    db = functions.session.client("dynamodb")
    items = db.scan(TableName=functions.resources.table_name)["Items"]
    return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def _run(functions, *args: str) -> int:
    resources = functions.resources
    return redrive.main(
        [
            *("--table", resources.table_name, "--bus", resources.event_bus_name),
            *("--source", resources.event_source, *args),
        ]
    )


def _tap(functions) -> list[dict]:
    return drain_events(functions.session, functions.resources.tap_queue_url)


def _window(start, end) -> list[str]:
    return ["--since", start.isoformat(), "--until", end.isoformat()]


def test_a_window_of_the_outbox_is_published_again_as_written_and_running_twice_is_safe(
    functions, api, dwolla, clock
):
    api.create(dwolla.seed_exchange("mx")["id"])  # before the window
    clock.advance(hours=2)
    start = clock.now()
    _, request, _ = api.create(dwolla.seed_exchange("plaid")["id"])
    api.complete(request["id"], {"error": "USER_CANCELLED"})
    end = clock.now() + timedelta(seconds=1)
    written = _outbox(functions)
    table = _table(functions)

    assert _run(functions, *_window(start, end)) == 0
    first = _tap(functions)
    assert _run(functions, *_window(start, end)) == 0  # again: the same events, the same ids
    second = _tap(functions)

    assert [e["detail-type"] for e in first] == ["Reauth Session Created", "Reauth Attempt Failed"]
    for event in first:
        item = written[event["detail"]["eventId"]]
        assert event["detail"] == json.loads(item["detail"]["S"])  # the detail as written
        assert event["detail-type"] == item["detailType"]["S"]
        assert event["source"] == functions.resources.event_source
        assert item["pk"]["S"] == f"OUTBOX#{request['id']}"
    ids = [e["detail"]["eventId"] for e in first]
    assert sorted(ids) == sorted(e["detail"]["eventId"] for e in second)  # consumers dedupe
    assert _table(functions) == table  # it wrote nothing


def test_one_requests_events_only_and_a_dry_run_publishes_nothing(
    functions, api, dwolla, clock, capsys
):
    start = clock.now() - timedelta(seconds=1)
    _, one, _ = api.create(dwolla.seed_exchange("mx")["id"])
    _, other, _ = api.create(dwolla.seed_exchange("mx")["id"])
    end = clock.now() + timedelta(seconds=1)
    capsys.readouterr()  # the handlers' own output (their metrics)

    assert _run(functions, *_window(start, end), "--dry-run") == 0
    assert _tap(functions) == []
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 2 and {one["id"], other["id"]} <= {w for ln in listed for w in ln.split()}

    assert _run(functions, *_window(start, end), "--request", one["id"]) == 0
    assert [e["detail"]["sessionId"] for e in _tap(functions)] == [one["id"]]


def _put(functions, key: str, at: datetime, detail: dict, detail_type="Reauth Attempt Failed"):
    """An outbox item in the outbox's own shape (`sk = <epoch seconds>#<eventId>`), written at
    `at`."""
    event_id = str(uuid.uuid4())
    functions.session.client("dynamodb").put_item(
        TableName=functions.resources.table_name,
        Item={
            "pk": {"S": f"OUTBOX#{key}"},
            "sk": {"S": f"{at.timestamp():017.6f}#{event_id}"},
            "eventId": {"S": event_id},
            "detailType": {"S": detail_type},
            "detail": {"S": json.dumps({**detail, "eventId": event_id}, separators=(",", ":"))},
            "ttl": {"N": str(int(at.timestamp()) + 7 * 86400)},
        },
    )
    return event_id


class Recording:
    """EventBridge, recording each PutEvents' entries on the way."""

    def __init__(self, client) -> None:
        self.client = client
        self.calls: list[list[dict]] = []

    def put_events(self, Entries):
        self.calls.append(Entries)
        return self.client.put_events(Entries=Entries)


def test_a_requests_events_go_in_the_order_of_their_outbox_sort_key(functions):
    request, other, now = str(uuid.uuid4()), str(uuid.uuid4()), utcnow()
    third = _put(functions, request, now - timedelta(minutes=1), {"n": 3})  # stored first
    first = _put(functions, request, now - timedelta(minutes=5), {"n": 1})
    interleaved = _put(functions, other, now - timedelta(minutes=3), {"n": 0})
    # one transaction's two events share a time: `sequence`, where the detail has it, decides
    second_b = _put(functions, request, now - timedelta(minutes=2), {"n": 2.5, "sequence": 3})
    second_a = _put(functions, request, now - timedelta(minutes=2), {"n": 2, "sequence": 2})
    outside = _put(functions, request, now - timedelta(hours=1), {"n": 0})  # before the window

    reader = redrive.OutboxReader(
        functions.session.client("dynamodb"), functions.resources.table_name
    )
    items = reader.window(now - timedelta(minutes=10), now)
    recording = Recording(functions.session.client("events"))
    publisher = EventPublisher(
        recording, functions.resources.event_bus_name, functions.resources.event_source
    )
    done = redrive.redrive(items, publisher)

    assert done.published == 5 and done.stopped_at is None and not done.refused
    sent = [json.loads(e["Detail"])["eventId"] for call in recording.calls for e in call]
    assert outside not in sent
    ours = [i for i in sent if i != interleaved]
    assert ours == [first, second_a, second_b, third]
    assert len(_tap(functions)) == 5


class Flaky:
    """PutEvents that throttles the entries named in `throttle` once each, then (when `down`)
    fails as a whole."""

    def __init__(self, throttle: set[int], down_after: int | None = None) -> None:
        self.throttle = throttle
        self.down_after = down_after
        self.calls: list[list[str]] = []

    def put_events(self, Entries):
        if self.down_after is not None and len(self.calls) >= self.down_after:
            raise ConnectionError("EventBridge unreachable")
        ids = [json.loads(e["Detail"])["n"] for e in Entries]
        self.calls.append(ids)
        codes = [("ThrottlingException" if n in self.throttle else None) for n in ids]
        self.throttle -= set(ids)
        return {
            "FailedEntryCount": sum(c is not None for c in codes),
            "Entries": [{"ErrorCode": c} if c else {"EventId": "x"} for c in codes],
        }


def _items(count: int) -> list[redrive.OutboxItem]:
    base = utcnow().timestamp()
    return [
        redrive.OutboxItem(
            "r", f"{base + n:017.6f}#e{n}", f"e{n}", "Reauth Attempt Failed", json.dumps({"n": n})
        )
        for n in range(count)
    ]


def test_a_throttled_entry_is_sent_again_and_the_batch_goes_on_from_it():
    bus, slept = Flaky(throttle={3}), []

    done = redrive.redrive(_items(12), EventPublisher(bus, "b", "s"), sleep=slept.append)

    assert bus.calls == [list(range(10)), list(range(3, 12))]  # 4-9 twice: the same ids
    assert done.published == 12 and done.stopped_at is None and slept == [2.0]


def test_a_bus_that_stays_down_stops_the_redrive_and_says_where_to_resume(capsys):
    items = _items(15)
    bus = Flaky(throttle=set(), down_after=1)

    done = redrive.redrive(items, EventPublisher(bus, "b", "s"), sleep=lambda _: None)

    assert done.published == 10
    assert done.stopped_at == items[10]  # the first event not published
    assert "unreachable" in done.reason
