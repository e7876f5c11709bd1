"""The catch-up of Dwolla's events (`GET /events`: newest first, offset/limit pages) that no
webhook brought. However a run ends (a page Dwolla refuses, the end of the run's pages, a crash)
the next runs read every event it did not, new events arriving in between move no unread one out
of reach, and each re-authentication news is recorded exactly once.

Pages are small here (PAGE events, MAX_PAGES per run) so that a backlog of a few dozen events
outlasts a run. Events are written four at a time with one `created`, as Dwolla writes several
in one millisecond, so page boundaries fall among events of equal time."""

import time
import uuid
from datetime import datetime, timedelta

import pytest
import requests

from reauth.webhooks import REAUTH_TOPIC
from tests.support.apigw import LambdaContext, scheduled_event

PAGE, MAX_PAGES = 10, 3
SAME_MILLISECOND = 4  # events written at one instant


@pytest.fixture(autouse=True)
def small_pages(monkeypatch):
    from reauth import webhooks

    monkeypatch.setattr(webhooks, "PAGE", PAGE)
    monkeypatch.setattr(webhooks, "MAX_PAGES", MAX_PAGES)


def _add_events(dwolla, count: int) -> list[str]:
    """`count` new events in Dwolla's list, every other one re-authentication news for an
    exchange of its own; the ids of the news."""
    news = []
    for start in range(0, count, SAME_MILLISECOND):
        batch = [
            {
                "topic": REAUTH_TOPIC if i % 2 == 0 else "customer_created",
                "resourceId": str(uuid.uuid4()),
                "customerId": str(uuid.uuid4()),
            }
            for i in range(start, min(count, start + SAME_MILLISECOND))
        ]
        answer = requests.post(f"{dwolla.base_url}/_admin/events", json=batch, timeout=10)
        answer.raise_for_status()
        news += [event["id"] for event in answer.json() if event["topic"] == REAUTH_TOPIC]
    return news


def _catch_up(functions) -> int:
    """One scheduled run; the number of events it read."""
    return functions.api.handler(scheduled_event(), LambdaContext())["eventsRead"]


def _recorded(published) -> list[str]:
    """The Dwolla event ids of the "Exchange Reauth Required" news published so far."""
    return [
        event["detail"]["webhookId"]
        for event in published()
        if event["detail-type"] == "Exchange Reauth Required"
    ]


@pytest.mark.parametrize(
    "fault", [{"status": 429, "retryAfter": 0}, {"status": 503}], ids=["429", "503"]
)
def test_a_page_dwolla_refuses_is_read_by_the_next_run(functions, dwolla, published, fault):
    news = _add_events(dwolla, 24)  # pages of 10, 10, 4; the first boundary splits a millisecond
    dwolla.inject_fault("/events", method="GET", times=10, query={"offset": str(PAGE)}, **fault)

    first = _catch_up(functions)
    dwolla.clear_faults()
    second, third = _catch_up(functions), _catch_up(functions)

    assert first == PAGE  # page 1, then page 2 refused after the client's retries
    assert (first + second, third) == (24, 0)  # every event read once, none skipped
    assert sorted(_recorded(published)) == sorted(news)


def test_a_backlog_longer_than_a_run_is_read_over_several_runs_each_news_once(
    functions, dwolla, published
):
    backlog = PAGE * MAX_PAGES * 3 + 6  # three full runs and a bit
    news = _add_events(dwolla, backlog)

    reads = [_catch_up(functions) for _ in range(5)]

    assert reads == [PAGE * MAX_PAGES] * 3 + [6, 0]  # each run goes on where the last stopped
    assert sorted(_recorded(published)) == sorted(news)  # exactly once each


def test_a_run_killed_mid_way_keeps_the_pages_it_finished_and_loses_nothing(
    functions, dwolla, published, monkeypatch
):
    from reauth import runtime

    news = _add_events(dwolla, 24)
    repo = runtime.service().ctx.repo
    record = repo.record_reauth_required
    news_on_page_one = PAGE // 2
    calls: list[str] = []

    def killed_in_page_two(webhook_id, *args, **kwargs):
        calls.append(webhook_id)
        if len(calls) == news_on_page_one + 2:  # one news of page 2 recorded, then the end
            raise RuntimeError("the function was stopped")
        return record(webhook_id, *args, **kwargs)

    monkeypatch.setattr(repo, "record_reauth_required", killed_in_page_two)
    with pytest.raises(RuntimeError):
        _catch_up(functions)
    monkeypatch.setattr(repo, "record_reauth_required", record)

    assert _catch_up(functions) == 24 - PAGE  # page 1 is not read again; page 2 is, in full
    assert _catch_up(functions) == 0
    assert sorted(_recorded(published)) == sorted(news)  # the one recorded twice counts once


def test_events_arriving_while_a_pass_is_unfinished_push_no_unread_event_out_of_reach(
    functions, dwolla, published
):
    older = _add_events(dwolla, 24)
    dwolla.inject_fault("/events", method="GET", times=10, query={"offset": str(PAGE)}, status=503)
    first = _catch_up(functions)
    dwolla.clear_faults()
    newer = _add_events(dwolla, 2 * PAGE + 4)  # the unread events are 24 places further down

    reads = [first] + [_catch_up(functions) for _ in range(3)]

    assert reads[0] == PAGE
    assert sum(reads) == 24 + 2 * PAGE + 4 and reads[-1] == 0  # each event read once
    assert sorted(_recorded(published)) == sorted(older + newer)


def test_a_checkpoint_stored_before_cursors_is_where_the_first_pass_stops(functions, dwolla):
    _add_events(dwolla, 8)
    newest = datetime.fromisoformat(dwolla.events()[0]["created"])
    seen = newest + timedelta(microseconds=500)  # a time the earlier version could have stored
    functions.session.client("dynamodb").put_item(
        TableName=functions.resources.table_name,
        Item={
            "pk": {"S": "CHECKPOINT#dwolla-events"},
            "sk": {"S": "CHECKPOINT"},
            "newest": {"N": str(seen.timestamp())},
        },
    )
    time.sleep(0.01)  # the next events are newer than `seen`
    _add_events(dwolla, 5)

    assert (_catch_up(functions), _catch_up(functions)) == (5, 0)
