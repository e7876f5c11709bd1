"""Races and duplicates: N callers at once against moto server and the Dwolla sandbox over HTTP.

Each race runs in two modes:
  containers  N forked processes, each a Lambda container of its own (its own service, Dwolla
              client, boto3 clients, token cache), each calling the real handler once.
  threads     N threads sharing one container's service, calling the use case directly: harsher
              than Lambda (which never runs two invocations in one container at once), and the
              only honest way to do it in threads, since Powertools' resolver keeps the current
              request in class state.
What makes the race real: a gate holds every caller's first conditional DynamoDB write until all
N callers have reached theirs, so all N have read the same state (the request pending, its
attempt unstarted, the exchange's open request) and asked Dwolla before anyone writes. Only
DynamoDB's condition expressions can then decide. moto server checks conditions and writes
without a lock, so here it runs behind tests/support/atomic_moto.py, which makes each request
atomic as DynamoDB does.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import subprocess
import sys
import threading
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

import pytest

from local import servers
from reauth.errors import ServiceError
from reauth.journey import Browser as Visitor
from reauth.journey import BrowserRejected, StartPage
from reauth.repository import ConcurrentChange, RequestRepository
from tests.support.apigw import (
    LambdaContext,
    eventbridge_event,
    query_of,
    rest_event,
    scheduled_event,
)
from tests.support.constants import PUBLIC_BASE_URL, RETURN_URL
from tests.support.flow import Browser, bank_url, header, location, plaid_config
from tests.support.table import table_items
from tests.support.webhooks import reauth_required, sign, webhook_event

ROOT = Path(__file__).resolve().parents[2]
N = 24
MODES = ["containers", "threads"]
GATED = (
    "create_request",
    "start_attempt",
    "add_attempt",
    "end_attempt",
    "mark_verifying",
    "mark_not_repaired",
    "mark_reauthorized",
    "expire",
    # A webhook's delivery record (one transaction with the exchange and its event, or alone).
    "record_reauth_required"
    if hasattr(RequestRepository, "record_reauth_required")
    else "record_webhook",
)
GATE_TIMEOUT = 30.0
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
SAME_ORIGIN = {"Origin": Browser.ORIGIN, "Sec-Fetch-Site": "same-origin"}


@pytest.fixture(scope="module")
def moto_server(tmp_path_factory):
    """moto server with DynamoDB's per-request atomicity (overrides the integration fixture)."""
    port = servers.free_port()
    log = open(tmp_path_factory.mktemp("atomic-moto") / "moto.log", "ab")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.atomic_moto", "--port", str(port)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    servers.wait_for_port("127.0.0.1", port)
    yield f"http://127.0.0.1:{port}"
    servers.stop(process)
    log.close()


# ---- the machinery ---------------------------------------------------------------------------
_caller = threading.local()  # per thread, and per forked process: the writes this caller made


class Race:
    """Runs one action per caller, all at once, with the write gate in place."""

    def __init__(self, mode: str, monkeypatch) -> None:
        self.mode = mode
        context = multiprocessing.get_context("fork")
        self.gate = (context if mode == "containers" else threading).Barrier(
            N, timeout=GATE_TIMEOUT
        )
        for name in GATED:
            monkeypatch.setattr(
                RequestRepository, name, self._gated(getattr(RequestRepository, name))
            )

    def _gated(self, method):
        gate = self.gate

        def write(repository, *args, **kwargs):
            writes = getattr(_caller, "writes", None)
            if writes is None:  # not a racing caller (the test's own set-up or checks)
                return method(repository, *args, **kwargs)
            if not writes:  # this caller's first conditional write: wait for everyone
                try:
                    gate.wait()
                except threading.BrokenBarrierError:
                    writes.append(("gate", "broken"))
            try:
                result = method(repository, *args, **kwargs)
            except ConcurrentChange:
                writes.append((method.__name__, "ConcurrentChange"))
                raise
            writes.append((method.__name__, _written(result)))
            return result

        return write

    def run(self, action) -> list[tuple[object, list]]:
        """[(answer, writes)] per caller, in caller order. `action(i)` returns a picklable
        answer; an exception becomes ("raised", its class name, its code if any, its cause)."""
        if self.mode == "threads":
            return self._threads(action)
        return self._containers(action)

    @staticmethod
    def _call(action, i):
        _caller.writes = []
        try:
            answer = action(i)
        except Exception as exc:
            cause = exc.__cause__ or exc.__context__
            answer = ("raised", type(exc).__name__, getattr(exc, "code", None), repr(cause))
        return answer, _caller.writes

    def _threads(self, action):
        results: list = [None] * N

        def run(i):
            results[i] = self._call(action, i)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(N)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert all(result is not None for result in results), "a caller never finished"
        return results

    def _containers(self, action):
        context = multiprocessing.get_context("fork")
        queue = context.Queue()

        def container(i):
            # A fresh container: the parent's service, clients and token cache are not shared.
            fresh_container()
            answer, writes = self._call(action, i)
            queue.put((i, answer, writes))

        processes = [context.Process(target=container, args=(i,)) for i in range(N)]
        for process in processes:
            process.start()
        results: list = [None] * N
        for _ in range(N):
            i, answer, writes = queue.get(timeout=120)
            results[i] = (answer, writes)
        for process in processes:
            process.join(timeout=30)
        return results


def _written(result) -> object:
    """What a repository write returned, picklable: True/False, or whether a request came back."""
    if result is None or isinstance(result, bool):
        return bool(result)
    return True


def fresh_container() -> None:
    """In a forked child: build the service anew (keeping the boto3 session), with the clock the
    test moved, if it moved one (the `clock` fixture replaces runtime.service)."""
    from reauth import runtime

    if hasattr(runtime.service, "cache_clear"):
        runtime.service.cache_clear()
        runtime.config.cache_clear()
        return
    clock = runtime.service().ctx.clock
    runtime.config.cache_clear()
    built = runtime.build_service(runtime.build_context(runtime.config(), clock=clock))
    runtime.service = lambda: built


@pytest.fixture
def written(functions):
    """Events the service wrote to its outbox (in the transaction of the change they tell of)
    since the last call, oldest first, shaped like the bus's events. Races are judged here, at
    the source: the relay's delivery is at least once (consumers dedupe on `eventId`), and the
    local relay cannot follow moto's stream past a cancelled transaction (moto swaps the table,
    stream included, for a copy), which every race has."""
    seen: set[str] = set()

    def read() -> list[dict]:
        items = [i for i in table_items(functions) if i["pk"]["S"].startswith("OUTBOX#")]
        new = sorted(
            (i for i in items if i["eventId"]["S"] not in seen), key=lambda i: i["sk"]["S"]
        )
        seen.update(i["eventId"]["S"] for i in new)
        return [
            {"detail-type": i["detailType"]["S"], "detail": json.loads(i["detail"]["S"])}
            for i in new
        ]

    return read


@pytest.fixture(params=MODES)
def race(request, monkeypatch, functions):
    return lambda: Race(request.param, monkeypatch)


def _writes(results, name: str) -> Counter:
    return Counter(outcome for _, writes in results for op, outcome in writes if op == name)


def _assert_gate_held(results) -> None:
    assert not [w for _, writes in results for w in writes if w == ("gate", "broken")]


def _requests(functions, exchange_id: str) -> dict[str, dict]:
    return {
        item["requestId"]["S"]: item
        for item in table_items(functions)
        if item["pk"]["S"].startswith("REQUEST#") and item["exchangeId"]["S"] == exchange_id
    }


def _service(functions):
    from reauth import runtime

    return runtime.service()


def _visitor(cookies: list[str]) -> Visitor:
    return Visitor(cookies=cookies, origin=Browser.ORIGIN, fetch_site="same-origin")


def _landing(request_id: str, status: str = "reauthorized") -> str:
    return f"{RETURN_URL}?status={status}&session={request_id}"


# ---- N clicks on one link ------------------------------------------------------------------------
def _click_answer(answer: dict) -> tuple:
    """("started", Set-Cookie, bank URL) or ("page", HTTP status) for one click's answer."""
    cookie = header(answer, "set-cookie")
    if answer["statusCode"] == 200 and cookie:
        return "started", cookie, bank_url(answer)
    return "page", answer["statusCode"]


def _click(functions, request_id: str, form: dict, cookies: list[str] | None = None) -> tuple:
    """The start button's POST through CallbackFunction's handler, as a browser sends it."""
    event = rest_event(
        "POST",
        f"/reauth/link/{request_id}",
        body=urlencode(form),
        headers={**FORM, **SAME_ORIGIN},
        cookies=cookies,
    )
    return _click_answer(functions.callback.handler(event, LambdaContext()))


def test_concurrent_clicks_on_one_link_start_one_attempt_per_winner(
    race, api, dwolla, functions, written
):
    exchange = dwolla.seed_exchange("mx")
    _, request, _ = api.create(exchange["id"], {"returnUrl": RETURN_URL})
    key = query_of(request["startUrl"])["key"][0]
    written()
    run = race()
    service = _service(functions)

    def via_handler(i):
        return _click(functions, request["id"], {"key": key})

    def via_service(i):
        try:
            answer = service.journey.start(request["id"], key, _visitor([]))
        except BrowserRejected:
            return "page", 400
        if isinstance(answer, StartPage):
            return "page", {"busy": 503}.get(answer.kind, answer.kind)
        return "started", answer.set_cookie, answer.attempt.handoff_url

    results = run.run(via_handler if run.mode == "containers" else via_service)

    _assert_gate_held(results)
    answers = [answer for answer, _ in results]
    print(f"{run.mode}: {Counter(answer[0] for answer in answers)}")  # the figure
    started = [answer for answer in answers if answer[0] == "started"]
    assert started, "at least the first click starts"
    # Every other click is told to reload in a moment (the page's button POSTs the key again).
    assert {answer for answer in answers if answer[0] != "started"} <= {("page", 503)}
    item = _requests(functions, exchange["id"])[request["id"]]
    attempts = item["attempts"]["M"]
    bindings = {}
    by_bank = {a["M"]["handoffUrl"]["S"]: attempt_id for attempt_id, a in attempts.items()}
    for _, cookie, bank in started:
        token = cookie.split(";", 1)[0].split("=", 1)[1].split(".", 1)[0]
        attempt_id = by_bank[bank]
        bindings[attempt_id] = token
        attempt = attempts[attempt_id]["M"]
        assert attempt["bindingHash"]["S"] == hashlib.sha256(token.encode()).hexdigest()
    assert len(bindings) == len(started)  # no two winners share an attempt
    assert set(attempts) == set(bindings)  # every attempt has its one winner, none is idle
    hashes = [a["M"]["bindingHash"]["S"] for a in attempts.values()]
    assert len(set(hashes)) == len(hashes)
    sessions = [s for s in dwolla.exchange_sessions() if s["exchangeId"] == exchange["id"]]
    assert {s["id"] for s in sessions} == set(attempts)  # no Dwolla session made for nothing
    assert written() == []

    # Every winner's answer is usable: its bank, then its callback, lands on the result.
    for _, cookie, bank in started:
        browser = Browser(functions.callback)
        name, value = cookie.split(";", 1)[0].split("=", 1)
        browser.jar[name] = value
        back = browser.visit_bank(bank)
        assert location(browser.get(back)) == _landing(request["id"])
    assert api.session(request["id"])[1]["status"] == "reauthorized"
    assert [e["detail-type"] for e in written()] == ["Exchange Reauthorized"]


@pytest.mark.parametrize("first_attempt", ["unstarted", "failed"])
def test_one_rendering_submitted_at_once_n_times_starts_one_attempt(
    race, api, dwolla, functions, written, first_attempt
):
    """A double (here N-fold) submit of one start page in one browser: every POST carries the
    page's render id and the browser's cookie. One attempt starts (reusing the unstarted one,
    or with one new Dwolla session), and every answer hands over that same attempt."""
    exchange = dwolla.seed_exchange("mx")
    _, request, _ = api.create(exchange["id"], {"returnUrl": RETURN_URL})
    browser = Browser(functions.callback)
    if first_attempt == "failed":
        started = browser.click_start(request["startUrl"])
        browser.get(browser.visit_bank(bank_url(started), "USER_CANCELLED"))
    render = browser.open_start(request["startUrl"])
    cookies, key = browser.cookies, query_of(request["startUrl"])["key"][0]
    sessions = len(dwolla.exchange_sessions())
    written()
    run = race()
    service = _service(functions)

    def via_handler(i):
        return _click(functions, request["id"], {"key": key, "render": render}, cookies)

    def via_service(i):
        answer = service.journey.start(request["id"], key, _visitor(cookies), render)
        if isinstance(answer, StartPage):
            return "page", answer.kind
        return "started", answer.set_cookie, answer.attempt.handoff_url

    results = run.run(via_handler if run.mode == "containers" else via_service)

    _assert_gate_held(results)
    answers = [answer for answer, _ in results]
    assert {answer[0] for answer in answers} == {"started"}, Counter(answers)
    assert len({bank for _, _, bank in answers}) == 1  # one attempt, handed to every submit
    assert len({cookie for _, cookie, _ in answers}) == 1
    item = _requests(functions, exchange["id"])[request["id"]]
    assert len(item["attempts"]["M"]) == (1 if first_attempt == "unstarted" else 2)
    assert len(dwolla.exchange_sessions()) == sessions + (first_attempt == "failed")
    browser.jar["reauth_binding"] = answers[0][1].split(";", 1)[0].split("=", 1)[1]
    back = browser.visit_bank(answers[0][2])
    assert location(browser.get(back)) == _landing(request["id"])


def test_a_click_told_to_reload_starts_when_it_does(race, api, dwolla, functions):
    """The reload page's promise: the same POST again is honoured once the crowd has passed."""
    exchange = dwolla.seed_exchange("mx")
    _, request, _ = api.create(exchange["id"])
    key = query_of(request["startUrl"])["key"][0]
    run = race()

    def click(i):
        try:  # (in a container, the container's own service: see fresh_container)
            answer = _service(functions).journey.start(request["id"], key, _visitor([]))
        except BrowserRejected:
            return "refused"
        return answer.kind if isinstance(answer, StartPage) else "started"

    results = run.run(click)

    _assert_gate_held(results)
    assert {answer for answer, _ in results} <= {"started", "busy"}
    reloaded = Browser(functions.callback).click_start(request["startUrl"])
    assert reloaded["statusCode"] == 200 and bank_url(reloaded)


# ---- N callbacks / completions for one request ---------------------------------------------------
def _bound_request(api, dwolla, functions, partner="mx", **body):
    exchange = dwolla.seed_exchange(partner)
    _, request, _ = api.create(exchange["id"], {"returnUrl": RETURN_URL, **body})
    browser = Browser(functions.callback)
    page = browser.click_start(request["startUrl"])
    return exchange, request, browser, page


def _callback_action(functions, mode, cookies, query):
    service = _service(functions)

    def via_handler(i):
        event = rest_event("GET", "/reauth/callback", query=query, cookies=cookies)
        answer = functions.callback.handler(event, LambdaContext())
        return answer["statusCode"], header(answer, "location")

    def via_service(i):
        try:
            return 303, service.journey.callback(_visitor(cookies), query).location
        except BrowserRejected:
            return 400, None

    return via_handler if mode == "containers" else via_service


def test_concurrent_callbacks_make_one_transition_one_event_and_one_answer(
    race, api, dwolla, functions, written
):
    exchange, request, browser, page = _bound_request(api, dwolla, functions)
    back = browser.visit_bank(bank_url(page))
    written()
    run = race()

    results = run.run(_callback_action(functions, run.mode, browser.cookies, query_of(back)))

    _assert_gate_held(results)
    assert [answer for answer, _ in results] == [(303, _landing(request["id"]))] * N
    assert _writes(results, "mark_reauthorized") == Counter({True: 1, False: N - 1})
    item = _requests(functions, exchange["id"])[request["id"]]
    assert item["status"]["S"] == "reauthorized"
    record = api.status(exchange["id"])[1]
    assert (record["status"], record["pendingSessionId"]) == ("reauthorized", None)
    assert [e["detail-type"] for e in written()] == ["Exchange Reauthorized"]


def test_concurrent_callbacks_with_different_outcomes_end_reauthorized_once(
    race, api, dwolla, functions, written
):
    """Half the callers bring the bank's success, half a cancel (a forged one, or a second tab):
    the cancel can end the attempt, never the request, and Dwolla confirms the success."""
    exchange, request, browser, page = _bound_request(api, dwolla, functions)
    back = browser.visit_bank(bank_url(page))
    written()
    run = race()
    success = _callback_action(functions, run.mode, browser.cookies, query_of(back))
    cancelled = _callback_action(
        functions, run.mode, browser.cookies, {"error": ["USER_CANCELLED"]}
    )

    results = run.run(lambda i: success(i) if i % 2 else cancelled(i))

    _assert_gate_held(results)
    # One confirmation lands; one that lost to a cancel's write is read again and lands then.
    assert _writes(results, "mark_reauthorized")[True] == 1
    ended = _writes(results, "end_attempt")[True]
    assert ended <= 1
    failed_landing = (
        f"{RETURN_URL}?status=attempt_failed&session={request['id']}"
        "&reason=USER_CANCELLED&recoverable=true"
    )
    for i, (answer, _) in enumerate(results):
        if i % 2:
            assert answer == (303, _landing(request["id"]))
        else:
            assert answer in ((303, _landing(request["id"])), (303, failed_landing))
    final = api.session(request["id"])[1]
    assert final["status"] == "reauthorized"
    assert [a["state"] for a in final["attempts"]] == ["reauthorized"]
    kinds = Counter(e["detail-type"] for e in written())
    assert kinds == Counter({"Exchange Reauthorized": 1, "Reauth Attempt Failed": ended})


def test_concurrent_plaid_page_reports_make_one_transition_and_one_answer(
    race, api, dwolla, functions, written
):
    exchange, request, browser, page = _bound_request(api, dwolla, functions, "plaid")
    config = plaid_config(page)
    dwolla.complete_exchange_session(config["token"])
    written()
    run = race()
    service = _service(functions)
    cookies = browser.cookies
    path = config["completeUrl"].removeprefix(PUBLIC_BASE_URL)

    def via_handler(i):
        event = rest_event(
            "POST",
            path,
            body={"outcome": "success"},
            cookies=cookies,
            headers={**SAME_ORIGIN, "X-Reauth-CSRF": config["csrf"]},
        )
        answer = functions.callback.handler(event, LambdaContext())
        return answer["statusCode"], json.loads(answer["body"]).get("location")

    def via_service(i):
        landing = service.journey.complete(
            request["id"], _visitor(cookies), config["csrf"], {"outcome": "success"}
        )
        return 200, landing.location

    results = run.run(via_handler if run.mode == "containers" else via_service)

    _assert_gate_held(results)
    assert [answer for answer, _ in results] == [(200, _landing(request["id"]))] * N
    assert _writes(results, "mark_reauthorized") == Counter({True: 1, False: N - 1})
    assert [e["detail-type"] for e in written()] == ["Exchange Reauthorized"]


def test_concurrent_platform_completes_make_one_transition_one_event_and_one_answer(
    race, api, dwolla, functions, written
):
    exchange = dwolla.seed_exchange("plaid")
    _, request, _ = api.create(exchange["id"])
    dwolla.complete_exchange_session(request["handoff"]["token"])
    written()
    run = race()
    service = _service(functions)

    def via_handler(i):
        event = rest_event("POST", f"/reauth-sessions/{request['id']}/complete", body={})
        answer = functions.api.handler(event, LambdaContext())
        body = json.loads(answer["body"])
        return answer["statusCode"], body.get("status") or body.get("code")

    def via_service(i):
        return 200, service.verifying.complete(request["id"], {}).status.value

    results = run.run(via_handler if run.mode == "containers" else via_service)

    _assert_gate_held(results)
    assert [answer for answer, _ in results] == [(200, "reauthorized")] * N
    assert _writes(results, "mark_reauthorized") == Counter({True: 1, False: N - 1})
    assert [e["detail-type"] for e in written()] == ["Exchange Reauthorized"]


def test_concurrent_reads_and_sweeps_finish_a_verifying_request_once(
    race, api, dwolla, functions, written, clock
):
    """Dwolla could not answer the balance check: the request is `verifying`. Once Dwolla is
    back, the platform's reads and the schedule all try to finish it at once."""
    exchange, request, browser, page = _bound_request(api, dwolla, functions)
    back = browser.visit_bank(bank_url(page))
    dwolla.inject_fault("/funding-sources/*/balance", method="GET", times=100, status=503)
    assert location(browser.get(back)) == _landing(request["id"], "verifying")
    dwolla.clear_faults()
    clock.advance(minutes=2)  # the next check is due
    written()
    run = race()
    service = _service(functions)

    def via_handler(i):
        if i % 2:
            event = rest_event("GET", f"/reauth-sessions/{request['id']}")
            answer = functions.api.handler(event, LambdaContext())
            return "read", json.loads(answer["body"])["status"]
        return "sweep", functions.api.handler(scheduled_event(), LambdaContext())["verified"]

    def via_service(i):
        if i % 2:
            return "read", service.lifecycle.get_request(request["id"]).status.value
        return "sweep", service.lifecycle.sweep().verified

    results = run.run(via_handler if run.mode == "containers" else via_service)

    _assert_gate_held(results)
    answers = [answer for answer, _ in results]
    assert {answer for answer in answers if answer[0] == "read"} == {("read", "reauthorized")}
    assert _writes(results, "mark_reauthorized") == Counter({True: 1, False: N - 1})
    assert api.session(request["id"])[1]["status"] == "reauthorized"
    assert [e["detail-type"] for e in written()] == ["Exchange Reauthorized"]


# ---- concurrent creates --------------------------------------------------------------------------
def _create_action(functions, mode, exchange_id, key_of):
    service = _service(functions)

    def via_handler(i):
        event = rest_event(
            "POST",
            f"/exchanges/{exchange_id}/reauth-sessions",
            headers={"Idempotency-Key": key_of(i)},
        )
        answer = functions.api.handler(event, LambdaContext())
        body = json.loads(answer["body"])
        return answer["statusCode"], body.get("code"), body.get("id")

    def via_service(i):
        try:
            created = service.creating.create(exchange_id, idempotency_key=key_of(i))
        except ServiceError as error:
            return error.status, error.code, None
        return (200 if created.replayed else 201), None, created.request.id

    return via_handler if mode == "containers" else via_service


def test_concurrent_creates_for_one_exchange_leave_exactly_one_open_request(
    race, api, dwolla, functions, written
):
    exchange = dwolla.seed_exchange("mx")
    _, first, _ = api.create(exchange["id"])  # an open request the race must supersede
    written()
    run = race()

    results = run.run(_create_action(functions, run.mode, exchange["id"], lambda i: f"race-{i}"))

    _assert_gate_held(results)
    answers = [answer for answer, _ in results]
    assert {(status, code) for status, code, _ in answers} <= {(201, None), (409, "Conflict")}
    made = {request_id for status, _, request_id in answers if status == 201}
    assert made, "at least the first writer wins"
    print(f"{run.mode}: answers {Counter(status for status, _, _ in answers)}")  # the figure
    requests = _requests(functions, exchange["id"])
    statuses = Counter(item["status"]["S"] for item in requests.values())
    assert statuses["pending"] == 1  # never two open, never none
    assert set(statuses) <= {"pending", "superseded"}
    pending = next(rid for rid, item in requests.items() if item["status"]["S"] == "pending")
    assert set(requests) == made | {first["id"]}
    assert api.status(exchange["id"])[1]["pendingSessionId"] == pending
    events = [e for e in written() if e["detail-type"] == "Reauth Session Created"]
    assert len(events) == len(made)
    superseded = [e["detail"].get("supersededSessionId") for e in events]
    # A chain: every request but the pending one was superseded exactly once.
    assert sorted(filter(None, superseded)) == sorted(set(requests) - {pending})
    # The first round of writes (all behind the gate) assumes no open request, as create does
    # not read the exchange first: each fails and learns the open request from the failed
    # condition (the chain above: each request was superseded once, by one winner).
    first_round = Counter(writes[0][1] for _, writes in results if writes)
    assert set(first_round) == {"ConcurrentChange"}
    # Only the open request's link opens a start page; the others say they are over.
    for request_id in requests:
        link = api.session(request_id)[1]["startUrl"]
        assert (link is not None) == (request_id == pending)

    # A caller that got 409 Conflict retries with its key: Dwolla replays, nothing new is made.
    losers = [i for i, (answer, _) in enumerate(results) if answer[0] == 409]
    if losers:
        dwolla_sessions = len(dwolla.exchange_sessions())
        status, retried, _ = api.create(
            exchange["id"], None, {"Idempotency-Key": f"race-{losers[0]}"}
        )
        assert status == 201
        assert len(dwolla.exchange_sessions()) == dwolla_sessions
        assert api.status(exchange["id"])[1]["pendingSessionId"] == retried["id"]


def test_concurrent_creates_with_one_idempotency_key_make_one_request(
    race, dwolla, functions, written
):
    exchange = dwolla.seed_exchange("mx")
    run = race()

    results = run.run(_create_action(functions, run.mode, exchange["id"], lambda i: "same-key"))

    _assert_gate_held(results)
    answers = [answer for answer, _ in results]
    assert Counter(status for status, _, _ in answers) == Counter({201: 1, 200: N - 1})
    assert len({request_id for _, _, request_id in answers}) == 1
    assert len(_requests(functions, exchange["id"])) == 1
    assert len(dwolla.exchange_sessions()) == 1
    assert [e["detail-type"] for e in written()] == ["Reauth Session Created"]


def test_concurrent_duplicate_event_deliveries_make_one_request(race, dwolla, functions, written):
    exchange = dwolla.seed_exchange("mx")
    event = eventbridge_event("Exchange Reauth Requested", {"exchangeId": exchange["id"]})
    run = race()
    service = _service(functions)

    def via_handler(i):
        result = functions.api.handler(event, LambdaContext())
        return result["sessionId"], result["replayed"]

    def via_service(i):
        created = service.creating.from_event(event["detail-type"], event["detail"], event["id"])
        return created.request.id, created.replayed

    results = run.run(via_handler if run.mode == "containers" else via_service)

    _assert_gate_held(results)
    answers = [answer for answer, _ in results]
    assert len({request_id for request_id, _ in answers}) == 1
    assert Counter(replayed for _, replayed in answers) == Counter({False: 1, True: N - 1})
    assert _writes(results, "create_request") == Counter({True: 1, False: N - 1})
    assert len(_requests(functions, exchange["id"])) == 1
    assert len(dwolla.exchange_sessions()) == 1
    created = written()
    assert [e["detail-type"] for e in created] == ["Reauth Session Created"]
    assert created[0]["detail"]["startUrl"]


def test_completion_racing_a_superseding_create_still_reauthorizes_once(
    race, api, dwolla, functions, written
):
    """The platform reports Link's success while it also asks again (superseding creates): a
    success Dwolla confirms counts whether the request was superseded first or not; once, and
    the open request it overtook (if any) ends reauthorized_elsewhere."""
    exchange = dwolla.seed_exchange("plaid")
    _, old, _ = api.create(exchange["id"])
    dwolla.complete_exchange_session(old["handoff"]["token"])
    written()
    run = race()
    service = _service(functions)
    create = _create_action(functions, run.mode, exchange["id"], lambda i: f"new-{i}")

    def complete(i):
        if run.mode == "threads":
            try:
                return "complete", 200, service.verifying.complete(old["id"], {}).status.value
            except ServiceError as error:
                return "complete", error.status, error.code
        event = rest_event("POST", f"/reauth-sessions/{old['id']}/complete", body={})
        answer = functions.api.handler(event, LambdaContext())
        body = json.loads(answer["body"])
        return "complete", answer["statusCode"], body.get("status") or body.get("code")

    results = run.run(lambda i: complete(i) if i % 2 else ("create", *create(i)))

    _assert_gate_held(results)
    completes = {answer[1:] for answer, _ in results if answer[0] == "complete"}
    # A completer that kept losing to the creates' writes is told to retry, never "closed"
    # (every one of them may lose: 12 of 12 did in about 1 run in 20), and its retry counts.
    assert completes <= {(200, "reauthorized"), (409, "Conflict")}
    if (409, "Conflict") in completes:
        assert complete(0)[1:] == (200, "reauthorized")  # the retry: the success, not "closed"
    requests = _requests(functions, exchange["id"])
    assert requests[old["id"]]["status"]["S"] == "reauthorized"
    creates = [answer[1:] for answer, _ in results if answer[0] == "create"]
    assert {(status, code) for status, code, _ in creates} <= {(201, None), (409, "Conflict")}
    statuses = Counter(item["status"]["S"] for item in requests.values())
    assert statuses["pending"] <= 1  # a create after the confirmation opens a new one
    assert statuses["reauthorized_elsewhere"] <= 1
    assert set(statuses) <= {"reauthorized", "reauthorized_elsewhere", "superseded", "pending"}
    kinds = Counter(e["detail-type"] for e in written())
    assert kinds["Exchange Reauthorized"] == 1
    assert kinds["Reauth Session Created"] == sum(1 for status, _, _ in creates if status == 201)


# ---- webhooks --------------------------------------------------------------------------------
def test_concurrent_duplicate_webhook_deliveries_are_handled_once(race, api, functions, written):
    exchange_id = str(uuid.uuid4())
    raw = reauth_required(exchange_id)
    signature = sign(raw)
    run = race()
    service = _service(functions)

    def via_handler(i):
        answer = functions.callback.handler(webhook_event(raw), LambdaContext())
        return answer["statusCode"], json.loads(answer["body"]).get("outcome")

    def via_service(i):
        return 200, service.webhooks.handle(raw.encode(), signature)

    results = run.run(via_handler if run.mode == "containers" else via_service)

    _assert_gate_held(results)
    answers = Counter(answer for answer, _ in results)
    assert answers == Counter({(200, "recorded"): 1, (200, "duplicate"): N - 1})
    assert api.status(exchange_id)[1]["status"] == "reauth_required"
    assert [e["detail-type"] for e in written()] == ["Exchange Reauth Required"]
