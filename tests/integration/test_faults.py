"""Faults at Dwolla and crashes, over real HTTP (moto server, the Dwolla sandbox).

Three things the service does call Dwolla:
  creating a request   POST /token, POST /exchanges/{id}/exchange-sessions,
                       GET /exchange-sessions/{id}
  a start click that   the same (after asking whether the exchange was repaired elsewhere), when
  needs a new attempt  the request's current attempt was already handed to a browser
  verifying a claim    GET /exchanges/{id}, GET /customers/{id}/funding-sources,
                       GET /funding-sources/{id}/balance
For every fault kind the sandbox can inject, on each of those calls: a create answers the
documented code and stores nothing; a click answers the "reload in a moment" page and binds
nothing; a verification leaves the request `verifying` and a later read, the schedule or the
customer's reload finishes it. Every attempt of a session POST carries one Idempotency-Key, so a
retry (the caller's, or the customer's reload) ends with exactly one Dwolla session per attempt.
Retries are bounded by attempts and by the invocation's remaining time, and honour Retry-After.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import pytest

from reauth.dwolla import RetryPolicy
from tests.support.apigw import LambdaContext, eventbridge_event, rest_event, scheduled_event
from tests.support.constants import CALLBACK_URL, RETURN_URL
from tests.support.faults import hook_aws
from tests.support.flow import Browser, bank_url, header, location, plaid_config
from tests.support.functions import serve
from tests.support.table import table_items

SESSION_POST = "/exchanges/*/exchange-sessions"
SESSION_READ = "/exchange-sessions/*"
KEY = {"Idempotency-Key": "order-7-reauth"}

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
    ("read-503", ("GET", SESSION_READ), {"status": 503}, (503, "DwollaUnavailable")),
    (
        "read-429",
        ("GET", SESSION_READ),
        {"status": 429, "retryAfter": 0},
        (503, "DwollaUnavailable"),
    ),
    ("read-drop", ("GET", SESSION_READ), {"drop": True}, (503, "DwollaUnavailable")),
    ("read-timeout", ("GET", SESSION_READ), {"delay": 0.6}, (504, "DwollaTimeout")),
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
    ("read-503x3", ("GET", SESSION_READ), {"status": 503}, 3),
    ("read-dropx1", ("GET", SESSION_READ), {"drop": True}, 1),
    ("read-timeoutx1", ("GET", SESSION_READ), {"delay": 0.6}, 1),
]


class DeadlineContext(LambdaContext):
    """A Lambda context whose remaining time runs down with the clock, like Lambda's."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self._deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class DwollaSeams:
    """What the test gave the container's Dwolla client: its retry policy, and every wait
    between attempts it made."""

    policy: RetryPolicy
    waits: list[float] = field(default_factory=list)


@pytest.fixture
def client(functions, clock) -> DwollaSeams:
    """The function's container on the test's clock, its Dwolla client with a short read
    timeout (so the sandbox's delay faults are timeouts) and a record of every wait between
    attempts."""
    import urllib3

    seams = DwollaSeams(RetryPolicy())

    def sleep(seconds: float) -> None:
        seams.waits.append(seconds)
        time.sleep(seconds)

    serve(
        clock=clock.now,
        dwolla_timeout=urllib3.Timeout(connect=1.0, read=0.3),
        dwolla_retry=seams.policy,
        dwolla_sleep=sleep,
    )
    return seams


def _kinds(functions) -> list[str]:
    """The kinds of item in the table, but the outbox (each event's own item)."""
    kinds = (item["pk"]["S"].split("#")[0] for item in table_items(functions))
    return sorted(kind for kind in kinds if kind != "OUTBOX")


def _session_posts(dwolla, exchange_id: str) -> list[dict]:
    """This test's session POSTs (a delayed request of the test before may be logged late)."""
    return [
        r
        for r in dwolla.requests()
        if r["method"] == "POST" and r["path"] == f"/exchanges/{exchange_id}/exchange-sessions"
    ]


def _sessions_of(dwolla, exchange_id: str) -> list[dict]:
    return [s for s in dwolla.exchange_sessions() if s["exchangeId"] == exchange_id]


def _assert_one_request_everywhere(functions, dwolla, request: dict) -> None:
    (mine,) = _sessions_of(dwolla, request["exchangeId"])
    assert [a["id"] for a in request["attempts"]] == [mine["id"]]
    assert mine["redirectUrl"] == CALLBACK_URL
    assert _kinds(functions) == ["EXCHANGE", "IDEMPOTENCY", "REQUEST"]


def _kinds_published(published) -> list[str]:
    """Detail types, once per event (the relay delivers at least once: dedupe on eventId)."""
    seen, kinds = set(), []
    for event in published():
        event_id = event["detail"].get("eventId")
        if event_id not in seen or event_id is None:
            seen.add(event_id)
            kinds.append(event["detail-type"])
    return kinds


# ---- creating a request -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("where", "fault", "expected"),
    [case[1:] for case in PERSISTENT_FAULTS],
    ids=[case[0] for case in PERSISTENT_FAULTS],
)
def test_persistent_fault_at_create_answers_the_documented_code_stores_nothing_and_a_retry_recovers(
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
        assert table_items(functions) == []  # no request, exchange, idempotency record or event
        assert published() == []
    posts = _session_posts(dwolla, exchange["id"])
    assert len(posts) <= 4  # RetryPolicy.max_attempts
    assert len({p["idempotencyKey"] for p in posts}) <= 1

    dwolla.clear_faults()
    again_status, again, _ = api.create(exchange["id"], None, KEY)

    assert again_status in (200, 201)
    _assert_one_request_everywhere(functions, dwolla, again)
    keys = {p["idempotencyKey"] for p in _session_posts(dwolla, exchange["id"])}
    assert len(keys) == 1  # the caller's retry reached Dwolla with the very same key
    assert _kinds_published(published).count("Reauth Session Created") == 1  # announced once


@pytest.mark.parametrize(
    ("where", "fault", "times"),
    [case[1:] for case in TRANSIENT_FAULTS],
    ids=[case[0] for case in TRANSIENT_FAULTS],
)
def test_transient_fault_at_create_is_retried_with_the_same_idempotency_key_into_one_request(
    api, dwolla, functions, client, where, fault, times
):
    exchange = dwolla.seed_exchange("mx")
    dwolla.clear_requests()
    method, path = where
    dwolla.inject_fault(path, method=method, times=times, **fault)

    status, body, _ = api.create(exchange["id"], None, KEY)

    assert status == 201, body
    _assert_one_request_everywhere(functions, dwolla, body)
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

    policy = client.policy
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

    # The one attempt's answer (503) comes back in time on a quiet machine; on a loaded one its
    # timeout, cut to the little time left, may fire first (504). Either way: one try, no retry.
    assert (status, body["code"]) in ((503, "DwollaUnavailable"), (504, "DwollaTimeout"))
    assert len(_session_posts(dwolla, exchange["id"])) == 1
    assert client.waits == []
    assert table_items(functions) == []


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


# ---- a start click that needs a fresh attempt ---------------------------------------------------
# (case id, where, fault): Dwolla fails every time it is asked during the click.
CLICK_FAULTS = [
    ("post-500", ("POST", SESSION_POST), {"status": 500}),
    ("post-503", ("POST", SESSION_POST), {"status": 503}),
    ("post-429", ("POST", SESSION_POST), {"status": 429, "retryAfter": 0}),
    ("post-409", ("POST", SESSION_POST), {"status": 409}),
    ("post-drop", ("POST", SESSION_POST), {"drop": True}),
    ("post-timeout", ("POST", SESSION_POST), {"delay": 0.6}),
    ("read-503", ("GET", SESSION_READ), {"status": 503}),
    ("read-429", ("GET", SESSION_READ), {"status": 429, "retryAfter": 0}),
    ("read-drop", ("GET", SESSION_READ), {"drop": True}),
    ("read-timeout", ("GET", SESSION_READ), {"delay": 0.6}),
    ("token-503", ("POST", "/token"), {"status": 503}),
    ("token-drop", ("POST", "/token"), {"drop": True}),
]


def _request_started_elsewhere(api, dwolla, functions) -> tuple[dict, dict]:
    """A request whose attempt #1 another browser took: the next click needs attempt #2."""
    exchange = dwolla.seed_exchange("mx")
    _, request, _ = api.create(exchange["id"], {"returnUrl": RETURN_URL})
    first = Browser(functions.callback).click_start(request["startUrl"])
    assert first["statusCode"] == 200
    return exchange, request


def _attempts(functions, request_id: str) -> dict:
    (item,) = [i for i in table_items(functions) if i["pk"]["S"] == f"REQUEST#{request_id}"]
    return item["attempts"]["M"]


@pytest.mark.parametrize(
    ("where", "fault"),
    [case[1:] for case in CLICK_FAULTS],
    ids=[case[0] for case in CLICK_FAULTS],
)
def test_persistent_fault_at_a_start_click_shows_the_reload_page_binds_nothing_and_a_reload_works(
    api, dwolla, functions, client, published, where, fault
):
    exchange, request = _request_started_elsewhere(api, dwolla, functions)
    before = _attempts(functions, request["id"])
    published()
    dwolla.clear_requests()
    method, path = where
    if path == "/token":
        dwolla.expire_tokens()  # the container's token is refused: it must mint one now
    dwolla.inject_fault(path, method=method, times=50, **fault)
    browser = Browser(functions.callback)

    answer = browser.click_start(request["startUrl"])

    if where == ("POST", SESSION_POST) and "delay" in fault:
        # Dwolla goes on making the session; a retry with the key may get it, or time out too.
        assert answer["statusCode"] in (200, 503)
    else:
        assert answer["statusCode"] == 503
    if answer["statusCode"] == 503:
        assert "reload this page" in answer["body"]
        assert header(answer, "set-cookie") is None and browser.jar == {}
        assert _attempts(functions, request["id"]) == before
        assert _kinds_published(published) == []
    posts = _session_posts(dwolla, exchange["id"])
    assert len(posts) <= 4
    assert len({p["idempotencyKey"] for p in posts}) <= 1

    dwolla.clear_faults()
    reloaded = answer
    if answer["statusCode"] == 503:
        reloaded = browser.click_start(request["startUrl"])  # the customer reloads (POSTs again)

    assert reloaded["statusCode"] == 200
    attempts = _attempts(functions, request["id"])
    assert len(attempts) == 2
    assert {s["id"] for s in _sessions_of(dwolla, exchange["id"])} == set(attempts)
    keys = {p["idempotencyKey"] for p in _session_posts(dwolla, exchange["id"])}
    assert keys == {f"reauth-{request['id']}-2"}  # the reload reached Dwolla with the same key
    landed = browser.get(browser.visit_bank(bank_url(reloaded)))
    assert location(landed) == f"{RETURN_URL}?status=reauthorized&session={request['id']}"


@pytest.mark.parametrize(
    ("where", "fault", "times"),
    [case[1:] for case in TRANSIENT_FAULTS if case[1][0] == "POST" or "read" in case[0]],
    ids=[case[0] for case in TRANSIENT_FAULTS if case[1][0] == "POST" or "read" in case[0]],
)
def test_transient_fault_at_a_start_click_is_retried_into_one_new_attempt(
    api, dwolla, functions, client, where, fault, times
):
    exchange, request = _request_started_elsewhere(api, dwolla, functions)
    dwolla.clear_requests()
    method, path = where
    if path == "/token":
        dwolla.expire_tokens()
    dwolla.inject_fault(path, method=method, times=times, **fault)
    browser = Browser(functions.callback)

    answer = browser.click_start(request["startUrl"])

    assert answer["statusCode"] == 200, answer["body"][:300]
    attempts = _attempts(functions, request["id"])
    assert len(attempts) == 2
    assert {s["id"] for s in _sessions_of(dwolla, exchange["id"])} == set(attempts)
    assert len({p["idempotencyKey"] for p in _session_posts(dwolla, exchange["id"])}) == 1
    assert client.waits


@pytest.mark.parametrize(
    "path",
    ["/funding-sources/*/balance", "/customers/*/funding-sources", "/exchanges/*"],
    ids=["balance", "funding-sources", "exchange"],
)
def test_a_fault_asking_whether_the_exchange_was_repaired_elsewhere_never_blocks_a_click(
    api, dwolla, functions, client, path
):
    _, request = _request_started_elsewhere(api, dwolla, functions)
    dwolla.inject_fault(path, method="GET", times=50, status=503)

    answer = Browser(functions.callback).click_start(request["startUrl"])

    assert answer["statusCode"] == 200 and bank_url(answer)
    assert len(_attempts(functions, request["id"])) == 2


# ---- verifying a claimed success -----------------------------------------------------------------
VERIFY_CALLS = [
    ("balance", "/funding-sources/*/balance"),
    ("funding-sources", "/customers/*/funding-sources"),
    ("exchange", "/exchanges/*"),
]
VERIFY_FAULTS = [
    ("500", {"status": 500}),
    ("503", {"status": 503}),
    ("429", {"status": 429, "retryAfter": 0}),
    ("drop", {"drop": True}),
    ("timeout", {"delay": 0.6}),
]


def _back_from_the_bank(api, dwolla, functions, browser, **body) -> tuple[dict, dict, str]:
    exchange = dwolla.seed_exchange("mx")
    _, request, _ = api.create(exchange["id"], {"returnUrl": RETURN_URL, **body})
    back = browser.visit_bank(bank_url(browser.click_start(request["startUrl"])))
    return exchange, request, back


def _landing(request: dict, status: str) -> str:
    return f"{RETURN_URL}?status={status}&session={request['id']}"


@pytest.mark.parametrize(("fault_id", "fault"), VERIFY_FAULTS, ids=[f[0] for f in VERIFY_FAULTS])
@pytest.mark.parametrize(("call", "path"), VERIFY_CALLS, ids=[c[0] for c in VERIFY_CALLS])
def test_a_fault_verifying_the_claim_leaves_the_request_verifying_and_a_later_read_finishes_it(
    api, browser, dwolla, functions, client, clock, published, call, path, fault_id, fault
):
    exchange, request, back = _back_from_the_bank(api, dwolla, functions, browser)
    published()
    dwolla.inject_fault(path, method="GET", times=50, **fault)

    landed = browser.get(back)

    assert location(landed) == _landing(request, "verifying")
    dwolla.clear_faults()
    if "delay" in fault:
        time.sleep(fault["delay"] + 0.2)  # the sandbox logs a delayed request when it answers
    dwolla.clear_requests()
    body = api.session(request["id"])[1]
    assert body["status"] == "verifying"
    assert body["verification"]["result"] == "unavailable"
    assert body["verification"]["nextCheckAt"]
    assert dwolla.requests() == []  # a read before the next check is due does not ask Dwolla
    assert _kinds_published(published) == []

    clock.advance(minutes=2)
    finished = api.session(request["id"])[1]

    assert finished["status"] == "reauthorized"
    assert [a["state"] for a in finished["attempts"]] == ["reauthorized"]
    assert api.status(exchange["id"])[1]["status"] == "reauthorized"
    assert _kinds_published(published) == ["Exchange Reauthorized"]


@pytest.mark.parametrize("finish", ["read", "sweep", "reload"])
def test_a_verifying_request_is_finished_once_whoever_finishes_it(
    api, browser, dwolla, functions, client, clock, published, finish
):
    exchange, request, back = _back_from_the_bank(api, dwolla, functions, browser)
    dwolla.inject_fault("/funding-sources/*/balance", method="GET", times=50, status=503)
    browser.get(back)
    published()
    dwolla.clear_faults()
    clock.advance(minutes=2)

    if finish == "read":
        status = api.session(request["id"])[1]["status"]
    elif finish == "sweep":
        swept = functions.api.handler(scheduled_event(), LambdaContext())
        assert swept["verified"] == 1
        status = api.session(request["id"])[1]["status"]
    else:  # the customer reloads the "almost done" page's address
        assert location(browser.get(back)) == _landing(request, "reauthorized")
        status = api.session(request["id"])[1]["status"]

    assert status == "reauthorized"
    for _ in range(2):  # and nothing more happens after
        functions.api.handler(scheduled_event(), LambdaContext())
        api.session(request["id"])
        browser.get(back)
    assert _kinds_published(published) == ["Exchange Reauthorized"]


def test_while_dwolla_stays_down_the_schedule_keeps_checking_and_the_request_waits(
    api, browser, dwolla, functions, client, clock, published
):
    exchange, request, back = _back_from_the_bank(api, dwolla, functions, browser)
    dwolla.inject_fault("/funding-sources/*/balance", method="GET", times=500, status=503)
    browser.get(back)
    first = api.session(request["id"])[1]["verification"]

    clock.advance(minutes=2)
    swept = functions.api.handler(scheduled_event(), LambdaContext())

    assert swept["verified"] == 1
    later = api.session(request["id"])[1]
    assert later["status"] == "verifying"
    assert later["verification"]["nextCheckAt"] > first["nextCheckAt"]
    assert "Exchange Reauthorized" not in _kinds_published(published)


def test_a_claim_made_in_time_counts_when_dwolla_answers_after_the_deadline(
    api, browser, dwolla, functions, client, clock, published
):
    exchange, request, back = _back_from_the_bank(api, dwolla, functions, browser)
    dwolla.inject_fault("/funding-sources/*/balance", method="GET", times=500, status=503)
    browser.get(back)
    published()
    clock.advance(days=7, hours=1)  # past the deadline, within the grace for verifications
    dwolla.clear_faults()

    functions.api.handler(scheduled_event(), LambdaContext())

    assert api.session(request["id"])[1]["status"] == "reauthorized"
    assert _kinds_published(published) == ["Exchange Reauthorized"]


def test_a_verification_dwolla_never_answers_expires_after_the_grace(
    api, browser, dwolla, functions, client, clock, published
):
    exchange, request, back = _back_from_the_bank(api, dwolla, functions, browser)
    dwolla.inject_fault("/funding-sources/*/balance", method="GET", times=500, status=503)
    browser.get(back)
    published()
    clock.advance(days=8, minutes=5)  # the deadline and a day's grace are over

    functions.api.handler(scheduled_event(), LambdaContext())

    assert api.session(request["id"])[1]["status"] == "expired"
    assert api.status(exchange["id"])[1]["pendingSessionId"] is None
    assert _kinds_published(published) == ["Reauth Session Expired"]


def test_a_verifying_claim_dwolla_later_denies_goes_back_to_pending(
    api, browser, dwolla, functions, client, clock, published
):
    """A claim without the bank leg (forged, or a bank that never finished) while Dwolla is down:
    verifying; once Dwolla answers UpdateCredentials, the request is pending again (never
    reauthorized), the claimed attempt ends unverified, and the customer's real login afterwards
    still counts."""
    exchange = dwolla.seed_exchange("mx")
    _, request, _ = api.create(exchange["id"], {"returnUrl": RETURN_URL})
    page = browser.click_start(request["startUrl"])
    dwolla.inject_fault("/funding-sources/*/balance", method="GET", times=50, status=503)
    claim = browser.get(f"{CALLBACK_URL}?exchange={exchange['id']}")
    assert location(claim) == _landing(request, "verifying")
    published()
    dwolla.clear_faults()
    clock.advance(minutes=2)

    body = api.session(request["id"])[1]

    assert body["status"] == "pending"
    assert body["verification"]["result"] == "not_repaired"
    assert [(a["state"], a["reason"]) for a in body["attempts"]] == [("unverified", "NOT_REPAIRED")]
    assert _kinds_published(published) == ["Reauth Attempt Failed"]
    # The customer's real login afterwards still counts.
    landed = browser.get(browser.visit_bank(bank_url(page)))
    assert location(landed) == _landing(request, "reauthorized")


def test_a_fault_verifying_a_plaid_report_answers_verifying_and_a_read_finishes_it(
    api, browser, dwolla, functions, client, clock, published
):
    exchange = dwolla.seed_exchange("plaid")
    _, request, _ = api.create(exchange["id"], {"returnUrl": RETURN_URL})
    page = browser.click_start(request["startUrl"])
    dwolla.complete_exchange_session(plaid_config(page)["token"])
    published()
    dwolla.inject_fault("/funding-sources/*/balance", method="GET", times=50, status=503)

    reported = browser.report_plaid(page, {"outcome": "success"})

    assert json.loads(reported["body"]) == {"location": _landing(request, "verifying")}
    dwolla.clear_faults()
    clock.advance(minutes=2)
    assert api.session(request["id"])[1]["status"] == "reauthorized"
    assert _kinds_published(published) == ["Exchange Reauthorized"]


@pytest.mark.parametrize(
    "fault", [{"status": 500}, {"delay": 0.6}, {"drop": True}], ids=["500", "timeout", "drop"]
)
def test_a_fault_verifying_the_platforms_complete_answers_verifying_and_a_retry_finishes_it(
    api, dwolla, client, published, fault
):
    exchange = dwolla.seed_exchange("plaid")
    _, request, _ = api.create(exchange["id"])
    dwolla.complete_exchange_session(request["handoff"]["token"])
    published()
    dwolla.inject_fault("/funding-sources/*/balance", method="GET", times=50, **fault)

    status, body, _ = api.complete(request["id"], {})

    assert (status, body["status"]) == (200, "verifying")
    dwolla.clear_faults()
    assert api.complete(request["id"], {})[1]["status"] == "reauthorized"
    assert api.complete(request["id"], {})[1]["status"] == "reauthorized"
    assert _kinds_published(published) == ["Exchange Reauthorized"]


# ---- a crash between Dwolla's 201 and the DynamoDB write ---------------------------------------
class SimulatedCrash(RuntimeError):
    pass


@pytest.fixture
def crash_once(functions, clock):
    """Make the next TransactWriteItems fail once, before (`"before-call"`) or after
    (`"after-call"`: committed, the answer lost) it reaches DynamoDB. Hooked on the container's
    AWS session before the test runs, so its DynamoDB client has the hook (armed later)."""
    armed = {"before-call": 0, "after-call": 0}

    def crasher(when: str):
        def crash(**_):
            if armed[when]:
                armed[when] -= 1
                raise SimulatedCrash("the container died here")

        return crash

    for when in armed:
        hook_aws(f"{when}.dynamodb.TransactWriteItems", crasher(when))

    def arm(when: str) -> None:
        armed[when] = 1

    return arm


def test_crash_before_the_write_leaves_nothing_and_the_retry_makes_one_request(
    api, dwolla, functions, crash_once, published
):
    exchange = dwolla.seed_exchange("mx")
    published()
    crash_once("before-call")

    status, body, _ = api.create(exchange["id"], None, KEY)

    assert (status, body["code"]) == (500, "InternalError")
    assert set(body) == {"code", "message", "requestId"}
    assert table_items(functions) == []
    assert len(dwolla.exchange_sessions()) == 1  # Dwolla made one; nobody here knows it yet

    again_status, again, _ = api.create(exchange["id"], None, KEY)

    assert again_status == 201
    _assert_one_request_everywhere(functions, dwolla, again)
    assert _kinds_published(published) == ["Reauth Session Created"]
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
    _assert_one_request_everywhere(functions, dwolla, again)
    assert _kinds_published(published) == ["Reauth Session Created"]  # written with the request
    assert browser.click_start(again["startUrl"])["statusCode"] == 200  # the replay's link works


def test_crash_at_a_start_click_binds_nothing_and_the_reload_makes_one_new_attempt(
    api, dwolla, functions, crash_once, published
):
    """Dwolla made attempt #2's session, the container died before recording it: the reload
    asks Dwolla again with the same key and gets that very session."""
    armed = {"left": 0}

    def crash(params, **_):
        adding = "attemptCount = :next" in params.get("UpdateExpression", "")
        if adding and armed["left"]:
            armed["left"] -= 1
            raise SimulatedCrash("the container died here")

    hook_aws("before-parameter-build.dynamodb.UpdateItem", crash)  # before the client is made
    exchange, request = _request_started_elsewhere(api, dwolla, functions)
    armed["left"] = 1
    browser = Browser(functions.callback)

    failed = browser.click_start(request["startUrl"])

    assert failed["statusCode"] == 503 and browser.jar == {}
    assert len(_attempts(functions, request["id"])) == 1
    again = browser.click_start(request["startUrl"])
    assert again["statusCode"] == 200
    attempts = _attempts(functions, request["id"])
    assert len(attempts) == 2
    assert {s["id"] for s in _sessions_of(dwolla, exchange["id"])} == set(attempts)


def test_crash_handling_an_event_raises_for_lambda_retry_which_makes_one_request(
    functions, api, dwolla, crash_once, published
):
    exchange = dwolla.seed_exchange("mx")
    event = eventbridge_event("Exchange Reauth Requested", {"exchangeId": exchange["id"]})
    published()
    crash_once("before-call")

    with pytest.raises(SimulatedCrash):
        functions.api.handler(event, LambdaContext())
    assert table_items(functions) == []

    result = functions.api.handler(event, LambdaContext())  # Lambda's retry of the same event

    assert result["replayed"] is False
    _assert_one_request_everywhere(functions, dwolla, api.session(result["sessionId"])[1])
    created = published()
    assert [e["detail-type"] for e in created] == ["Reauth Session Created"]
    assert created[0]["detail"]["startUrl"]


def test_crash_after_the_write_handling_an_event_still_delivers_its_start_link_once(
    functions, api, dwolla, crash_once, published
):
    exchange = dwolla.seed_exchange("mx")
    event = eventbridge_event("Exchange Reauth Requested", {"exchangeId": exchange["id"]})
    published()
    crash_once("after-call")

    with pytest.raises(SimulatedCrash):
        functions.api.handler(event, LambdaContext())
    retried = functions.api.handler(event, LambdaContext())  # Lambda's retry
    again = functions.api.handler(event, LambdaContext())  # and a duplicate delivery

    assert retried["replayed"] is again["replayed"] is True
    assert retried["sessionId"] == again["sessionId"]
    created = [e for e in published() if e["detail-type"] == "Reauth Session Created"]
    assert len(created) == 1 and created[0]["detail"]["startUrl"]
    assert created[0]["detail"]["sessionId"] == retried["sessionId"]
    assert len(dwolla.exchange_sessions()) == 1
