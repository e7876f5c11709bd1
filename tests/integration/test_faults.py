"""Faults at Dwolla and crashes mid-create, over real HTTP (moto server, the Dwolla sandbox).

For every fault kind the sandbox can inject, on every Dwolla call a use case makes, the caller
gets the documented answer, DynamoDB holds no half-written session, every attempt of the session
POST carried the same Idempotency-Key, and a retry with the caller's key ends with exactly one
session, at Dwolla and here. Retries are bounded by attempts and by the invocation's remaining
time, and honour Retry-After.
"""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import CALLBACK_URL
from tests.support.apigw import LambdaContext, eventbridge_event, rest_event
from tests.support.flow import location

SESSION_POST = "/exchanges/*/exchange-sessions"

# (case id, where, fault, expected final answer when the fault persists)
PERSISTENT_FAULTS = [
    ("post-500", ("POST", SESSION_POST), {"status": 500}, (503, "DwollaUnavailable")),
    ("post-502", ("POST", SESSION_POST), {"status": 502}, (503, "DwollaUnavailable")),
    ("post-503", ("POST", SESSION_POST), {"status": 503}, (503, "DwollaUnavailable")),
    ("post-504", ("POST", SESSION_POST), {"status": 504}, (503, "DwollaUnavailable")),
    (
        "post-429",
        ("POST", SESSION_POST),
        {"status": 429, "retryAfter": 0},
        (503, "DwollaUnavailable"),
    ),
    ("post-409", ("POST", SESSION_POST), {"status": 409}, (503, "DwollaUnavailable")),
    ("post-drop", ("POST", SESSION_POST), {"drop": True}, (503, "DwollaUnavailable")),
    ("token-503", ("POST", "/token"), {"status": 503}, (503, "DwollaUnavailable")),
    ("token-drop", ("POST", "/token"), {"drop": True}, (503, "DwollaUnavailable")),
    ("read-503", ("GET", "/exchange-sessions/*"), {"status": 503}, (503, "DwollaUnavailable")),
    (
        "read-429",
        ("GET", "/exchange-sessions/*"),
        {"status": 429, "retryAfter": 0},
        (503, "DwollaUnavailable"),
    ),
    ("read-drop", ("GET", "/exchange-sessions/*"), {"drop": True}, (503, "DwollaUnavailable")),
    ("read-timeout", ("GET", "/exchange-sessions/*"), {"delay": 0.6}, (504, "DwollaTimeout")),
    ("post-timeout", ("POST", SESSION_POST), {"delay": 0.6}, None),  # see the test
]
# (case id, where, fault, how many times): Dwolla recovers within the client's attempts.
TRANSIENT_FAULTS = [
    ("post-500x3", ("POST", SESSION_POST), {"status": 500}, 3),
    ("post-503x1", ("POST", SESSION_POST), {"status": 503}, 1),
    ("post-429x2", ("POST", SESSION_POST), {"status": 429, "retryAfter": 0}, 2),
    ("post-dropx2", ("POST", SESSION_POST), {"drop": True}, 2),
    ("post-timeoutx1", ("POST", SESSION_POST), {"delay": 0.6, "drop": True}, 1),
    ("token-503x2", ("POST", "/token"), {"status": 503}, 2),
    ("read-503x3", ("GET", "/exchange-sessions/*"), {"status": 503}, 3),
    ("read-dropx1", ("GET", "/exchange-sessions/*"), {"drop": True}, 1),
    ("read-timeoutx1", ("GET", "/exchange-sessions/*"), {"delay": 0.6}, 1),
]
KEY = {"Idempotency-Key": "order-7-reauth"}


class DeadlineContext(LambdaContext):
    """A Lambda context whose remaining time runs down with the clock, like Lambda's."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self._deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@pytest.fixture
def client(functions):
    """The Dwolla client inside the function's container, with a short read timeout (so the
    sandbox's delay faults are timeouts) and a record of every wait between attempts."""
    import urllib3

    from reauth import runtime

    dwolla = runtime.service()._dwolla
    dwolla._timeout = urllib3.Timeout(connect=1.0, read=0.3)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    dwolla._sleep = sleep
    dwolla.waits = waits
    return dwolla


def _items(functions) -> list[dict]:
    db = functions.session.client("dynamodb")
    return db.scan(TableName=functions.resources.table_name, ConsistentRead=True)["Items"]


def _kinds(functions) -> list[str]:
    return sorted(item["pk"]["S"].split("#")[0] for item in _items(functions))


def _session_posts(dwolla, exchange_id: str) -> list[dict]:
    """This test's session POSTs (a delayed request of the test before may be logged late)."""
    return [
        r
        for r in dwolla.requests()
        if r["method"] == "POST" and r["path"] == f"/exchanges/{exchange_id}/exchange-sessions"
    ]


def _assert_one_session_everywhere(functions, dwolla, session_id: str) -> None:
    sessions = dwolla.exchange_sessions()
    (mine,) = [s for s in sessions if s["id"] == session_id]
    assert [s["id"] for s in sessions if s["exchangeId"] == mine["exchangeId"]] == [session_id]
    assert mine["redirectUrl"] == CALLBACK_URL
    assert _kinds(functions) == ["EXCHANGE", "IDEMPOTENCY", "SESSION"]


@pytest.mark.parametrize(
    ("where", "fault", "expected"),
    [case[1:] for case in PERSISTENT_FAULTS],
    ids=[case[0] for case in PERSISTENT_FAULTS],
)
def test_persistent_fault_answers_the_documented_code_stores_nothing_and_a_retry_recovers(
    api, dwolla, functions, client, published, where, fault, expected
):
    exchange = dwolla.seed_exchange("mx")
    published()
    dwolla.clear_requests()
    method, path = where
    dwolla.inject_fault(path, method=method, times=50, **fault)

    status, body, _ = api.create(exchange["id"], None, KEY)

    if expected is None:
        # The POST's first attempt times out while Dwolla goes on creating the session; the
        # retries with the same key meet "still processing" (409), then the replayed 201.
        assert status in (201, 503), body
    else:
        assert (status, body["code"]) == expected
        assert set(body) == {"code", "message", "requestId"}
        assert _items(functions) == []  # no half-written session, exchange or idempotency record
        assert published() == []
    posts = _session_posts(dwolla, exchange["id"])
    assert len(posts) <= 4  # RetryPolicy.max_attempts
    assert len({p["idempotencyKey"] for p in posts}) <= 1

    dwolla.clear_faults()
    again_status, again, _ = api.create(exchange["id"], None, KEY)

    assert again_status in (200, 201)
    _assert_one_session_everywhere(functions, dwolla, again["id"])
    keys = {p["idempotencyKey"] for p in _session_posts(dwolla, exchange["id"])}
    assert len(keys) == 1  # the caller's retry reached Dwolla with the very same key
    created = [e for e in published() if e["detail-type"] == "Reauth Session Created"]
    assert len(created) == 1  # one session, announced once


@pytest.mark.parametrize(
    ("where", "fault", "times"),
    [case[1:] for case in TRANSIENT_FAULTS],
    ids=[case[0] for case in TRANSIENT_FAULTS],
)
def test_transient_fault_is_retried_with_the_same_idempotency_key_into_one_session(
    api, dwolla, functions, client, where, fault, times
):
    exchange = dwolla.seed_exchange("mx")
    dwolla.clear_requests()
    method, path = where
    dwolla.inject_fault(path, method=method, times=times, **fault)

    status, body, _ = api.create(exchange["id"], None, KEY)

    assert status == 201, body
    _assert_one_session_everywhere(functions, dwolla, body["id"])
    posts = _session_posts(dwolla, exchange["id"])
    assert len({p["idempotencyKey"] for p in posts}) == 1
    assert client.waits, "the fault was retried after a wait"


def test_retry_after_is_honoured(api, dwolla, functions, client):
    exchange = dwolla.seed_exchange("mx")
    dwolla.inject_fault(SESSION_POST, method="POST", times=1, status=429, retryAfter=1)

    status, body, _ = api.create(exchange["id"], None, KEY)

    assert status == 201
    assert client.waits == [1.0]  # exactly Dwolla's Retry-After, not a backoff guess


def test_backoff_grows_exponentially_with_jitter_within_the_policy(api, dwolla, client):
    exchange = dwolla.seed_exchange("mx")
    dwolla.inject_fault(SESSION_POST, method="POST", times=50, status=503)

    api.create(exchange["id"], None, KEY)

    policy = client._retry
    assert len(client.waits) == policy.max_attempts - 1
    for attempt, wait in enumerate(client.waits, start=1):
        assert 0 <= wait <= min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1))


def _create_with_deadline(functions, exchange_id: str, seconds: float) -> tuple[int, dict, float]:
    started = time.monotonic()
    answer = functions.api.handler(
        rest_event("POST", f"/exchanges/{exchange_id}/reauth-sessions", headers=KEY),
        DeadlineContext(seconds),
    )
    return answer["statusCode"], json.loads(answer["body"]), time.monotonic() - started


def test_retries_stop_when_the_invocation_has_no_time_left_for_another_attempt(
    functions, dwolla, client
):
    exchange = dwolla.seed_exchange("mx")
    dwolla.clear_requests()
    dwolla.inject_fault(SESSION_POST, method="POST", times=50, status=503)
    attempt = 1.0 + 0.3  # connect + read timeout of one attempt

    # Less time than one full attempt: the first is made, no retry can fit after it.
    status, body, elapsed = _create_with_deadline(functions, exchange["id"], attempt - 0.1)

    assert (status, body["code"]) == (503, "DwollaUnavailable")
    assert (
        len(_session_posts(dwolla, exchange["id"])) == 1
    )  # no wait could leave room for one more attempt
    assert client.waits == []
    assert _items(functions) == []


def test_a_retry_after_beyond_the_remaining_time_is_not_waited_for(functions, dwolla, client):
    exchange = dwolla.seed_exchange("mx")
    dwolla.clear_requests()
    dwolla.inject_fault(SESSION_POST, method="POST", times=50, status=429, retryAfter=30)

    status, body, elapsed = _create_with_deadline(functions, exchange["id"], 10)

    assert (status, body["code"]) == (503, "DwollaUnavailable")
    assert len(_session_posts(dwolla, exchange["id"])) == 1
    assert elapsed < 5


def test_with_time_left_the_retries_go_on_until_the_attempts_are_spent(functions, dwolla, client):
    exchange = dwolla.seed_exchange("mx")
    dwolla.clear_requests()
    dwolla.inject_fault(SESSION_POST, method="POST", times=50, status=503)

    status, body, elapsed = _create_with_deadline(functions, exchange["id"], 25)

    assert (status, body["code"]) == (503, "DwollaUnavailable")
    assert len(_session_posts(dwolla, exchange["id"])) == 4


# ---- the browser's and the platform's completions ----------------------------------------------
@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ({"status": 503}, "DwollaUnavailable"),
        ({"status": 429, "retryAfter": 0}, "DwollaUnavailable"),
        ({"drop": True}, "DwollaUnavailable"),
        ({"delay": 0.6}, "DwollaTimeout"),
    ],
    ids=["503", "429", "drop", "timeout"],
)
def test_outage_during_the_callback_changes_nothing_and_a_reload_completes(
    api, browser, dwolla, functions, client, published, fault, code
):
    exchange = dwolla.seed_exchange("mx")
    _, session, _ = api.create(exchange["id"])
    back = browser.visit_bank(location(browser.get(session["startUrl"])))
    published()
    dwolla.inject_fault("/exchanges/*", method="GET", times=50, **fault)

    failed = browser.get(back)

    # A browser gets the HTML "reload in a moment" page, whatever the fault (it was {code}).
    assert failed["statusCode"] == 503
    assert failed["body"].startswith("<!doctype html>") and "reload" in failed["body"]
    assert code not in failed["body"]
    assert api.session(session["id"])[1]["status"] == "pending"
    assert published() == []

    dwolla.clear_faults()
    landed = browser.get(back)  # the customer reloads the page

    assert landed["statusCode"] == 302
    assert api.session(session["id"])[1]["status"] == "reauthorized"
    assert [e["detail-type"] for e in published()] == ["Exchange Reauthorized"]


@pytest.mark.parametrize(
    ("fault", "expected"),
    [({"status": 500}, (503, "DwollaUnavailable")), ({"delay": 0.6}, (504, "DwollaTimeout"))],
    ids=["500", "timeout"],
)
def test_outage_during_complete_changes_nothing_and_the_retry_completes(
    api, dwolla, client, published, fault, expected
):
    exchange = dwolla.seed_exchange("plaid")
    _, session, _ = api.create(exchange["id"])
    dwolla.complete_exchange_session(session["id"])
    published()
    dwolla.inject_fault("/exchanges/*", method="GET", times=50, **fault)

    status, body, _ = api.complete(session["id"], {})

    assert (status, body["code"]) == expected
    assert api.session(session["id"])[1]["status"] == "pending"
    dwolla.clear_faults()
    assert api.complete(session["id"], {})[1]["status"] == "reauthorized"
    assert [e["detail-type"] for e in published()] == ["Exchange Reauthorized"]


# ---- a crash between Dwolla's 201 and the DynamoDB write ---------------------------------------
class SimulatedCrash(RuntimeError):
    pass


@pytest.fixture
def crash_once(functions):
    """Make the next TransactWriteItems fail once, before (`"before-call"`) or after
    (`"after-call"`: committed, the answer lost) it reaches DynamoDB."""
    from reauth import runtime

    db = runtime.service()._repo._db

    def arm(when: str) -> None:
        armed = {"left": 1}

        def crash(**_):
            if armed["left"]:
                armed["left"] -= 1
                raise SimulatedCrash("the container died here")

        db.meta.events.register(f"{when}.dynamodb.TransactWriteItems", crash)

    return arm


def test_crash_before_the_write_leaves_nothing_and_the_retry_makes_one_session(
    api, dwolla, functions, crash_once, published
):
    exchange = dwolla.seed_exchange("mx")
    published()
    crash_once("before-call")

    status, body, _ = api.create(exchange["id"], None, KEY)

    assert (status, body["code"]) == (500, "InternalError")
    assert set(body) == {"code", "message", "requestId"}
    assert _items(functions) == []
    assert len(dwolla.exchange_sessions()) == 1  # Dwolla made one; nobody here knows it yet

    again_status, again, _ = api.create(exchange["id"], None, KEY)

    assert again_status == 201
    _assert_one_session_everywhere(functions, dwolla, again["id"])
    assert [e["detail-type"] for e in published()] == ["Reauth Session Created"]
    assert again["startUrl"]


def test_crash_after_the_write_is_answered_by_the_retry_as_a_replay(
    api, dwolla, functions, browser, crash_once, published
):
    exchange = dwolla.seed_exchange("mx")
    published()
    crash_once("after-call")

    status, body, _ = api.create(exchange["id"], None, KEY)

    assert (status, body["code"]) == (500, "InternalError")
    again_status, again, _ = api.create(exchange["id"], None, KEY)

    assert again_status == 200
    _assert_one_session_everywhere(functions, dwolla, again["id"])
    assert browser.get(again["startUrl"])["statusCode"] == 302  # the replay's link works


def test_crash_handling_an_event_raises_for_lambda_retry_which_makes_one_session(
    functions, api, dwolla, crash_once, published
):
    exchange = dwolla.seed_exchange("mx")
    event = eventbridge_event("Exchange Reauth Requested", {"exchangeId": exchange["id"]})
    published()
    crash_once("before-call")

    with pytest.raises(SimulatedCrash):
        functions.api.handler(event, LambdaContext())
    assert _items(functions) == []

    result = functions.api.handler(event, LambdaContext())  # Lambda's retry of the same event

    assert result["replayed"] is False
    _assert_one_session_everywhere(functions, dwolla, result["sessionId"])
    created = published()
    assert [e["detail-type"] for e in created] == ["Reauth Session Created"]
    assert created[0]["detail"]["startUrl"]


def test_crash_after_the_write_handling_an_event_still_delivers_a_start_link(
    functions, dwolla, crash_once, published, clock
):
    exchange = dwolla.seed_exchange("mx")
    event = eventbridge_event("Exchange Reauth Requested", {"exchangeId": exchange["id"]})
    published()
    crash_once("after-call")

    with pytest.raises(SimulatedCrash):
        functions.api.handler(event, LambdaContext())
    soon = functions.api.handler(event, LambdaContext())  # a duplicate while it could be running
    assert published() == []
    clock.advance(seconds=61)  # Lambda redelivers a failed event after a minute or more
    later = functions.api.handler(event, LambdaContext())
    again = functions.api.handler(event, LambdaContext())

    created = [e for e in published() if e["detail-type"] == "Reauth Session Created"]
    assert len(created) == 1 and created[0]["detail"]["startUrl"]
    assert soon["sessionId"] == later["sessionId"] == again["sessionId"]
    assert len(dwolla.exchange_sessions()) == 1
