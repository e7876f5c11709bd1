"""Races and duplicates: N callers at once against moto server and the Dwolla sandbox over HTTP.

Each race runs in two modes:
  containers  N forked processes, each a Lambda container of its own (its own service, Dwolla
              client, boto3 clients, token cache), each calling the real handler once.
  threads     N threads sharing one container's service, calling the use case directly: harsher
              than Lambda (which never runs two invocations in one container at once), and the
              only honest way to do it in threads, since Powertools' resolver keeps the current
              request in class state.
What makes the race real: a gate holds every caller's first conditional DynamoDB write until all
N callers have reached theirs, so all N have read the same state (the session pending, the
exchange's pending session) and asked Dwolla before anyone writes. Only DynamoDB's condition
expressions can then decide. moto server checks conditions and writes without a lock, so here it
runs behind tests/support/atomic_moto.py, which makes each request atomic as DynamoDB does.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import multiprocessing
import subprocess
import sys
import threading
import uuid
from collections import Counter
from pathlib import Path

import pytest

from local import servers
from reauth.errors import ServiceError
from reauth.repository import ConcurrentChange, SessionRepository
from reauth.service import BrowserRejected
from tests.conftest import RETURN_URL, WEBHOOK_SECRET
from tests.support.apigw import LambdaContext, eventbridge_event, query_of, rest_event
from tests.support.flow import header, location

ROOT = Path(__file__).resolve().parents[2]
N = 24
MODES = ["containers", "threads"]
GATED = ("transition", "create_session", "bind_browser", "record_webhook")
GATE_TIMEOUT = 30.0


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
                SessionRepository, name, self._gated(getattr(SessionRepository, name))
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
            writes.append((method.__name__, result))
            return result

        return write

    def run(self, action) -> list[tuple[object, list]]:
        """[(answer, writes)] per caller, in caller order. `action(i)` returns a picklable
        answer; an exception becomes ("raised", its class name, its code if any)."""
        if self.mode == "threads":
            return self._threads(action)
        return self._containers(action)

    @staticmethod
    def _call(action, i):
        _caller.writes = []
        try:
            answer = action(i)
        except Exception as exc:
            answer = ("raised", type(exc).__name__, getattr(exc, "code", None))
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
            reset_runtime_keeping_boto_session()
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


def reset_runtime_keeping_boto_session() -> None:
    from reauth import runtime

    runtime.service.cache_clear()
    runtime.config.cache_clear()


@pytest.fixture(params=MODES)
def race(request, monkeypatch, functions):
    return lambda: Race(request.param, monkeypatch)


def _writes(results, name: str) -> Counter:
    return Counter(outcome for _, writes in results for op, outcome in writes if op == name)


def _assert_gate_held(results) -> None:
    assert not [w for _, writes in results for w in writes if w == ("gate", "broken")]


def _items(functions) -> list[dict]:
    db = functions.session.client("dynamodb")
    return db.scan(TableName=functions.resources.table_name, ConsistentRead=True)["Items"]


def _sessions(functions, exchange_id: str) -> dict[str, dict]:
    return {
        item["sessionId"]["S"]: item
        for item in _items(functions)
        if item["pk"]["S"].startswith("SESSION#") and item["exchangeId"]["S"] == exchange_id
    }


def _browser_answer(answer: dict) -> tuple:
    status = answer["statusCode"]
    if status == 302:
        return 302, location(answer)
    return status, None


def _service(functions):
    from reauth import runtime

    return runtime.service()


# ---- N callbacks / completes for one session ----------------------------------------------------
def _bound_session(api, dwolla, browser, **body):
    exchange = dwolla.seed_exchange("mx")
    _, session, _ = api.create(exchange["id"], body or None)
    back = browser.visit_bank(location(browser.get(session["startUrl"])))
    return exchange, session, back


def _callback_action(functions, race_mode, cookies, query):
    service = _service(functions)

    def via_handler(i):
        event = rest_event("GET", "/reauth/callback", query=query, cookies=cookies)
        return _browser_answer(functions.callback.handler(event, LambdaContext()))

    def via_service(i):
        try:
            return 302, service.callback(cookies, query).location
        except BrowserRejected:
            return 400, None

    return via_handler if race_mode == "containers" else via_service


def test_concurrent_callbacks_make_one_transition_one_event_and_one_answer(
    race, api, dwolla, browser, functions, published
):
    exchange, session, back = _bound_session(api, dwolla, browser, returnUrl=RETURN_URL)
    published()
    run = race()

    results = run.run(_callback_action(functions, run.mode, browser.cookies, query_of(back)))

    _assert_gate_held(results)
    expected = (302, f"{RETURN_URL}?status=reauthorized&session={session['id']}")
    assert [answer for answer, _ in results] == [expected] * N
    assert _writes(results, "transition") == Counter({True: 1, False: N - 1})
    assert _sessions(functions, exchange["id"])[session["id"]]["status"]["S"] == "reauthorized"
    record = api.status(exchange["id"])[1]
    assert (record["status"], record["pendingSessionId"]) == ("reauthorized", None)
    assert [e["detail-type"] for e in published()] == ["Exchange Reauthorized"]


def test_concurrent_callbacks_with_different_outcomes_agree_with_the_one_that_won(
    race, api, dwolla, browser, functions, published
):
    exchange, session, back = _bound_session(api, dwolla, browser, returnUrl=RETURN_URL)
    published()
    run = race()
    success = _callback_action(functions, run.mode, browser.cookies, query_of(back))
    cancelled = _callback_action(
        functions, run.mode, browser.cookies, {"error": ["USER_CANCELLED"]}
    )

    results = run.run(lambda i: success(i) if i % 2 else cancelled(i))

    _assert_gate_held(results)
    assert _writes(results, "transition") == Counter({True: 1, False: N - 1})
    final = _sessions(functions, exchange["id"])[session["id"]]["status"]["S"]
    won_by_success = final == "reauthorized"
    for i, (answer, _) in enumerate(results):
        agrees = bool(i % 2) == won_by_success
        if agrees:
            assert answer[0] == 302 and f"status={final}" in answer[1]
        else:
            assert answer == (400, None)  # the generic refusal: the session already ended
    kinds = [e["detail-type"] for e in published()]
    assert kinds == ["Exchange Reauthorized" if won_by_success else "Reauth Session Failed"]


def test_concurrent_completes_make_one_transition_one_event_and_one_answer(
    race, api, dwolla, functions, published
):
    exchange = dwolla.seed_exchange("plaid")
    _, session, _ = api.create(exchange["id"])
    dwolla.complete_exchange_session(session["id"])
    published()
    run = race()
    service = _service(functions)

    def via_handler(i):
        event = rest_event("POST", f"/reauth-sessions/{session['id']}/complete", body={})
        answer = functions.api.handler(event, LambdaContext())
        body = json.loads(answer["body"])
        return answer["statusCode"], body.get("status") or body.get("code")

    def via_service(i):
        return 200, service.complete(session["id"], {}).status.value

    results = run.run(via_handler if run.mode == "containers" else via_service)

    _assert_gate_held(results)
    assert [answer for answer, _ in results] == [(200, "reauthorized")] * N
    assert _writes(results, "transition") == Counter({True: 1, False: N - 1})
    assert [e["detail-type"] for e in published()] == ["Exchange Reauthorized"]


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
            created = service.create_reauth_session(exchange_id, idempotency_key=key_of(i))
        except ServiceError as error:
            return error.status, error.code, None
        return (200 if created.replayed else 201), None, created.session.id

    return via_handler if mode == "containers" else via_service


def test_concurrent_creates_for_one_exchange_leave_exactly_one_pending_session(
    race, api, dwolla, functions, published
):
    exchange = dwolla.seed_exchange("mx")
    _, first, _ = api.create(exchange["id"])  # a pending session the race must supersede
    published()
    run = race()

    results = run.run(_create_action(functions, run.mode, exchange["id"], lambda i: f"race-{i}"))

    _assert_gate_held(results)
    answers = [answer for answer, _ in results]
    assert {(status, code) for status, code, _ in answers} <= {(201, None), (409, "Conflict")}
    made = {session_id for status, _, session_id in answers if status == 201}
    assert made, "at least the first writer wins"
    print(f"{run.mode}: answers {Counter(status for status, _, _ in answers)}")  # the figure
    sessions = _sessions(functions, exchange["id"])
    statuses = Counter(item["status"]["S"] for item in sessions.values())
    assert statuses["pending"] == 1  # never two pending, never none
    assert set(statuses) <= {"pending", "superseded"}
    pending = next(sid for sid, item in sessions.items() if item["status"]["S"] == "pending")
    assert set(sessions) == made | {first["id"]}
    assert api.status(exchange["id"])[1]["pendingSessionId"] == pending
    events = [e for e in published() if e["detail-type"] == "Reauth Session Created"]
    assert len(events) == len(made)
    superseded = [e["detail"].get("supersededSessionId") for e in events]
    # A chain: every session but the pending one was superseded exactly once.
    assert sorted(filter(None, superseded)) == sorted(set(sessions) - {pending})
    # The first round of writes (all behind the gate, all superseding `first`): one winner.
    first_round = Counter(writes[0][1] for _, writes in results if writes)
    assert first_round[True] == 1

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


def test_concurrent_creates_with_one_idempotency_key_make_one_session(
    race, dwolla, functions, published
):
    exchange = dwolla.seed_exchange("mx")
    run = race()

    results = run.run(_create_action(functions, run.mode, exchange["id"], lambda i: "same-key"))

    _assert_gate_held(results)
    answers = [answer for answer, _ in results]
    assert Counter(status for status, _, _ in answers) == Counter({201: 1, 200: N - 1})
    assert len({session_id for _, _, session_id in answers}) == 1
    assert len(_sessions(functions, exchange["id"])) == 1
    assert len(dwolla.exchange_sessions()) == 1
    assert [e["detail-type"] for e in published()] == ["Reauth Session Created"]


def test_concurrent_duplicate_event_deliveries_make_one_session(race, dwolla, functions, published):
    exchange = dwolla.seed_exchange("mx")
    event = eventbridge_event("Exchange Reauth Requested", {"exchangeId": exchange["id"]})
    run = race()
    service = _service(functions)

    def via_handler(i):
        result = functions.api.handler(event, LambdaContext())
        return result["sessionId"], result["replayed"]

    def via_service(i):
        created = service.create_from_event(event["detail-type"], event["detail"], event["id"])
        return created.session.id, created.replayed

    results = run.run(via_handler if run.mode == "containers" else via_service)

    _assert_gate_held(results)
    answers = [answer for answer, _ in results]
    assert len({session_id for session_id, _ in answers}) == 1
    assert Counter(replayed for _, replayed in answers) == Counter({False: 1, True: N - 1})
    assert _writes(results, "create_session") == Counter({True: 1, False: N - 1})
    assert len(_sessions(functions, exchange["id"])) == 1
    assert len(dwolla.exchange_sessions()) == 1
    created = published()
    assert [e["detail-type"] for e in created] == ["Reauth Session Created"]
    assert created[0]["detail"]["startUrl"]


def test_completion_racing_a_superseding_create_ends_one_way_only(
    race, api, dwolla, functions, published
):
    exchange = dwolla.seed_exchange("plaid")
    _, old, _ = api.create(exchange["id"])
    dwolla.complete_exchange_session(old["id"])
    published()
    run = race()
    service = _service(functions)
    create = _create_action(functions, run.mode, exchange["id"], lambda i: f"new-{i}")

    def complete(i):
        if run.mode == "threads":
            try:
                return "complete", 200, service.complete(old["id"], {}).status.value
            except ServiceError as error:
                return "complete", error.status, error.code
        event = rest_event("POST", f"/reauth-sessions/{old['id']}/complete", body={})
        answer = functions.api.handler(event, LambdaContext())
        body = json.loads(answer["body"])
        return "complete", answer["statusCode"], body.get("status") or body.get("code")

    results = run.run(lambda i: complete(i) if i % 2 else ("create", *create(i)))

    _assert_gate_held(results)
    sessions = _sessions(functions, exchange["id"])
    old_status = sessions[old["id"]]["status"]["S"]
    assert old_status in ("reauthorized", "superseded")
    completes = {answer[1:] for answer, _ in results if answer[0] == "complete"}
    if old_status == "reauthorized":
        assert completes == {(200, "reauthorized")}
    else:
        assert completes == {(409, "SessionNotPending")}
    creates = [answer[1:] for answer, _ in results if answer[0] == "create"]
    assert {(status, code) for status, code, _ in creates} <= {(201, None), (409, "Conflict")}
    statuses = Counter(item["status"]["S"] for item in sessions.values())
    assert statuses["pending"] == 1
    kinds = Counter(e["detail-type"] for e in published())
    assert kinds["Exchange Reauthorized"] == (1 if old_status == "reauthorized" else 0)
    assert kinds["Reauth Session Created"] == sum(1 for status, _, _ in creates if status == 201)


# ---- the start link and webhooks ----------------------------------------------------------
def test_one_start_link_opened_by_many_browsers_binds_exactly_one(
    race, api, dwolla, functions, published
):
    exchange = dwolla.seed_exchange("mx")
    _, session, _ = api.create(exchange["id"])
    key = query_of(session["startUrl"])["key"][0]
    run = race()
    service = _service(functions)

    def via_handler(i):
        event = rest_event("GET", f"/reauth-sessions/{session['id']}/start", query={"key": key})
        answer = functions.callback.handler(event, LambdaContext())
        return answer["statusCode"], header(answer, "set-cookie")

    def via_service(i):
        try:
            return 302, service.start(session["id"], key).set_cookie
        except BrowserRejected:
            return 400, None

    results = run.run(via_handler if run.mode == "containers" else via_service)

    _assert_gate_held(results)
    answers = [answer for answer, _ in results]
    assert Counter(status for status, _ in answers) == Counter({302: 1, 400: N - 1})
    cookie = next(cookie for status, cookie in answers if status == 302)
    token = cookie.split(";", 1)[0].split(".", 1)[1]
    item = _sessions(functions, exchange["id"])[session["id"]]
    assert item["bindingHash"]["S"] == hashlib.sha256(token.encode()).hexdigest()
    assert all(cookie is None for status, cookie in answers if status == 400)


def test_concurrent_duplicate_webhook_deliveries_are_handled_once(race, api, functions, published):
    exchange_id = str(uuid.uuid4())
    raw = json.dumps(
        {
            "id": str(uuid.uuid4()),
            "topic": "customer_exchange_reauth_required",
            "_links": {"resource": {"href": f"https://api.dwolla.com/exchanges/{exchange_id}"}},
        }
    )
    signature = hmac.new(WEBHOOK_SECRET.encode(), raw.encode(), hashlib.sha256).hexdigest()
    run = race()
    service = _service(functions)

    def via_handler(i):
        event = rest_event(
            "POST",
            "/webhooks/dwolla",
            body=raw,
            headers={"Content-Type": "application/json", "X-Request-Signature-SHA-256": signature},
        )
        answer = functions.callback.handler(event, LambdaContext())
        return answer["statusCode"], json.loads(answer["body"]).get("outcome")

    def via_service(i):
        return 200, service.handle_webhook(raw.encode(), signature)

    results = run.run(via_handler if run.mode == "containers" else via_service)

    _assert_gate_held(results)
    answers = Counter(answer for answer, _ in results)
    assert answers == Counter({(200, "recorded"): 1, (200, "duplicate"): N - 1})
    assert api.status(exchange_id)[1]["status"] == "reauth_required"
    assert [e["detail-type"] for e in published()] == ["Exchange Reauth Required"]
