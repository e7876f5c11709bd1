"""The Dwolla client against a tiny scripted stand-in for Dwolla (stdlib http.server on 127.0.0.1).

`ScriptedDwolla` mints tokens on POST /token by itself and plays the replies a test scripts for
any route, recording every request it sees. Tests inject `sleep` (to record waits instead of
waiting) and `clock` (to move token expiry along).
"""

from __future__ import annotations

import base64
import gc
import json
import logging
import math
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import urllib3

from reauth.dwolla import (
    DEFAULT_TIMEOUT,
    DwollaApiError,
    DwollaBadResponse,
    DwollaClient,
    DwollaConnectionError,
    DwollaCredentials,
    DwollaError,
    DwollaExchange,
    DwollaFundingSource,
    DwollaTimeout,
    Handoff,
    RetryPolicy,
    base_url_for,
)
from tests.support.clock import FrozenMonotonic

HAL = "application/vnd.dwolla.v1.hal+json"
KEY = "app-key-123"
SECRET = "app-secret-do-not-leak"
BASIC = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
EXCHANGE_ID = "036c8a60-fa45-45d4-8f5d-181d348c6ec8"
SESSION_ID = "fcd15e5f-8d13-4570-a9b7-7fb49e55941d"
IDEMPOTENCY_KEY = "reauth-7d1c1c0e-4f1e-4c55-9d1e-0f0b8d3c2a11"
CALLBACK = "https://example.test/reauth/callback"
PLAID_TOKEN = "link-sandbox-0b5f1c2e-secret-link-token"
SESSIONS = f"/exchanges/{EXCHANGE_ID}/exchange-sessions"
SESSIONS_TEMPLATE = "/exchanges/{id}/exchange-sessions"
SESSION = f"/exchange-sessions/{SESSION_ID}"
EXCHANGE = f"/exchanges/{EXCHANGE_ID}"
CUSTOMER_ID = "5b29279d-6359-4c87-a318-e09095532733"
FUNDING_SOURCE_ID = "49dbaa24-1580-4b1c-8b58-24e26656fa31"
OTHER_SOURCE_ID = "692486f8-29f6-4516-a6a5-c69fd2ce854c"
FUNDING_SOURCES = f"/customers/{CUSTOMER_ID}/funding-sources?removed=false"
BALANCE = f"/funding-sources/{FUNDING_SOURCE_ID}/balance"
SOURCE = f"/funding-sources/{FUNDING_SOURCE_ID}"
FAST = urllib3.Timeout(connect=1.0, read=1.0)


# --- The scripted Dwolla ----------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: dict | bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (to provoke read timeouts)
    drop: bool = False  # close the connection without answering


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes


def api_error(status: int, code: str, message: str = "", **extra) -> Reply:
    return Reply(status, {"code": code, "message": message, **extra})


def created(location: str) -> Reply:
    return Reply(201, None, {"Location": location})


class ScriptedDwolla:
    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.scripts: dict[tuple[str, str], deque[Reply]] = {}
        self.always: dict[tuple[str, str], Reply] = {}
        self.tokens_issued = 0
        self.token_delay = 0.0
        self.token_lifetime = 3600
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._server.handle_error = lambda request, address: None  # clients hang up on purpose
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    def script(self, method: str, path: str, *replies: Reply) -> None:
        """Answer the next requests to this route with these replies, in order."""
        self.scripts.setdefault((method, path), deque()).extend(replies)

    def answer_always(self, method: str, path: str, reply: Reply) -> None:
        self.always[(method, path)] = reply

    def requests_to(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path == path]

    def _reply_for(self, method: str, path: str) -> Reply:
        with self._lock:
            queue = self.scripts.get((method, path))
            if queue:
                return queue.popleft()
            if (method, path) in self.always:
                return self.always[(method, path)]
            if (method, path) == ("POST", "/token"):
                self.tokens_issued += 1
                token = {
                    "access_token": f"token-{self.tokens_issued}",
                    "token_type": "bearer",
                    "expires_in": self.token_lifetime,
                }
                return Reply(200, token, delay=self.token_delay)
            return api_error(404, "NotFound", "The requested resource was not found.")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        dwolla = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                self._serve()

            def do_POST(self) -> None:
                self._serve()

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {name.lower(): value for name, value in self.headers.items()}
                with dwolla._lock:
                    dwolla.seen.append(Seen(self.command, self.path, headers, body))
                reply = dwolla._reply_for(self.command, self.path)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                payload = reply.body
                if isinstance(payload, dict):
                    payload = json.dumps(payload).encode()
                payload = payload or b""
                self.send_response(reply.status)
                if payload:
                    self.send_header("Content-Type", HAL)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        return Handler

    def start(self) -> ScriptedDwolla:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def dwolla():
    server = ScriptedDwolla().start()
    yield server
    server.stop()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def credential_fetches() -> list[int]:
    return []


@pytest.fixture
def make_client(dwolla, sleeps, credential_fetches):
    def credentials() -> DwollaCredentials:
        credential_fetches.append(1)
        return DwollaCredentials(KEY, SECRET)

    def make(**options) -> DwollaClient:
        options.setdefault("timeout", FAST)
        options.setdefault("sleep", sleeps.append)
        base_url = options.pop("base_url", dwolla.base_url)
        return DwollaClient(base_url, credentials, **options)

    return make


@pytest.fixture
def client(make_client) -> DwollaClient:
    return make_client()


def session_location(dwolla: ScriptedDwolla, session_id: str = SESSION_ID) -> str:
    return f"{dwolla.base_url}/exchange-sessions/{session_id}"


def redirect_session(url: str = "https://provider.example/connect?x=1") -> Reply:
    return Reply(
        200,
        {
            "created": "2024-11-18T18:48:11.357Z",
            "_links": {
                "self": {"href": f"https://api.dwolla.com{SESSION}"},
                "external-provider-session": {"href": url, "resource-type": "text/html"},
            },
        },
    )


def token_session(token: str = PLAID_TOKEN) -> Reply:
    return Reply(
        200,
        {
            "created": "2024-11-18T18:48:11.357Z",
            "_links": {"self": {"href": f"https://api.dwolla.com{SESSION}"}},
            "externalProviderSessionToken": token,
        },
    )


# --- Configuration --------------------------------------------------------------------------


def test_base_url_follows_the_environment_and_the_override_wins():
    assert base_url_for("sandbox", None) == "https://api-sandbox.dwolla.com"
    assert base_url_for("production", None) == "https://api.dwolla.com"
    assert base_url_for("production", "") == "https://api.dwolla.com"
    assert base_url_for("sandbox", "http://127.0.0.1:8787/") == "http://127.0.0.1:8787"


@pytest.mark.parametrize("environment", ["prod", "Sandbox", "", "uat"])
def test_base_url_rejects_unknown_environments(environment):
    with pytest.raises(ValueError, match="environment"):
        base_url_for(environment, None)


def test_default_timeouts_and_retry_policy():
    assert DEFAULT_TIMEOUT.connect_timeout == 3.05
    assert DEFAULT_TIMEOUT.read_timeout == 10.0
    assert RetryPolicy() == RetryPolicy(
        max_attempts=4, base_delay=0.2, max_delay=2.0, max_retry_after=5.0
    )


# --- Headers and bodies ---------------------------------------------------------------------


def test_create_session_sends_dwollas_headers_and_returns_the_session_id(dwolla, client):
    dwolla.script("POST", SESSIONS, created(session_location(dwolla)))

    session_id = client.create_reauth_exchange_session(EXCHANGE_ID, CALLBACK, IDEMPOTENCY_KEY)

    assert session_id == SESSION_ID
    (post,) = dwolla.requests_to("POST", SESSIONS)
    assert post.headers["accept"] == HAL
    assert post.headers["content-type"] == HAL
    assert post.headers["authorization"] == "Bearer token-1"
    assert post.headers["idempotency-key"] == IDEMPOTENCY_KEY
    assert json.loads(post.body) == {"_links": {"redirect-url": {"href": CALLBACK}}}


def test_create_session_without_redirect_url_sends_no_body(dwolla, client):
    dwolla.script("POST", SESSIONS, created(session_location(dwolla)))

    assert client.create_reauth_exchange_session(EXCHANGE_ID, None, IDEMPOTENCY_KEY) == SESSION_ID
    (post,) = dwolla.requests_to("POST", SESSIONS)
    assert post.body == b""


def test_token_is_minted_with_basic_auth_and_the_client_credentials_grant(dwolla, client):
    dwolla.script("GET", EXCHANGE, Reply(200, {"id": EXCHANGE_ID, "status": "active"}))

    client.get_exchange(EXCHANGE_ID)

    (mint,) = dwolla.requests_to("POST", "/token")
    assert mint.headers["authorization"] == f"Basic {BASIC}"
    assert mint.headers["content-type"] == "application/x-www-form-urlencoded"
    assert mint.headers["accept"] == HAL
    assert mint.body == b"grant_type=client_credentials"


def test_get_requests_carry_accept_and_bearer_but_no_body_headers(dwolla, client):
    dwolla.script("GET", EXCHANGE, Reply(200, {"id": EXCHANGE_ID, "status": "active"}))

    client.get_exchange(EXCHANGE_ID)

    (get,) = dwolla.requests_to("GET", EXCHANGE)
    assert get.headers["accept"] == HAL
    assert get.headers["authorization"] == "Bearer token-1"
    assert "content-type" not in get.headers
    assert "idempotency-key" not in get.headers


@pytest.mark.parametrize("bad_id", ["../token", "not-a-uuid", "", f"{EXCHANGE_ID}/x"])
def test_ids_that_are_not_uuids_are_refused_before_any_request(dwolla, client, bad_id):
    with pytest.raises(ValueError):
        client.get_exchange(bad_id)
    with pytest.raises(ValueError):
        client.get_exchange_session(bad_id)
    with pytest.raises(ValueError):
        client.create_reauth_exchange_session(bad_id, CALLBACK, IDEMPOTENCY_KEY)
    with pytest.raises(ValueError):
        client.list_customer_funding_sources(bad_id)
    with pytest.raises(ValueError):
        client.balance_works(bad_id)
    assert dwolla.seen == []


# --- The access token -----------------------------------------------------------------------


def test_token_is_reused_across_calls(dwolla, client, credential_fetches):
    dwolla.answer_always("GET", EXCHANGE, Reply(200, {"id": EXCHANGE_ID, "status": "active"}))

    for _ in range(3):
        client.get_exchange(EXCHANGE_ID)

    assert len(dwolla.requests_to("POST", "/token")) == 1
    assert [r.headers["authorization"] for r in dwolla.requests_to("GET", EXCHANGE)] == [
        "Bearer token-1"
    ] * 3
    assert client.stats.token_mints == 1
    assert len(credential_fetches) == 1


def test_token_is_renewed_60_seconds_before_expiry(dwolla, make_client, credential_fetches):
    clock = FrozenMonotonic()
    client = make_client(clock=clock)
    dwolla.answer_always("GET", EXCHANGE, Reply(200, {"id": EXCHANGE_ID, "status": "active"}))

    client.get_exchange(EXCHANGE_ID)
    clock.advance(3600 - 60 - 1)  # one second before the renewal point: still reused
    client.get_exchange(EXCHANGE_ID)
    clock.advance(1)  # 60 s before expiry: renewed
    client.get_exchange(EXCHANGE_ID)

    bearer = [r.headers["authorization"] for r in dwolla.requests_to("GET", EXCHANGE)]
    assert bearer == ["Bearer token-1", "Bearer token-1", "Bearer token-2"]
    assert client.stats.token_mints == 2
    assert len(credential_fetches) == 2  # the credentials callable is asked at every mint


def token_bearers_around(client, dwolla, clock, renew_after: float) -> list[str]:
    """Call once, just before `renew_after` seconds, and just after; return the bearers used."""
    dwolla.answer_always("GET", EXCHANGE, Reply(200, {"id": EXCHANGE_ID, "status": "active"}))
    nudge = min(1.0, renew_after / 100)
    client.get_exchange(EXCHANGE_ID)
    clock.advance(renew_after - nudge)
    client.get_exchange(EXCHANGE_ID)
    clock.advance(2 * nudge)
    client.get_exchange(EXCHANGE_ID)
    return [r.headers["authorization"] for r in dwolla.requests_to("GET", EXCHANGE)]


@pytest.mark.parametrize(
    ("lifetime", "renew_after"),
    [(1, 0.5), (30, 15), (59, 29.5), (60, 30), (90, 45), (120, 60), (121, 61), (600, 540)],
)
def test_a_short_lived_token_is_reused_for_most_of_its_life(
    dwolla, make_client, lifetime, renew_after
):
    # Under the 60 s margin, `lifetime - 60` is already past: renew at half the lifetime instead.
    clock = FrozenMonotonic()
    client = make_client(clock=clock)
    dwolla.token_lifetime = lifetime

    bearers = token_bearers_around(client, dwolla, clock, renew_after)

    assert bearers == ["Bearer token-1", "Bearer token-1", "Bearer token-2"]
    assert client.stats.token_mints == 2


@pytest.mark.parametrize(
    "lifetime",
    [0, -5, math.nan, math.inf, -math.inf, 10**12, "3600", True, None],
    ids=["zero", "negative", "nan", "inf", "-inf", "absurdly-long", "string", "bool", "null"],
)
def test_an_unusable_token_lifetime_falls_back_to_dwollas_hour(dwolla, make_client, lifetime):
    clock = FrozenMonotonic()
    client = make_client(clock=clock)
    dwolla.token_lifetime = lifetime  # NaN and Infinity go out as JSON's NaN / Infinity

    bearers = token_bearers_around(client, dwolla, clock, 3600 - 60)

    assert bearers == ["Bearer token-1", "Bearer token-1", "Bearer token-2"]


@pytest.mark.parametrize("code", ["ExpiredAccessToken", "InvalidAccessToken"])
def test_a_rejected_token_is_reminted_once_and_the_call_retried(dwolla, client, code):
    dwolla.script(
        "GET",
        EXCHANGE,
        api_error(401, code, "Invalid access token."),
        Reply(200, {"id": EXCHANGE_ID, "status": "active"}),
    )

    assert client.get_exchange(EXCHANGE_ID) == DwollaExchange(EXCHANGE_ID, "active")

    bearer = [r.headers["authorization"] for r in dwolla.requests_to("GET", EXCHANGE)]
    assert bearer == ["Bearer token-1", "Bearer token-2"]
    assert client.stats.token_mints == 2


def test_a_token_rejected_again_after_the_remint_raises_instead_of_looping(dwolla, client):
    dwolla.answer_always("GET", EXCHANGE, api_error(401, "ExpiredAccessToken", "Expired."))

    with pytest.raises(DwollaApiError) as raised:
        client.get_exchange(EXCHANGE_ID)

    assert (raised.value.status, raised.value.code) == (401, "ExpiredAccessToken")
    assert len(dwolla.requests_to("GET", EXCHANGE)) == 2
    assert len(dwolla.requests_to("POST", "/token")) == 2


def test_other_401s_do_not_remint_the_token(dwolla, client):
    dwolla.script("POST", SESSIONS, api_error(401, "InvalidScope", "Missing or invalid scopes."))

    with pytest.raises(DwollaApiError) as raised:
        client.create_reauth_exchange_session(EXCHANGE_ID, CALLBACK, IDEMPOTENCY_KEY)

    assert raised.value.code == "InvalidScope"
    assert len(dwolla.requests_to("POST", "/token")) == 1
    assert len(dwolla.requests_to("POST", SESSIONS)) == 1


def test_invalid_credentials_surface_as_an_api_error_without_retries(dwolla, client, sleeps):
    dwolla.script("POST", "/token", api_error(401, "InvalidCredentials", "Invalid credentials."))

    with pytest.raises(DwollaApiError) as raised:
        client.get_exchange(EXCHANGE_ID)

    assert (raised.value.status, raised.value.code) == (401, "InvalidCredentials")
    assert len(dwolla.requests_to("POST", "/token")) == 1
    assert dwolla.requests_to("GET", EXCHANGE) == []
    assert sleeps == []


def test_an_oauth_style_token_error_keeps_its_code(dwolla, client):
    dwolla.script("POST", "/token", Reply(401, {"error": "invalid_client"}))

    with pytest.raises(DwollaApiError) as raised:
        client.get_exchange(EXCHANGE_ID)

    assert (raised.value.status, raised.value.code) == (401, "invalid_client")


def test_a_token_answer_without_access_token_is_a_bad_response(dwolla, client):
    dwolla.script("POST", "/token", Reply(200, {"token_type": "bearer", "expires_in": 3600}))

    with pytest.raises(DwollaBadResponse):
        client.get_exchange(EXCHANGE_ID)


def test_concurrent_callers_mint_the_token_once(dwolla, client):
    dwolla.token_delay = 0.3  # every caller arrives while the first mint is in flight
    dwolla.answer_always("GET", EXCHANGE, Reply(200, {"id": EXCHANGE_ID, "status": "active"}))
    start = threading.Barrier(8)
    results: list[object] = []

    def call() -> None:
        start.wait()
        try:
            results.append(client.get_exchange(EXCHANGE_ID))
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            results.append(exc)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert results == [DwollaExchange(EXCHANGE_ID, "active")] * 8
    assert len(dwolla.requests_to("POST", "/token")) == 1
    assert client.stats.token_mints == 1


# --- Retries --------------------------------------------------------------------------------


def test_429_is_retried_after_retry_after_with_the_same_idempotency_key(dwolla, client, sleeps):
    dwolla.script(
        "POST",
        SESSIONS,
        Reply(429, {"code": "TooManyRequests", "message": "Slow down."}, {"Retry-After": "1"}),
        created(session_location(dwolla)),
    )

    assert client.create_reauth_exchange_session(EXCHANGE_ID, CALLBACK, IDEMPOTENCY_KEY)

    assert sleeps == [1.0]
    posts = dwolla.requests_to("POST", SESSIONS)
    assert [p.headers["idempotency-key"] for p in posts] == [IDEMPOTENCY_KEY] * 2
    assert posts[0].body == posts[1].body
    assert client.stats.retries == 1


def test_retry_after_is_honoured_as_given_even_beyond_max_delay(dwolla, client, sleeps):
    dwolla.script(
        "GET",
        EXCHANGE,
        Reply(429, {"code": "TooManyRequests"}, {"Retry-After": "4"}),
        Reply(200, {"id": EXCHANGE_ID, "status": "active"}),
    )

    client.get_exchange(EXCHANGE_ID)

    assert sleeps == [4.0]


def test_retry_after_longer_than_max_retry_after_gives_up_at_once(dwolla, client, sleeps):
    dwolla.answer_always(
        "GET", EXCHANGE, Reply(429, {"code": "TooManyRequests"}, {"Retry-After": "30"})
    )

    with pytest.raises(DwollaApiError) as raised:
        client.get_exchange(EXCHANGE_ID)

    assert raised.value.status == 429
    assert sleeps == []


def test_retry_after_beyond_the_time_budget_gives_up_at_once(dwolla, client, sleeps):
    client.set_time_budget(lambda: 20.0)
    dwolla.answer_always(
        "POST",
        SESSIONS,
        Reply(429, {"code": "TooManyRequests", "message": "Slow down."}, {"Retry-After": "300"}),
    )

    with pytest.raises(DwollaApiError) as raised:
        client.create_reauth_exchange_session(EXCHANGE_ID, CALLBACK, IDEMPOTENCY_KEY)

    assert (raised.value.status, raised.value.code) == (429, "TooManyRequests")
    assert sleeps == []
    assert len(dwolla.requests_to("POST", SESSIONS)) == 1


def test_503_is_retried_with_jittered_exponential_backoff(dwolla, client, sleeps):
    dwolla.script(
        "POST",
        SESSIONS,
        api_error(503, "ServerError", "A server error occurred."),
        api_error(503, "ServerError", "A server error occurred."),
        created(session_location(dwolla)),
    )

    assert client.create_reauth_exchange_session(EXCHANGE_ID, CALLBACK, IDEMPOTENCY_KEY)

    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.2
    assert 0 <= sleeps[1] <= 0.4
    posts = dwolla.requests_to("POST", SESSIONS)
    assert {p.headers["idempotency-key"] for p in posts} == {IDEMPOTENCY_KEY}


def test_409_on_the_session_post_is_retried_with_the_same_key(dwolla, client, sleeps):
    dwolla.script(
        "POST",
        SESSIONS,
        api_error(409, "Conflict", "The request is still being processed."),
        created(session_location(dwolla)),
    )

    assert client.create_reauth_exchange_session(EXCHANGE_ID, CALLBACK, IDEMPOTENCY_KEY)

    posts = dwolla.requests_to("POST", SESSIONS)
    assert [p.headers["idempotency-key"] for p in posts] == [IDEMPOTENCY_KEY] * 2
    assert len(sleeps) == 1


def test_max_attempts_bounds_the_retries(dwolla, make_client, sleeps):
    client = make_client(retry=RetryPolicy(max_attempts=3))
    dwolla.answer_always("GET", EXCHANGE, api_error(503, "ServerError", "Try later."))

    with pytest.raises(DwollaApiError) as raised:
        client.get_exchange(EXCHANGE_ID)

    assert (raised.value.status, raised.value.code, raised.value.message) == (
        503,
        "ServerError",
        "Try later.",
    )
    assert len(dwolla.requests_to("GET", EXCHANGE)) == 3
    assert len(sleeps) == 2
    assert client.stats.snapshot()["requests"]["GET /exchanges/{id}"] == 3


def test_the_time_budget_stops_retries_before_the_deadline(dwolla, client, sleeps):
    # Enough for one more attempt until the first wait, then not (FAST needs 2 s).
    client.set_time_budget(lambda: 30.0 if not sleeps else 1.5)
    dwolla.answer_always("GET", EXCHANGE, api_error(503, "ServerError", "Try later."))

    with pytest.raises(DwollaApiError):
        client.get_exchange(EXCHANGE_ID)

    assert len(dwolla.requests_to("GET", EXCHANGE)) == 2
    assert len(sleeps) == 1


def test_clearing_the_time_budget_leaves_only_max_attempts(dwolla, client, sleeps):
    client.set_time_budget(lambda: 0.0)
    client.set_time_budget(None)
    dwolla.answer_always("GET", EXCHANGE, api_error(502, "ServerError"))

    with pytest.raises(DwollaApiError):
        client.get_exchange(EXCHANGE_ID)

    assert len(dwolla.requests_to("GET", EXCHANGE)) == 4
    assert len(sleeps) == 3


def test_a_slow_attempt_is_cut_off_at_the_deadline(dwolla, make_client, sleeps):
    # The read timeout (10 s) is far beyond the budget: the attempt must stop at the deadline.
    client = make_client(timeout=urllib3.Timeout(connect=1.0, read=10.0))
    deadline = time.monotonic() + 0.8
    client.set_time_budget(lambda: deadline - time.monotonic())
    dwolla.script("GET", EXCHANGE, Reply(200, {"id": EXCHANGE_ID, "status": "active"}, delay=3.0))

    started = time.monotonic()
    with pytest.raises(DwollaTimeout, match="1 attempt"):
        client.get_exchange(EXCHANGE_ID)

    assert time.monotonic() - started < 1.5
    assert len(dwolla.requests_to("GET", EXCHANGE)) == 1
    assert sleeps == []


def test_a_slow_token_mint_is_cut_off_at_the_deadline(dwolla, make_client):
    client = make_client(timeout=urllib3.Timeout(connect=1.0, read=10.0))
    client.set_time_budget(lambda: 0.5)
    dwolla.token_delay = 3.0

    started = time.monotonic()
    with pytest.raises(DwollaTimeout):
        client.get_exchange(EXCHANGE_ID)

    assert time.monotonic() - started < 1.5
    assert dwolla.requests_to("GET", EXCHANGE) == []


@pytest.mark.parametrize("left", [0.0, -1.0, 0.1, math.nan])
def test_no_attempt_is_started_with_almost_no_time_left(dwolla, client, sleeps, left):
    client.set_time_budget(lambda: left)

    with pytest.raises(DwollaTimeout, match="time budget"):
        client.get_exchange(EXCHANGE_ID)

    assert dwolla.seen == []
    assert client.stats.snapshot()["requests"] == {}
    assert sleeps == []


def test_the_budget_is_checked_before_every_attempt_not_only_the_first(dwolla, client):
    left = [30.0]  # the token mint has time; the API call that follows has not
    client.set_time_budget(lambda: left.pop(0) if left else 0.1)
    dwolla.script("GET", EXCHANGE, Reply(200, {"id": EXCHANGE_ID, "status": "active"}))

    with pytest.raises(DwollaTimeout, match="time budget"):
        client.get_exchange(EXCHANGE_ID)

    assert len(dwolla.requests_to("POST", "/token")) == 1
    assert dwolla.requests_to("GET", EXCHANGE) == []


@pytest.mark.parametrize(
    ("status", "code"), [(400, "ValidationError"), (403, "forbidden"), (404, "NotFound")]
)
def test_client_errors_are_not_retried(dwolla, client, sleeps, status, code):
    dwolla.answer_always("POST", SESSIONS, api_error(status, code, "No."))

    with pytest.raises(DwollaApiError) as raised:
        client.create_reauth_exchange_session(EXCHANGE_ID, CALLBACK, IDEMPOTENCY_KEY)

    assert (raised.value.status, raised.value.code) == (status, code)
    assert len(dwolla.requests_to("POST", SESSIONS)) == 1
    assert sleeps == []


def test_a_read_timeout_is_retried(dwolla, make_client, sleeps):
    client = make_client(timeout=urllib3.Timeout(connect=1.0, read=0.2))
    dwolla.script("POST", SESSIONS, Reply(201, delay=0.6), created(session_location(dwolla)))

    assert client.create_reauth_exchange_session(EXCHANGE_ID, CALLBACK, IDEMPOTENCY_KEY)

    posts = dwolla.requests_to("POST", SESSIONS)
    assert [p.headers["idempotency-key"] for p in posts] == [IDEMPOTENCY_KEY] * 2
    assert len(sleeps) == 1


def test_timeouts_on_every_attempt_raise_dwolla_timeout(dwolla, make_client, sleeps):
    client = make_client(
        timeout=urllib3.Timeout(connect=1.0, read=0.2), retry=RetryPolicy(max_attempts=2)
    )
    dwolla.answer_always("GET", EXCHANGE, Reply(200, {"status": "active"}, delay=0.6))

    with pytest.raises(DwollaTimeout, match="2 attempt"):
        client.get_exchange(EXCHANGE_ID)

    assert len(dwolla.requests_to("GET", EXCHANGE)) == 2
    assert len(sleeps) == 1


def test_a_dropped_connection_is_retried(dwolla, client, sleeps):
    dwolla.script("POST", SESSIONS, Reply(drop=True), created(session_location(dwolla)))

    assert client.create_reauth_exchange_session(EXCHANGE_ID, CALLBACK, IDEMPOTENCY_KEY)

    assert len(dwolla.requests_to("POST", SESSIONS)) == 2
    assert len(sleeps) == 1


def test_connections_dropped_every_time_raise_dwolla_connection_error(dwolla, client, sleeps):
    dwolla.answer_always("GET", SESSION, Reply(drop=True))

    with pytest.raises(DwollaConnectionError, match="4 attempt"):
        client.get_exchange_session(SESSION_ID)

    assert len(dwolla.requests_to("GET", SESSION)) == 4
    assert len(sleeps) == 3


def test_a_refused_connection_raises_dwolla_connection_error(make_client, sleeps):
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(base_url=f"http://127.0.0.1:{port}", retry=RetryPolicy(max_attempts=2))

    with pytest.raises(DwollaConnectionError):
        client.get_exchange(EXCHANGE_ID)

    assert len(sleeps) == 1
    assert client.stats.snapshot()["requests"] == {"POST /token": 2}


# --- Reading Dwolla's answers ---------------------------------------------------------------


def test_validation_errors_carry_the_embedded_errors(dwolla, client):
    embedded = [
        {
            "code": "Invalid",
            "message": "The provided redirect URL must exactly match one of the configured URLs.",
            "path": "/_links/redirect-url/href",
            "_links": {},
        }
    ]
    dwolla.script(
        "POST",
        SESSIONS,
        api_error(
            400,
            "ValidationError",
            "Validation error(s) present. See embedded errors list for more details.",
            _embedded={"errors": embedded},
        ),
    )

    with pytest.raises(DwollaApiError) as raised:
        client.create_reauth_exchange_session(EXCHANGE_ID, CALLBACK, IDEMPOTENCY_KEY)

    error = raised.value
    assert (error.status, error.code) == (400, "ValidationError")
    assert error.message.startswith("Validation error(s) present")
    assert error.errors == tuple(embedded)
    assert isinstance(error, DwollaError)


def test_a_non_json_error_body_is_an_api_error_with_code_unknown(dwolla, make_client):
    client = make_client(retry=RetryPolicy(max_attempts=1))
    dwolla.script("GET", EXCHANGE, Reply(502, b"<html>Bad Gateway</html>"))

    with pytest.raises(DwollaApiError) as raised:
        client.get_exchange(EXCHANGE_ID)

    assert (raised.value.status, raised.value.code, raised.value.errors) == (502, "Unknown", ())


# 100,000 levels: json.loads raises RecursionError (not a ValueError) on these.
DEEP_ARRAY = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
DEEP_CODE = b'{"code":' + DEEP_ARRAY + b',"message":"x"}'
DEEP = pytest.mark.parametrize(
    "body", [DEEP_ARRAY, DEEP_OBJECT, DEEP_CODE], ids=["array", "object", "in-a-field"]
)


@pytest.fixture(autouse=True)
def _no_collection_at_the_bottom_of_a_deep_body(request):
    """json.loads gives up on a 100,000-deep body with RecursionError. A garbage collection that
    happens down there runs finalizers (weakref reprs) that overflow the stack in turn, and
    pytest reports that "unraisable exception" as this test's failure (1 random-order run in
    four): no collection during the deep-body tests; the client's answer is what is tested."""
    if "body" not in request.fixturenames:
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


EVENTS = "/events?limit=10&offset=0"


@DEEP
def test_a_deeply_nested_success_body_is_a_bad_response(dwolla, client, body):
    for path in (EXCHANGE, SESSION, FUNDING_SOURCES, BALANCE, EVENTS):
        dwolla.script("GET", path, Reply(200, body))
    dwolla.script("POST", "/token", Reply(200, body))
    calls = (
        lambda: client.get_exchange(EXCHANGE_ID),  # mints a token: /token answers deep JSON
        lambda: client.get_exchange(EXCHANGE_ID),
        lambda: client.get_exchange_session(SESSION_ID),
        lambda: client.list_customer_funding_sources(CUSTOMER_ID),
        lambda: client.balance_works(FUNDING_SOURCE_ID),
        lambda: client.list_events(10, 0),
    )

    for call in calls:
        with pytest.raises(DwollaBadResponse, match="not JSON"):
            call()

    assert len(dwolla.requests_to("POST", "/token")) == 2


@DEEP
@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 429, 503])
def test_a_deeply_nested_error_body_is_an_api_error_with_code_unknown(
    dwolla, make_client, body, status
):
    client = make_client(retry=RetryPolicy(max_attempts=1))
    dwolla.answer_always("POST", SESSIONS, Reply(status, body))
    dwolla.answer_always("GET", BALANCE, Reply(status, body))

    for call in (
        lambda: client.create_reauth_exchange_session(EXCHANGE_ID, CALLBACK, IDEMPOTENCY_KEY),
        lambda: client.balance_works(FUNDING_SOURCE_ID),
    ):
        with pytest.raises(DwollaApiError) as raised:
            call()
        assert (raised.value.status, raised.value.code, raised.value.errors) == (
            status,
            "Unknown",
            (),
        )

    # A 401 whose code cannot be read is not a rejected token: no second mint.
    assert len(dwolla.requests_to("POST", "/token")) == 1


@DEEP
@pytest.mark.parametrize("status", [400, 401, 500])
def test_a_deeply_nested_token_error_is_an_api_error_with_code_unknown(
    dwolla, make_client, body, status
):
    client = make_client(retry=RetryPolicy(max_attempts=1))
    dwolla.script("POST", "/token", Reply(status, body))

    with pytest.raises(DwollaApiError) as raised:
        client.get_exchange(EXCHANGE_ID)

    assert (raised.value.status, raised.value.code) == (status, "Unknown")
    assert dwolla.requests_to("GET", EXCHANGE) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [("code", ["InvalidAccessToken"]), ("code", {"a": 1}), ("message", [[["x"]]])],
)
def test_an_error_code_or_message_that_is_not_text_is_not_trusted(dwolla, client, field, value):
    body = {"code": "ValidationError", "message": "Invalid.", field: value}
    dwolla.script("POST", SESSIONS, Reply(400, body))

    with pytest.raises(DwollaApiError) as raised:
        client.create_reauth_exchange_session(EXCHANGE_ID, CALLBACK, IDEMPOTENCY_KEY)

    expected = {"code": "Unknown", "message": ""}[field]
    assert getattr(raised.value, field) == expected


@pytest.mark.parametrize(
    "location",
    [
        f"https://api.dwolla.com/exchange-sessions/{SESSION_ID}",
        f"https://api-sandbox.dwolla.com/exchange-sessions/{SESSION_ID.upper()}",
        f"/exchange-sessions/{SESSION_ID}",
    ],
)
def test_the_session_id_comes_from_the_location_header(dwolla, client, location):
    dwolla.script("POST", SESSIONS, created(location))

    session_id = client.create_reauth_exchange_session(EXCHANGE_ID, CALLBACK, IDEMPOTENCY_KEY)

    assert session_id.lower() == SESSION_ID


@pytest.mark.parametrize(
    "reply",
    [
        Reply(201),  # no Location
        created("https://api.dwolla.com/exchange-sessions/not-a-uuid"),
        created(f"https://api.dwolla.com/exchange-sessions/{SESSION_ID}/extra"),
        created(f"https://api.dwolla.com/exchanges/{SESSION_ID}"),
    ],
    ids=["missing", "not-a-uuid", "trailing-segment", "other-resource"],
)
def test_an_unusable_location_is_a_bad_response(dwolla, client, reply):
    dwolla.script("POST", SESSIONS, reply)

    with pytest.raises(DwollaBadResponse):
        client.create_reauth_exchange_session(EXCHANGE_ID, CALLBACK, IDEMPOTENCY_KEY)


def test_a_redirect_partner_session_hands_off_a_url(dwolla, client):
    dwolla.script("GET", SESSION, redirect_session("https://provider.example/connect?s=1"))

    handoff = client.get_exchange_session(SESSION_ID)

    assert handoff == Handoff("redirect", url="https://provider.example/connect?s=1")


def test_a_plaid_session_hands_off_a_link_token(dwolla, client):
    dwolla.script("GET", SESSION, token_session(PLAID_TOKEN))

    handoff = client.get_exchange_session(SESSION_ID)

    assert (handoff.type, handoff.token, handoff.url) == ("token", PLAID_TOKEN, None)


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, {"created": "2024-11-18T18:48:11.357Z", "_links": {"self": {"href": "x"}}}),
        Reply(
            200, {"_links": {"external-provider-session": {}}, "externalProviderSessionToken": ""}
        ),
        Reply(200, b"not json"),
        Reply(200, b"[1, 2]"),
        Reply(204),
    ],
    ids=["no-handoff", "empty-handoff", "not-json", "not-an-object", "no-content"],
)
def test_a_session_without_a_usable_handoff_is_a_bad_response(dwolla, client, reply):
    dwolla.script("GET", SESSION, reply)

    with pytest.raises(DwollaBadResponse):
        client.get_exchange_session(SESSION_ID)


def test_the_exchange_status_is_read(dwolla, client):
    dwolla.script("GET", EXCHANGE, Reply(200, {"id": EXCHANGE_ID, "status": "deactivated"}))

    assert client.get_exchange(EXCHANGE_ID) == DwollaExchange(EXCHANGE_ID, "deactivated")


def test_an_exchange_without_status_is_a_bad_response(dwolla, client):
    dwolla.script("GET", EXCHANGE, Reply(200, {"id": EXCHANGE_ID}))

    with pytest.raises(DwollaBadResponse):
        client.get_exchange(EXCHANGE_ID)


# --- The exchange's customer, its funding sources, their balance ---------------------------


def exchange_reply(customer_href: object = None, **fields: object) -> Reply:
    links: dict = {"self": {"href": f"https://api.dwolla.com{EXCHANGE}"}}
    if customer_href is not None:
        links["customer"] = {"href": customer_href, "resource-type": "customer"}
    return Reply(200, {"_links": links, "id": EXCHANGE_ID, "status": "active", **fields})


def funding_source(
    source_id: str = FUNDING_SOURCE_ID,
    exchange_href: object = f"https://api.dwolla.com/exchanges/{EXCHANGE_ID}",
    **fields: object,
) -> dict:
    links: dict = {
        "self": {"href": f"https://api.dwolla.com/funding-sources/{source_id}"},
        "customer": {"href": f"https://api.dwolla.com/customers/{CUSTOMER_ID}"},
    }
    if exchange_href is not None:
        links["exchange"] = {"href": exchange_href, "resource-type": "exchange"}
    return {
        "_links": links,
        "id": source_id,
        "status": "verified",
        "type": "bank",
        "removed": False,
        **fields,
    }


def funding_sources(*items: object) -> Reply:
    return Reply(
        200,
        {
            "_links": {"self": {"href": f"https://api.dwolla.com{FUNDING_SOURCES}"}},
            "_embedded": {"funding-sources": list(items)},
            "total": len(items),
        },
    )


UPDATE_CREDENTIALS = api_error(
    400,
    "UpdateCredentials",
    "Re-authentication is required in order to access account data. "
    "Please initiate the exchange session flow to regain access.",
    _links={"about": {"href": f"https://api.dwolla.com{SESSIONS}"}},
)
BALANCE_200 = Reply(
    200,
    {
        "available": {"value": "542.00", "currency": "USD"},
        "closing": {"value": "542.00", "currency": "USD"},
        "lastUpdated": "2024-11-18T18:48:11.357Z",
    },
)


@pytest.mark.parametrize(
    "href",
    [
        f"https://api.dwolla.com/customers/{CUSTOMER_ID}",
        f"https://api-sandbox.dwolla.com/customers/{CUSTOMER_ID}",
        f"http://127.0.0.1:8787/customers/{CUSTOMER_ID}",
    ],
)
def test_the_exchange_names_its_customer(dwolla, client, href):
    dwolla.script("GET", EXCHANGE, exchange_reply(href))

    exchange = client.get_exchange(EXCHANGE_ID)

    assert exchange == DwollaExchange(EXCHANGE_ID, "active", customer_id=CUSTOMER_ID)


@pytest.mark.parametrize(
    "href",
    [
        None,
        f"https://api.dwolla.com/accounts/{CUSTOMER_ID}",
        "https://api.dwolla.com/customers/not-a-uuid",
        f"https://api.dwolla.com/customers/{CUSTOMER_ID}/extra",
        42,
    ],
    ids=["absent", "not-a-customer", "not-a-uuid", "trailing-segment", "not-a-string"],
)
def test_an_exchange_without_a_usable_customer_link_has_no_customer(dwolla, client, href):
    dwolla.script("GET", EXCHANGE, exchange_reply(href))

    assert client.get_exchange(EXCHANGE_ID) == DwollaExchange(EXCHANGE_ID, "active", None)


def test_funding_sources_are_listed_without_the_removed_ones(dwolla, client):
    dwolla.script(
        "GET",
        FUNDING_SOURCES,
        funding_sources(
            funding_source(),
            funding_source(OTHER_SOURCE_ID, exchange_href=None, type="bank"),
        ),
    )

    sources = client.list_customer_funding_sources(CUSTOMER_ID)

    assert sources == [
        DwollaFundingSource(FUNDING_SOURCE_ID, EXCHANGE_ID, removed=False, customer_id=CUSTOMER_ID),
        DwollaFundingSource(OTHER_SOURCE_ID, None, removed=False, customer_id=CUSTOMER_ID),
    ]
    (get,) = dwolla.requests_to("GET", FUNDING_SOURCES)
    assert get.headers["accept"] == HAL
    assert get.headers["authorization"] == "Bearer token-1"
    assert "content-type" not in get.headers
    assert client.stats.snapshot()["requests"]["GET /customers/{id}/funding-sources"] == 1


def test_the_removed_flag_is_read_and_must_be_a_boolean(dwolla, client):
    dwolla.script(
        "GET",
        FUNDING_SOURCES,
        funding_sources(
            funding_source(removed=True), funding_source(OTHER_SOURCE_ID, removed=None)
        ),
    )

    with pytest.raises(DwollaBadResponse, match="removed"):
        client.list_customer_funding_sources(CUSTOMER_ID)

    dwolla.script("GET", FUNDING_SOURCES, funding_sources(funding_source(removed=True)))
    [source] = client.list_customer_funding_sources(CUSTOMER_ID)
    assert source.removed is True


def test_a_funding_source_without_a_removed_flag_is_not_removed(dwolla, client):
    item = funding_source()
    del item["removed"]
    dwolla.script("GET", FUNDING_SOURCES, funding_sources(item))

    assert client.list_customer_funding_sources(CUSTOMER_ID)[0].removed is False


def test_a_customer_without_funding_sources_has_an_empty_list(dwolla, client):
    dwolla.script("GET", FUNDING_SOURCES, funding_sources())

    assert client.list_customer_funding_sources(CUSTOMER_ID) == []


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, {"_links": {}, "total": 0}),
        Reply(200, {"_embedded": {"funding-sources": {"id": FUNDING_SOURCE_ID}}}),
        funding_sources("not an object"),
        funding_sources(funding_source(source_id="fs-1")),
        funding_sources({"_links": {}, "removed": False}),
        funding_sources(funding_source(exchange_href="https://api.dwolla.com/exchanges/nope")),
        funding_sources(
            funding_source(exchange_href=f"https://api.dwolla.com/customers/{EXCHANGE_ID}")
        ),
        funding_sources(funding_source(exchange_href=7)),
        Reply(200, b"not json"),
        Reply(200, b"[]"),
    ],
    ids=[
        "no-embedded",
        "not-a-list",
        "item-not-an-object",
        "id-not-a-uuid",
        "no-id",
        "exchange-not-a-uuid",
        "exchange-link-to-elsewhere",
        "exchange-href-not-a-string",
        "not-json",
        "not-an-object",
    ],
)
def test_an_unusable_funding_source_list_is_a_bad_response(dwolla, client, reply):
    dwolla.script("GET", FUNDING_SOURCES, reply)

    with pytest.raises(DwollaBadResponse):
        client.list_customer_funding_sources(CUSTOMER_ID)


def test_an_unknown_customer_is_an_api_error(dwolla, client, sleeps):
    dwolla.script("GET", FUNDING_SOURCES, api_error(404, "notFound", "Customer not found."))

    with pytest.raises(DwollaApiError) as raised:
        client.list_customer_funding_sources(CUSTOMER_ID)

    assert (raised.value.status, raised.value.code) == (404, "notFound")
    assert sleeps == []


def test_listing_funding_sources_is_retried_on_5xx(dwolla, client, sleeps):
    dwolla.script(
        "GET", FUNDING_SOURCES, api_error(503, "ServerError"), funding_sources(funding_source())
    )

    assert len(client.list_customer_funding_sources(CUSTOMER_ID)) == 1
    assert len(sleeps) == 1


def test_a_funding_source_is_read_with_its_exchange_and_customer(dwolla, client):
    dwolla.script("GET", SOURCE, Reply(200, funding_source()))

    source = client.get_funding_source(FUNDING_SOURCE_ID)

    assert source == DwollaFundingSource(
        FUNDING_SOURCE_ID, EXCHANGE_ID, removed=False, customer_id=CUSTOMER_ID
    )
    (get,) = dwolla.requests_to("GET", SOURCE)
    assert get.headers["accept"] == HAL
    assert get.headers["authorization"] == "Bearer token-1"
    assert "content-type" not in get.headers
    assert client.stats.snapshot()["requests"]["GET /funding-sources/{id}"] == 1


def test_a_funding_source_may_link_neither_exchange_nor_customer(dwolla, client):
    item = funding_source(exchange_href=None)
    del item["_links"]["customer"]
    dwolla.script("GET", SOURCE, Reply(200, item))

    assert client.get_funding_source(FUNDING_SOURCE_ID) == DwollaFundingSource(
        FUNDING_SOURCE_ID, None, removed=False, customer_id=None
    )


def test_an_unknown_funding_source_is_dwollas_404(dwolla, client, sleeps):
    dwolla.script("GET", SOURCE, api_error(404, "notFound", "Funding source not found."))

    with pytest.raises(DwollaApiError) as raised:
        client.get_funding_source(FUNDING_SOURCE_ID)

    assert (raised.value.status, raised.value.code) == (404, "notFound")
    assert sleeps == []


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, funding_source(source_id="fs-1")),
        Reply(200, funding_source(exchange_href="https://api.dwolla.com/exchanges/nope")),
        Reply(200, b"not json"),
    ],
    ids=["id-not-a-uuid", "exchange-not-a-uuid", "not-json"],
)
def test_an_unusable_funding_source_is_a_bad_response(dwolla, client, reply):
    dwolla.script("GET", SOURCE, reply)

    with pytest.raises(DwollaBadResponse):
        client.get_funding_source(FUNDING_SOURCE_ID)


def test_reading_a_funding_source_needs_a_uuid(client):
    with pytest.raises(ValueError, match="UUID"):
        client.get_funding_source("../exchanges")


def test_a_balance_answer_means_the_bank_connection_works(dwolla, client):
    dwolla.script("GET", BALANCE, BALANCE_200)

    assert client.balance_works(FUNDING_SOURCE_ID) is True

    (get,) = dwolla.requests_to("GET", BALANCE)
    assert get.headers["accept"] == HAL
    assert get.headers["authorization"] == "Bearer token-1"
    assert client.stats.snapshot()["requests"]["GET /funding-sources/{id}/balance"] == 1


def test_update_credentials_means_the_bank_connection_needs_reauth(dwolla, client, sleeps):
    dwolla.script("GET", BALANCE, UPDATE_CREDENTIALS)

    assert client.balance_works(FUNDING_SOURCE_ID) is False

    assert len(dwolla.requests_to("GET", BALANCE)) == 1
    assert sleeps == []


def test_the_balance_check_survives_a_5xx_and_an_expired_token(dwolla, client, sleeps):
    dwolla.script(
        "GET",
        BALANCE,
        api_error(401, "ExpiredAccessToken", "Expired."),
        api_error(502, "ServerError"),
        UPDATE_CREDENTIALS,
    )

    assert client.balance_works(FUNDING_SOURCE_ID) is False

    bearer = [r.headers["authorization"] for r in dwolla.requests_to("GET", BALANCE)]
    assert bearer == ["Bearer token-1", "Bearer token-2", "Bearer token-2"]
    assert len(sleeps) == 1


@pytest.mark.parametrize(
    "reply",
    [
        api_error(400, "ValidationError", "Invalid funding source."),
        api_error(400, "updateCredentials", "Not quite the code."),
        api_error(403, "forbidden", "Not authorized."),
        api_error(404, "notFound", "Funding source not found."),
        Reply(400, b"<html>Bad Request</html>"),
    ],
    ids=["other-400", "code-in-other-case", "403", "404", "400-not-json"],
)
def test_other_balance_errors_raise(dwolla, client, reply):
    dwolla.script("GET", BALANCE, reply)

    with pytest.raises(DwollaApiError) as raised:
        client.balance_works(FUNDING_SOURCE_ID)

    assert raised.value.status == reply.status


def test_balance_errors_after_the_retries_raise(dwolla, make_client, sleeps):
    client = make_client(retry=RetryPolicy(max_attempts=2))
    dwolla.answer_always("GET", BALANCE, api_error(503, "ServerError"))

    with pytest.raises(DwollaApiError) as raised:
        client.balance_works(FUNDING_SOURCE_ID)

    assert raised.value.status == 503
    assert len(dwolla.requests_to("GET", BALANCE)) == 2


def test_a_balance_that_times_out_raises_dwolla_timeout(dwolla, make_client):
    client = make_client(
        timeout=urllib3.Timeout(connect=1.0, read=0.2), retry=RetryPolicy(max_attempts=1)
    )
    dwolla.script("GET", BALANCE, Reply(200, {"available": {}}, delay=0.6))

    with pytest.raises(DwollaTimeout):
        client.balance_works(FUNDING_SOURCE_ID)


@pytest.mark.parametrize(
    "reply",
    [Reply(200, b"not json"), Reply(200, b"[]"), Reply(204), Reply(202, {"available": {}})],
    ids=["not-json", "not-an-object", "no-content", "not-200"],
)
def test_an_unusable_balance_answer_is_a_bad_response(dwolla, client, reply):
    dwolla.script("GET", BALANCE, reply)

    with pytest.raises(DwollaBadResponse):
        client.balance_works(FUNDING_SOURCE_ID)


def test_ids_in_the_new_calls_are_logged_as_templates(dwolla, client, caplog):
    caplog.set_level(logging.DEBUG, logger="reauth.dwolla")
    dwolla.script(
        "GET", EXCHANGE, exchange_reply(f"https://api.dwolla.com/customers/{CUSTOMER_ID}")
    )
    dwolla.script("GET", FUNDING_SOURCES, funding_sources(funding_source()))
    dwolla.script("GET", BALANCE, UPDATE_CREDENTIALS)

    exchange = client.get_exchange(EXCHANGE_ID)
    [source] = client.list_customer_funding_sources(exchange.customer_id)
    assert client.balance_works(source.id) is False

    paths = [getattr(r, "dwolla_path", None) for r in caplog.records]
    assert "/customers/{id}/funding-sources" in paths
    assert "/funding-sources/{id}/balance" in paths
    for secret_or_id in (CUSTOMER_ID, FUNDING_SOURCE_ID, "token-1"):
        assert secret_or_id not in caplog.text


# --- Logs, stats and secrets ----------------------------------------------------------------


def test_each_attempt_is_logged_with_method_path_status_attempt_and_time(dwolla, client, caplog):
    caplog.set_level(logging.DEBUG, logger="reauth.dwolla")
    dwolla.script(
        "POST", SESSIONS, api_error(503, "ServerError"), created(session_location(dwolla))
    )

    client.create_reauth_exchange_session(EXCHANGE_ID, CALLBACK, IDEMPOTENCY_KEY)

    attempts = [r for r in caplog.records if getattr(r, "dwolla_path", None) == SESSIONS_TEMPLATE]
    assert [(r.dwolla_method, r.dwolla_status, r.attempt) for r in attempts] == [
        ("POST", 503, 1),
        ("POST", 201, 2),
    ]
    assert all(isinstance(r.elapsed_ms, int) for r in attempts)
    assert EXCHANGE_ID not in caplog.text  # paths are logged as templates


def test_stats_count_mints_requests_and_retries(dwolla, client):
    dwolla.script(
        "POST", SESSIONS, api_error(500, "ServerError"), created(session_location(dwolla))
    )
    dwolla.script("GET", SESSION, redirect_session())

    session_id = client.create_reauth_exchange_session(EXCHANGE_ID, CALLBACK, IDEMPOTENCY_KEY)
    client.get_exchange_session(session_id)

    assert client.stats.snapshot() == {
        "token_mints": 1,
        "retries": 1,
        "requests": {
            "POST /token": 1,
            "POST /exchanges/{id}/exchange-sessions": 2,
            "GET /exchange-sessions/{id}": 1,
        },
    }
    client.stats.reset()
    assert client.stats.snapshot() == {"token_mints": 0, "retries": 0, "requests": {}}


def test_secrets_never_reach_logs_exceptions_or_reprs(dwolla, make_client, caplog):
    caplog.set_level(logging.DEBUG)  # urllib3's own debug lines included
    clock = FrozenMonotonic()
    client = make_client(clock=clock)
    secrets = (SECRET, BASIC, "token-1", "token-2", PLAID_TOKEN)
    dwolla.script("GET", SESSION, api_error(401, "ExpiredAccessToken"), token_session())
    dwolla.script("GET", EXCHANGE, api_error(403, "forbidden", "Not authorized."))
    dwolla.answer_always("POST", SESSIONS, Reply(drop=True))

    handoff = client.get_exchange_session(SESSION_ID)
    failures: list[Exception] = []
    for call in (
        lambda: client.get_exchange(EXCHANGE_ID),
        lambda: client.create_reauth_exchange_session(EXCHANGE_ID, CALLBACK, IDEMPOTENCY_KEY),
    ):
        with pytest.raises(DwollaError) as raised:
            call()
        failures.append(raised.value)
    dwolla.script("POST", "/token", api_error(401, "InvalidCredentials", "Invalid credentials."))
    clock.advance(3600)  # the next call mints, and the mint fails
    with pytest.raises(DwollaApiError) as raised:
        client.get_exchange(EXCHANGE_ID)
    failures.append(raised.value)

    exposed = [
        caplog.text,
        repr(handoff),
        str(handoff),
        repr(DwollaCredentials(KEY, SECRET)),
        repr(client.__dict__),
        *(str(e) for e in failures),
        *(repr(e) for e in failures),
        *(repr(e.__cause__) for e in failures),
    ]
    for text in exposed:
        for secret in secrets:
            assert secret not in text
    assert handoff.token == PLAID_TOKEN  # hidden from repr, not lost


def test_an_exchanges_partner_name_is_read_and_each_partners_name_only_once(dwolla, client):
    partner_id = "e8a1c7c6-2d5f-4b8f-9a51-0c3a7d2b6f10"
    partner = f"{dwolla.base_url}/exchange-partners/{partner_id}"
    exchange = {"_links": {"exchange-partner": {"href": partner}}, "id": EXCHANGE_ID}
    dwolla.answer_always("GET", f"/exchanges/{EXCHANGE_ID}", Reply(200, exchange))
    dwolla.script("GET", f"/exchange-partners/{partner_id}", Reply(200, {"name": "Plaid"}))

    names = [client.exchange_partner_name(EXCHANGE_ID) for _ in range(2)]

    assert names == ["Plaid", "Plaid"]
    assert len(dwolla.requests_to("GET", f"/exchanges/{EXCHANGE_ID}")) == 2  # per exchange
    assert len(dwolla.requests_to("GET", f"/exchange-partners/{partner_id}")) == 1  # Dwolla's list
