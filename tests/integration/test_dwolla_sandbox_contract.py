"""The local Dwolla sandbox answers like Dwolla: real HTTP against an in-process server.

Behaviour tests check status codes, headers and exact bodies (NOTES.md wording). The schema tests
at the end validate every kind of JSON answer against Dwolla's own openapi.yml (env
DWOLLA_OPENAPI, else ../shared/dwolla/openapi.yml beside the repository); without the file they
are skipped, the behaviour tests still run.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import requests

from local.dwolla_sandbox import DwollaSandbox
from tests.support.clock import FrozenMonotonic
from tests.support.constants import OPENAPI, ROOT

HAL = "application/vnd.dwolla.v1.hal+json"
KEY, SECRET = "sandbox-key", "sandbox-secret"
CALLBACK = "https://app.example.test/reauth/callback"
UUID_RE = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
OUTCOMES = ("success", "AUTHENTICATION_ERROR", "USER_CANCELLED", "TEMPORARY_ERROR")
VALIDATION_MESSAGE = "Validation error(s) present. See embedded errors list for more details."
INVALID_URL = "/_links/redirect-url/href is invalid."
MUST_MATCH = (
    "The provided redirect URL must exactly match one of the configured URLs for the account."
)


class Dwolla:
    """A thin caller of the sandbox, speaking the way Dwolla expects to be spoken to."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url
        self.http = requests.Session()
        self._token: str | None = None

    # --- admin ---
    def admin(self, method: str, path: str, body: object = None) -> requests.Response:
        answer = self.http.request(method, f"{self.base}/_admin{path}", json=body, timeout=10)
        assert answer.status_code < 500, answer.text
        return answer

    def seed(self, partner: str = "mx", **fields: object) -> dict:
        answer = self.admin("POST", "/exchanges", {"partner": partner, **fields})
        assert answer.status_code == 201, answer.text
        return answer.json()

    def configure_redirect_urls(self, *urls: str) -> None:
        self.admin("PUT", "/redirect-urls", {"urls": list(urls)}).raise_for_status()

    def fault(self, **fault: object) -> dict:
        answer = self.admin("POST", "/faults", fault)
        assert answer.status_code == 201, answer.text
        return answer.json()

    def stored_exchange(self, exchange_id: str) -> dict:
        return self.admin("GET", f"/exchanges/{exchange_id}").json()

    def sessions(self) -> list[dict]:
        return self.admin("GET", "/exchange-sessions").json()

    # --- Dwolla side ---
    def mint_token(self, key: str = KEY, secret: str = SECRET, **form: str) -> requests.Response:
        return self.http.post(
            f"{self.base}/token",
            auth=(key, secret),
            data=form or {"grant_type": "client_credentials"},
            timeout=10,
        )

    @property
    def token(self) -> str:
        if self._token is None:
            self._token = self.mint_token().json()["access_token"]
        return self._token

    def forget_token(self) -> None:
        """The next call mints a new token."""
        self._token = None

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Accept": HAL, "Authorization": f"Bearer {self.token}", **extra}

    def get(self, path_or_url: str, **headers: str) -> requests.Response:
        url = path_or_url if path_or_url.startswith("http") else self.base + path_or_url
        return self.http.get(url, headers=self.headers(**headers), timeout=10)

    def post_session(
        self,
        exchange_id: str,
        redirect_url: str | None = CALLBACK,
        *,
        key: str | None = None,
        body: object = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        all_headers = self.headers(**{"Content-Type": HAL})
        if key:
            all_headers["Idempotency-Key"] = key
        all_headers.update(headers or {})
        if body is None and redirect_url is not None:
            body = {"_links": {"redirect-url": {"href": redirect_url}}}
        data = body if isinstance(body, str | bytes) or body is None else json.dumps(body)
        return self.http.post(
            f"{self.base}/exchanges/{exchange_id}/exchange-sessions",
            data=data,
            headers=all_headers,
            timeout=10,
        )

    def visit_bank(self, session_url_or_id: str, outcome: str | None = None) -> requests.Response:
        session_id = session_url_or_id.rsplit("/", 1)[-1]
        params = {"outcome": outcome} if outcome else None
        return requests.get(
            f"{self.base}/_provider/{session_id}", params=params, allow_redirects=False, timeout=10
        )


@pytest.fixture(scope="module")
def sandbox():
    with DwollaSandbox(host="127.0.0.1", port=0) as running:
        yield running


@pytest.fixture
def dwolla(sandbox) -> Dwolla:
    caller = Dwolla(sandbox.base_url)
    caller.admin("POST", "/reset").raise_for_status()
    caller.configure_redirect_urls(CALLBACK)
    return caller


@pytest.fixture
def clocked():
    """A sandbox on a fake clock (token expiry, the 24 h idempotency window)."""
    clock = FrozenMonotonic(1_700_000_000.0)
    with DwollaSandbox(port=0, token_ttl=3600, redirect_urls=[CALLBACK], clock=clock) as running:
        yield Dwolla(running.base_url), clock


def assert_dwolla_error(answer: requests.Response, status: int, body: dict) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"] == HAL
    assert answer.json() == body


def validation_error(code: str, message: str, path: str = "/_links/redirect-url/href") -> dict:
    return {
        "code": "ValidationError",
        "message": VALIDATION_MESSAGE,
        "_embedded": {"errors": [{"code": code, "message": message, "path": path, "_links": {}}]},
    }


def created_session(dwolla: Dwolla, partner: str = "mx", **seed: object) -> tuple[dict, str]:
    exchange = dwolla.seed(partner, **seed)
    redirect = CALLBACK if partner != "plaid" else None
    answer = dwolla.post_session(exchange["id"], redirect)
    assert answer.status_code == 201, answer.text
    return exchange, answer.headers["Location"]


# --- POST /token -------------------------------------------------------------------------------


def test_token_is_issued_for_the_configured_key_and_secret(dwolla):
    answer = dwolla.mint_token()
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"
    body = answer.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert isinstance(body["access_token"], str) and len(body["access_token"]) >= 20


@pytest.mark.parametrize(("key", "secret"), [(KEY, "wrong"), ("wrong", SECRET), ("", "")])
def test_token_with_bad_key_or_secret_is_401_invalid_credentials(dwolla, key, secret):
    answer = dwolla.mint_token(key, secret)
    assert answer.status_code == 401
    assert answer.headers["Content-Type"] == "application/json"
    body = answer.json()
    assert body["error"] == "invalid_client"
    assert body["code"] == "InvalidCredentials"


def test_token_without_basic_auth_is_401(dwolla):
    answer = requests.post(
        f"{dwolla.base}/token", data={"grant_type": "client_credentials"}, timeout=10
    )
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("form", "error"),
    [({"scope": "x"}, "invalid_request"), ({"grant_type": "password"}, "unsupported_grant_type")],
)
def test_token_with_missing_or_wrong_grant_type_is_400(dwolla, form, error):
    answer = dwolla.mint_token(**form)
    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json()["error"] == error


# --- Accept and bearer checks --------------------------------------------------------------------


@pytest.mark.parametrize("accept", [None, "application/json", "*/*"])
def test_api_call_without_dwolla_accept_header_is_406_invalid_version(dwolla, accept):
    exchange = dwolla.seed()
    headers = {"Authorization": f"Bearer {dwolla.token}"}
    if accept:
        headers["Accept"] = accept
    answer = requests.get(f"{dwolla.base}/exchanges/{exchange['id']}", headers=headers, timeout=10)
    assert_dwolla_error(
        answer, 406, {"code": "InvalidVersion", "message": "Missing or invalid API version."}
    )


def test_accept_header_with_parameters_is_accepted(dwolla):
    exchange = dwolla.seed()
    accept = f'{HAL}; profile="https://github.com/dwolla/hal-forms"'
    assert dwolla.get(f"/exchanges/{exchange['id']}", Accept=accept).status_code == 200


def test_unknown_bearer_token_is_401_invalid_access_token(dwolla):
    exchange = dwolla.seed()
    answer = requests.get(
        f"{dwolla.base}/exchanges/{exchange['id']}",
        headers={"Accept": HAL, "Authorization": "Bearer not-a-token"},
        timeout=10,
    )
    assert_dwolla_error(
        answer, 401, {"code": "InvalidAccessToken", "message": "Invalid access token."}
    )


def test_missing_authorization_is_401_invalid_credentials(dwolla):
    exchange = dwolla.seed()
    answer = requests.get(
        f"{dwolla.base}/exchanges/{exchange['id']}", headers={"Accept": HAL}, timeout=10
    )
    assert_dwolla_error(
        answer,
        401,
        {"code": "InvalidCredentials", "message": "Missing or invalid Authorization header."},
    )


def test_expired_tokens_answer_401_expired_access_token_and_a_new_token_works(dwolla):
    exchange = dwolla.seed()
    assert dwolla.get(f"/exchanges/{exchange['id']}").status_code == 200
    assert dwolla.admin("POST", "/tokens/expire").json() == {"expired": 1}
    answer = dwolla.get(f"/exchanges/{exchange['id']}")
    assert answer.status_code == 401
    assert answer.json()["code"] == "ExpiredAccessToken"
    assert answer.json()["message"]
    dwolla.forget_token()
    assert dwolla.get(f"/exchanges/{exchange['id']}").status_code == 200


def test_token_expires_after_its_ttl(clocked):
    dwolla, clock = clocked
    exchange = dwolla.seed()
    assert dwolla.token
    clock.advance(3599)
    assert dwolla.get(f"/exchanges/{exchange['id']}").status_code == 200
    clock.advance(1)
    assert dwolla.get(f"/exchanges/{exchange['id']}").json()["code"] == "ExpiredAccessToken"


# --- POST /exchanges/{id}/exchange-sessions ------------------------------------------------------


@pytest.mark.parametrize("partner", ["mx", "visa"])
def test_redirect_partner_session_is_201_with_empty_body_and_location(dwolla, partner):
    exchange = dwolla.seed(partner)
    answer = dwolla.post_session(exchange["id"], CALLBACK)
    assert answer.status_code == 201
    assert answer.content == b""
    assert answer.headers["Content-Length"] == "0"
    assert "Content-Type" not in answer.headers
    assert re.fullmatch(
        f"{re.escape(dwolla.base)}/exchange-sessions/{UUID_RE}", answer.headers["Location"]
    )
    [session] = dwolla.sessions()
    assert session["exchangeId"] == exchange["id"]
    assert session["redirectUrl"] == CALLBACK
    assert answer.headers["Location"].endswith(session["id"])


def test_plaid_session_is_created_without_a_body(dwolla):
    exchange = dwolla.seed("plaid")
    answer = dwolla.post_session(exchange["id"], None)
    assert answer.status_code == 201
    assert re.fullmatch(f".*/exchange-sessions/{UUID_RE}", answer.headers["Location"])


def test_session_post_accepts_plain_application_json(dwolla):
    exchange = dwolla.seed()
    answer = dwolla.post_session(exchange["id"], headers={"Content-Type": "application/json"})
    assert answer.status_code == 201


@pytest.mark.parametrize("partner", ["mx", "visa"])
def test_redirect_partner_without_redirect_url_is_a_validation_error(dwolla, partner):
    exchange = dwolla.seed(partner)
    answer = dwolla.post_session(exchange["id"], None)
    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] == "ValidationError"
    assert body["message"] == VALIDATION_MESSAGE
    [error] = body["_embedded"]["errors"]
    assert error["code"] == "Required"
    assert error["path"] == "/_links/redirect-url/href"
    assert dwolla.sessions() == []


@pytest.mark.parametrize(
    "href",
    ["not a url", "ftp://app.example.test/cb", "https://", "/reauth/callback", "", 42, None],
)
def test_malformed_redirect_url_is_invalid(dwolla, href):
    exchange = dwolla.seed()
    answer = dwolla.post_session(exchange["id"], body={"_links": {"redirect-url": {"href": href}}})
    assert_dwolla_error(answer, 400, validation_error("Invalid", INVALID_URL))


@pytest.mark.parametrize(
    "href",
    [
        CALLBACK + "/",
        CALLBACK.replace("https", "http"),
        CALLBACK.replace(".test", ".test:8443"),
        CALLBACK + "?x=1",
        "https://evil.example.test/reauth/callback",
    ],
)
def test_redirect_url_not_configured_must_exactly_match(dwolla, href):
    exchange = dwolla.seed()
    answer = dwolla.post_session(exchange["id"], href)
    assert_dwolla_error(answer, 400, validation_error("Invalid", MUST_MATCH))


def test_plaid_redirect_url_when_given_must_be_configured(dwolla):
    exchange = dwolla.seed("plaid")
    answer = dwolla.post_session(exchange["id"], "https://other.example.test/cb")
    assert_dwolla_error(answer, 400, validation_error("Invalid", MUST_MATCH))


def test_body_that_is_not_json_is_400_bad_request(dwolla):
    exchange = dwolla.seed()
    answer = dwolla.post_session(exchange["id"], body="{not json")
    assert_dwolla_error(
        answer,
        400,
        {"code": "BadRequest", "message": "The request body contains bad syntax or is incomplete."},
    )


def test_missing_open_banking_scope_is_401_invalid_scope(dwolla):
    exchange = dwolla.seed()
    dwolla.admin("PUT", "/scopes", {"openBanking": False}).raise_for_status()
    answer = dwolla.post_session(exchange["id"])
    assert_dwolla_error(
        answer,
        401,
        {"code": "InvalidScope", "message": "Missing or invalid scopes for requested endpoint."},
    )
    dwolla.admin("PUT", "/scopes", {"openBanking": True}).raise_for_status()
    assert dwolla.post_session(exchange["id"]).status_code == 201


def test_session_post_for_unknown_exchange_is_404_not_found(dwolla):
    answer = dwolla.post_session(str(uuid.uuid4()))
    assert_dwolla_error(
        answer, 404, {"code": "NotFound", "message": "The requested resource was not found."}
    )


# --- Idempotency-Key ---------------------------------------------------------------------------


def test_same_idempotency_key_and_body_replays_the_original_201(dwolla):
    exchange = dwolla.seed()
    first = dwolla.post_session(exchange["id"], key="key-1")
    spaced_out = json.dumps({"_links": {"redirect-url": {"href": CALLBACK}}}, indent=4)
    again = dwolla.post_session(exchange["id"], key="key-1", body=spaced_out)
    assert first.status_code == again.status_code == 201
    assert again.headers["Location"] == first.headers["Location"]
    assert again.content == b""
    assert len(dwolla.sessions()) == 1


def test_posts_without_idempotency_key_create_a_session_each(dwolla):
    exchange = dwolla.seed()
    first = dwolla.post_session(exchange["id"])
    second = dwolla.post_session(exchange["id"])
    assert first.headers["Location"] != second.headers["Location"]
    assert len(dwolla.sessions()) == 2


def test_idempotency_key_reused_with_a_different_body_is_rejected(dwolla):
    dwolla.configure_redirect_urls(CALLBACK, CALLBACK + "/other")
    exchange = dwolla.seed()
    assert dwolla.post_session(exchange["id"], key="key-1").status_code == 201
    answer = dwolla.post_session(exchange["id"], CALLBACK + "/other", key="key-1")
    assert answer.status_code == 400
    [error] = answer.json()["_embedded"]["errors"]
    assert error["code"] == "Invalid"
    assert "Idempotency-Key" in error["message"]
    assert len(dwolla.sessions()) == 1


def test_idempotency_key_reused_for_another_exchange_is_rejected(dwolla):
    one, two = dwolla.seed(), dwolla.seed()
    assert dwolla.post_session(one["id"], key="key-1").status_code == 201
    assert dwolla.post_session(two["id"], key="key-1").status_code == 400
    assert len(dwolla.sessions()) == 1


def test_idempotency_key_is_free_again_after_24_hours(clocked):
    dwolla, clock = clocked
    exchange = dwolla.seed()
    first = dwolla.post_session(exchange["id"], key="key-1")
    clock.advance(24 * 3600 - 1)
    dwolla.forget_token()  # the first token has expired meanwhile
    assert (
        dwolla.post_session(exchange["id"], key="key-1").headers["Location"]
        == (first.headers["Location"])
    )
    clock.advance(1)
    later = dwolla.post_session(exchange["id"], key="key-1")
    assert later.status_code == 201
    assert later.headers["Location"] != first.headers["Location"]
    assert len(dwolla.sessions()) == 2


def test_failed_request_does_not_keep_its_idempotency_key(dwolla):
    dwolla.configure_redirect_urls()
    exchange = dwolla.seed()
    assert dwolla.post_session(exchange["id"], key="key-1").status_code == 400
    dwolla.configure_redirect_urls(CALLBACK)
    assert dwolla.post_session(exchange["id"], key="key-1").status_code == 201


def test_same_idempotency_key_while_first_is_processing_is_409(dwolla):
    exchange = dwolla.seed()
    dwolla.fault(method="POST", path="/exchanges/*/exchange-sessions", delay=1.5)
    first: dict[str, requests.Response] = {}
    slow = threading.Thread(
        target=lambda: first.update(
            answer=Dwolla(dwolla.base).post_session(exchange["id"], key="k")
        )
    )
    slow.start()
    time.sleep(0.5)
    conflict = dwolla.post_session(exchange["id"], key="k")
    slow.join()
    assert conflict.status_code == 409
    assert conflict.headers["Content-Type"] == HAL
    assert conflict.json()["code"] == "Conflict"
    assert first["answer"].status_code == 201
    retry = dwolla.post_session(exchange["id"], key="k")
    assert retry.status_code == 201
    assert retry.headers["Location"] == first["answer"].headers["Location"]
    assert len(dwolla.sessions()) == 1


def test_answer_lost_to_a_client_timeout_is_replayed_to_the_retry(dwolla):
    exchange = dwolla.seed()
    # The first answer takes 4 s; the caller gives up at 0.3 s and asks again at once: still
    # processing (a margin of 3.7 s, so a loaded machine does not finish it first).
    dwolla.fault(method="POST", path="/exchanges/*/exchange-sessions", delay=4.0)
    caller = Dwolla(dwolla.base)
    caller.http.request = _with_timeout(caller.http.request, 0.3)
    with pytest.raises(requests.Timeout):
        caller.post_session(exchange["id"], key="k")
    assert dwolla.post_session(exchange["id"], key="k").status_code == 409  # still processing
    time.sleep(4.0)
    retry = dwolla.post_session(exchange["id"], key="k")
    deadline = time.monotonic() + 15  # a loaded machine may need a moment more to finish it
    while retry.status_code == 409 and time.monotonic() < deadline:
        time.sleep(0.5)
        retry = dwolla.post_session(exchange["id"], key="k")
    assert retry.status_code == 201
    [session] = dwolla.sessions()
    assert retry.headers["Location"].endswith(session["id"])


def _with_timeout(request, seconds: float):
    def timed(*args, **kwargs):
        kwargs["timeout"] = seconds
        return request(*args, **kwargs)

    return timed


def test_concurrent_posts_with_one_idempotency_key_create_one_session(dwolla):
    exchange = dwolla.seed()
    answers: list[requests.Response] = []
    lock = threading.Lock()

    def post() -> None:
        answer = Dwolla(dwolla.base).post_session(exchange["id"], key="shared")
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {a.status_code for a in answers} <= {201, 409}
    assert len({a.headers["Location"] for a in answers if a.status_code == 201}) == 1
    assert len(dwolla.sessions()) == 1


# --- GET /exchange-sessions/{id}, GET /exchanges/{id} -------------------------------------------


@pytest.mark.parametrize("partner", ["mx", "visa"])
def test_redirect_session_hands_off_the_provider_url(dwolla, partner):
    _, location = created_session(dwolla, partner)
    answer = dwolla.get(location)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == HAL
    body = answer.json()
    assert body["_links"]["self"]["href"] == location
    provider = body["_links"]["external-provider-session"]
    assert provider["href"] == f"{dwolla.base}/_provider/{location.rsplit('/', 1)[-1]}"
    assert provider["resource-type"] == "text/html"
    assert "externalProviderSessionToken" not in body
    assert "id" not in body and "status" not in body


def test_plaid_session_hands_off_a_link_token(dwolla):
    _, location = created_session(dwolla, "plaid")
    body = dwolla.get(location).json()
    assert body["externalProviderSessionToken"].startswith("link-sandbox-")
    assert "external-provider-session" not in body["_links"]
    assert body["_links"]["exchange-partner"]["resource-type"] == "exchange-partner"


def test_unknown_exchange_session_is_404(dwolla):
    answer = dwolla.get(f"/exchange-sessions/{uuid.uuid4()}")
    assert_dwolla_error(answer, 404, {"code": "notFound", "message": "Exchange session not found."})


def test_exchange_is_read_as_seeded(dwolla):
    exchange = dwolla.seed("mx", status="deactivated")
    answer = dwolla.get(f"/exchanges/{exchange['id']}")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == HAL
    body = answer.json()
    assert body["id"] == exchange["id"]
    assert body["status"] == "deactivated"
    assert body["created"] == exchange["created"]
    assert set(body["_links"]) == {"self", "exchange-partner", "customer"}
    assert body["_links"]["customer"]["href"].endswith(exchange["customerId"])


def test_unknown_exchange_is_404(dwolla):
    answer = dwolla.get(f"/exchanges/{uuid.uuid4()}")
    assert_dwolla_error(
        answer,
        404,
        {"code": "NotFound", "message": "The requested resource was not found. Check Exchange ID."},
    )


def test_unknown_path_is_404_and_wrong_method_is_405(dwolla):
    assert dwolla.get("/customers").json()["code"] == "NotFound"
    answer = dwolla.http.get(f"{dwolla.base}/token", timeout=10)
    assert answer.status_code == 405
    assert answer.json()["code"] == "MethodNotAllowed"


# --- GET /funding-sources/{id}/balance ----------------------------------------------------------


def test_balance_while_reauth_is_required_is_update_credentials(dwolla):
    exchange = dwolla.seed("mx", fundingSourceId="fs-1")
    answer = dwolla.get("/funding-sources/fs-1/balance")
    assert_dwolla_error(
        answer,
        400,
        {
            "code": "UpdateCredentials",
            "message": (
                "Re-authentication is required in order to access account data. "
                "Please initiate the exchange session flow to regain access."
            ),
            "_links": {
                "about": {
                    "href": f"{dwolla.base}/exchanges/{exchange['id']}/exchange-sessions",
                    "type": HAL,
                    "resource-type": "exchange-session",
                }
            },
        },
    )


def test_update_credentials_about_link_is_where_to_post_the_session(dwolla):
    dwolla.seed("mx", fundingSourceId="fs-1")
    about = dwolla.get("/funding-sources/fs-1/balance").json()["_links"]["about"]["href"]
    answer = dwolla.http.post(
        about,
        json={"_links": {"redirect-url": {"href": CALLBACK}}},
        headers=dwolla.headers(),
        timeout=10,
    )
    assert answer.status_code == 201


def test_balance_after_successful_reauth_is_200(dwolla):
    _, location = created_session(dwolla, "mx", fundingSourceId="fs-1")
    assert dwolla.visit_bank(location, "success").status_code == 302
    answer = dwolla.get("/funding-sources/fs-1/balance")
    assert answer.status_code == 200
    body = answer.json()
    assert body["available"]["currency"] == "USD"
    assert body["_links"]["funding-source"]["href"] == f"{dwolla.base}/funding-sources/fs-1"


def test_balance_of_unknown_funding_source_is_404(dwolla):
    answer = dwolla.get("/funding-sources/nope/balance")
    assert_dwolla_error(answer, 404, {"code": "notFound", "message": "Funding source not found."})


# --- The bank -------------------------------------------------------------------------------------


def test_bank_success_redirects_with_the_exchange_and_repairs_it(dwolla):
    exchange, location = created_session(dwolla, "mx", status="deactivated")
    answer = dwolla.visit_bank(location, "success")
    assert answer.status_code == 302
    assert answer.headers["Location"] == f"{CALLBACK}?exchange={exchange['id']}"
    stored = dwolla.stored_exchange(exchange["id"])
    assert stored["status"] == "active"
    assert stored["reauthRequired"] is False
    assert dwolla.get(f"/exchanges/{exchange['id']}").json()["status"] == "active"


@pytest.mark.parametrize("outcome", ["AUTHENTICATION_ERROR", "USER_CANCELLED", "TEMPORARY_ERROR"])
def test_bank_failure_redirects_with_the_error_and_leaves_the_exchange(dwolla, outcome):
    exchange, location = created_session(dwolla, "visa")
    answer = dwolla.visit_bank(location, outcome)
    assert answer.status_code == 302
    assert answer.headers["Location"] == f"{CALLBACK}?error={outcome}"
    assert dwolla.stored_exchange(exchange["id"])["reauthRequired"] is True


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_bank_outcome_defaults_to_the_seeded_provider_outcome(dwolla, outcome):
    exchange, location = created_session(dwolla, "mx", providerOutcome=outcome)
    expected = f"exchange={exchange['id']}" if outcome == "success" else f"error={outcome}"
    assert dwolla.visit_bank(location).headers["Location"] == f"{CALLBACK}?{expected}"


def test_bank_keeps_the_redirect_url_query(dwolla):
    with_query = CALLBACK + "?tenant=7"
    dwolla.configure_redirect_urls(with_query)
    exchange = dwolla.seed()
    location = dwolla.post_session(exchange["id"], with_query).headers["Location"]
    answer = dwolla.visit_bank(location, "success")
    assert answer.headers["Location"] == f"{with_query}&exchange={exchange['id']}"


def test_bank_session_is_single_use(dwolla):
    _, location = created_session(dwolla)
    assert dwolla.visit_bank(location, "USER_CANCELLED").status_code == 302
    again = dwolla.visit_bank(location, "success")
    assert again.status_code == 410
    assert again.headers["Content-Type"].startswith("text/html")
    [session] = dwolla.sessions()
    assert session["used"] is True
    assert session["outcome"] == "USER_CANCELLED"


def test_bank_page_for_unknown_session_is_404(dwolla):
    answer = dwolla.visit_bank(str(uuid.uuid4()))
    assert answer.status_code == 404
    assert answer.headers["Content-Type"].startswith("text/html")


def test_bank_page_rejects_an_unknown_outcome_without_using_the_session(dwolla):
    _, location = created_session(dwolla)
    assert dwolla.visit_bank(location, "MAYBE").status_code == 400
    assert dwolla.visit_bank(location, "success").status_code == 302


def test_plaid_session_completed_through_admin_repairs_the_exchange(dwolla):
    exchange, location = created_session(dwolla, "plaid")
    session_id = location.rsplit("/", 1)[-1]
    assert dwolla.visit_bank(location).status_code == 400  # no redirect: Plaid Link instead
    done = dwolla.admin("POST", f"/exchange-sessions/{session_id}/complete", {"outcome": "success"})
    assert done.status_code == 200
    assert done.json()["exchange"]["reauthRequired"] is False
    again = dwolla.admin(
        "POST", f"/exchange-sessions/{session_id}/complete", {"outcome": "success"}
    )
    assert again.status_code == 410


def test_plaid_session_completed_with_an_error_leaves_the_exchange(dwolla):
    exchange, location = created_session(dwolla, "plaid")
    session_id = location.rsplit("/", 1)[-1]
    done = dwolla.admin(
        "POST", f"/exchange-sessions/{session_id}/complete", {"outcome": "USER_CANCELLED"}
    )
    assert done.json()["session"]["outcome"] == "USER_CANCELLED"
    assert dwolla.stored_exchange(exchange["id"])["reauthRequired"] is True


@pytest.mark.parametrize(("partner", "name"), [("plaid", "Plaid"), ("mx", "MX")])
def test_an_exchange_names_its_partner(dwolla, partner, name):
    exchange = dwolla.seed(partner)
    href = dwolla.get(f"/exchanges/{exchange['id']}").json()["_links"]["exchange-partner"]["href"]
    assert dwolla.get(href.removeprefix(dwolla.base)).json()["name"] == name


def _oauth_session(dwolla: Dwolla, redirect: str | None = CALLBACK) -> tuple[str, str]:
    """(session id, link token) of a Plaid session whose Item is at an OAuth bank."""
    exchange = dwolla.seed("plaid", plaidBank="oauth")
    location = dwolla.post_session(exchange["id"], redirect).headers["Location"]
    token = dwolla.get(location).json()["externalProviderSessionToken"]
    return location.rsplit("/", 1)[-1], token


def _finish_oauth(dwolla: Dwolla, token: str, received: str | None = None) -> dict:
    body = {"token": token, **({"receivedRedirectUri": received} if received else {})}
    answer = dwolla.http.post(f"{dwolla.base}/_plaid/link/finish", json=body, timeout=10)
    return answer.json()


def test_oauth_bank_finishes_only_when_link_reopens_at_the_redirect_url(dwolla):
    _, token = _oauth_session(dwolla)
    left = _finish_oauth(dwolla, token)
    assert left["outcome"] == "oauth"  # Link leaves the page for the bank's site
    bank = dwolla.http.get(left["bankUrl"], timeout=10)
    assert bank.status_code == 200 and "script" not in bank.text
    back = html.unescape(re.search(r'id="approve" href="([^"]+)"', bank.text)[1])
    state = parse_qs(urlsplit(back).query)["oauth_state_id"][0]
    assert back == f"{CALLBACK}?oauth_state_id={state}"

    # The redirect page does not re-open Link right: the login never completes.
    for received in (
        None,
        f"{CALLBACK}?oauth_state_id=other",
        f"https://else.test/?oauth_state_id={state}",
    ):
        assert _finish_oauth(dwolla, token, received)["outcome"] == "oauth"
    assert _finish_oauth(dwolla, token)["bankUrl"] == left["bankUrl"]  # one state per token
    assert [s["used"] for s in dwolla.sessions()] == [False]

    assert _finish_oauth(dwolla, token, back)["outcome"] == "success"
    assert [s["used"] for s in dwolla.sessions()] == [True]


def test_oauth_bank_needs_a_redirect_url_on_the_session(dwolla):
    _, token = _oauth_session(dwolla, redirect=None)
    assert _finish_oauth(dwolla, token) == {"outcome": "OAUTH_NOT_CONFIGURED"}
    assert [s["used"] for s in dwolla.sessions()] == [False]


# --- GET /customers/{id}/funding-sources, GET /funding-sources/{id} ------------------------------


def plaid_session(dwolla: Dwolla, **seed: object) -> tuple[dict, str, str]:
    """(exchange, session id, Plaid Link token) of a fresh Plaid exchange session."""
    exchange, location = created_session(dwolla, "plaid", **seed)
    token = dwolla.get(location).json()["externalProviderSessionToken"]
    return exchange, location.rsplit("/", 1)[-1], token


def finish_plaid(dwolla: Dwolla, token: object, **headers: str) -> requests.Response:
    """What the sandbox's bank UI sends when it is done (same origin, JSON)."""
    return dwolla.http.post(
        f"{dwolla.base}/_plaid/link/finish", json={"token": token}, headers=headers, timeout=10
    )


def expected_funding_source(base: str, exchange: dict) -> dict:
    url = f"{base}/funding-sources/{exchange['fundingSourceId']}"
    return {
        "_links": {
            "self": {"href": url, "type": HAL, "resource-type": "funding-source"},
            "customer": {
                "href": f"{base}/customers/{exchange['customerId']}",
                "type": HAL,
                "resource-type": "customer",
            },
            "exchange": {
                "href": f"{base}/exchanges/{exchange['id']}",
                "type": HAL,
                "resource-type": "exchange",
            },
            "balance": {"href": f"{url}/balance", "type": HAL, "resource-type": "balance"},
        },
        "id": exchange["fundingSourceId"],
        "status": "verified",
        "type": "bank",
        "bankAccountType": "checking",
        "name": "Sandbox checking",
        "created": exchange["created"],
        "removed": exchange["fundingSourceRemoved"],
        "channels": ["ach"],
        "bankName": "SANDBOX TEST BANK",
    }


def test_customer_funding_sources_list_each_one_made_from_an_exchange(dwolla):
    customer = str(uuid.uuid4())
    first = dwolla.seed("plaid", customerId=customer)
    second = dwolla.seed("mx", customerId=customer)
    dwolla.seed("mx")  # another customer's
    answer = dwolla.get(f"/customers/{customer}/funding-sources")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == HAL
    assert answer.json() == {
        "_links": {
            "self": {
                "href": f"{dwolla.base}/customers/{customer}/funding-sources",
                "type": HAL,
                "resource-type": "funding-source",
            },
            "customer": {
                "href": f"{dwolla.base}/customers/{customer}",
                "type": HAL,
                "resource-type": "customer",
            },
        },
        "_embedded": {
            "funding-sources": [
                expected_funding_source(dwolla.base, first),
                expected_funding_source(dwolla.base, second),
            ]
        },
        "total": 2,
    }


def test_the_exchange_link_of_a_funding_source_reads_its_exchange(dwolla):
    exchange = dwolla.seed("plaid")
    listed = dwolla.get(f"/customers/{exchange['customerId']}/funding-sources").json()
    [source] = listed["_embedded"]["funding-sources"]
    assert dwolla.get(source["_links"]["exchange"]["href"]).json()["id"] == exchange["id"]
    assert dwolla.get(source["_links"]["self"]["href"]).json() == source
    balance = dwolla.get(source["_links"]["balance"]["href"])
    assert balance.json()["code"] == "UpdateCredentials"


@pytest.mark.parametrize(
    ("query", "listed"),
    [
        ("", {"kept": False, "removed": True}),
        ("?removed=true", {"kept": False, "removed": True}),
        ("?removed=false", {"kept": False}),
        ("?removed=FALSE", {"kept": False}),
    ],
)
def test_removed_funding_sources_are_listed_unless_removed_is_false(dwolla, query, listed):
    customer = str(uuid.uuid4())
    dwolla.seed("mx", customerId=customer, fundingSourceId="kept")
    dwolla.seed("mx", customerId=customer, fundingSourceId="removed", fundingSourceRemoved=True)
    body = dwolla.get(f"/customers/{customer}/funding-sources{query}").json()
    assert {s["id"]: s["removed"] for s in body["_embedded"]["funding-sources"]} == listed
    assert body["total"] == len(listed)


def test_funding_source_is_read_by_id(dwolla):
    exchange = dwolla.seed("mx", fundingSourceId="fs-1", fundingSourceRemoved=True)
    answer = dwolla.get("/funding-sources/fs-1")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == HAL
    assert answer.json() == expected_funding_source(dwolla.base, exchange)
    assert answer.json()["removed"] is True


def seed_bank(dwolla: Dwolla, customer: str, **fields: object) -> dict:
    """A customer's bank added by account and routing numbers: no exchange made it."""
    answer = dwolla.admin("POST", "/funding-sources", {"customerId": customer, **fields})
    assert answer.status_code == 201, answer.text
    return answer.json()


def expected_bank_funding_source(base: str, bank: dict) -> dict:
    url = f"{base}/funding-sources/{bank['id']}"
    return {
        "_links": {
            "self": {"href": url, "type": HAL, "resource-type": "funding-source"},
            "customer": {
                "href": f"{base}/customers/{bank['customerId']}",
                "type": HAL,
                "resource-type": "customer",
            },
            "balance": {"href": f"{url}/balance", "type": HAL, "resource-type": "balance"},
        },
        "id": bank["id"],
        "status": "verified",
        "type": "bank",
        "bankAccountType": "savings",
        "name": "Sandbox savings (account numbers)",
        "created": bank["created"],
        "removed": bank["removed"],
        "channels": ["ach"],
        "bankName": "SANDBOX OTHER BANK",
    }


def test_a_bank_added_by_numbers_links_its_customer_and_no_exchange(dwolla):
    bank = seed_bank(dwolla, str(uuid.uuid4()), id="fs-bank")
    answer = dwolla.get("/funding-sources/fs-bank")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == HAL
    assert answer.json() == expected_bank_funding_source(dwolla.base, bank)
    assert "exchange" not in answer.json()["_links"]


def test_a_customer_lists_the_funding_sources_of_its_exchanges_then_its_banks(dwolla):
    customer = str(uuid.uuid4())
    first = dwolla.seed("mx", customerId=customer)
    second = dwolla.seed("plaid", customerId=customer)
    bank = seed_bank(dwolla, customer)
    seed_bank(dwolla, customer, removed=True)
    dwolla.seed("mx")  # another customer's
    seed_bank(dwolla, str(uuid.uuid4()))  # another customer's

    listed = dwolla.get(f"/customers/{customer}/funding-sources?removed=false").json()

    assert listed["_embedded"]["funding-sources"] == [
        expected_funding_source(dwolla.base, first),
        expected_funding_source(dwolla.base, second),
        expected_bank_funding_source(dwolla.base, bank),
    ]
    assert listed["total"] == 3
    assert (
        len(
            dwolla.get(f"/customers/{customer}/funding-sources").json()["_embedded"][
                "funding-sources"
            ]
        )
        == 4
    )


def test_a_customer_known_only_by_a_bank_is_known(dwolla):
    customer = str(uuid.uuid4())
    seed_bank(dwolla, customer)
    assert dwolla.get(f"/customers/{customer}/funding-sources").status_code == 200


def test_a_bank_added_by_numbers_answers_its_balance(dwolla):
    bank = seed_bank(dwolla, str(uuid.uuid4()))
    answer = dwolla.get(f"/funding-sources/{bank['id']}/balance")
    assert answer.status_code == 200
    assert answer.json()["lastUpdated"] == bank["created"]


@pytest.mark.parametrize(
    "body",
    [{}, {"customerId": ""}, {"customerId": 7}, {"customerId": "c", "removed": "no"}, []],
)
def test_a_bank_seed_needs_a_customer(dwolla, body):
    assert dwolla.admin("POST", "/funding-sources", body).status_code == 400


def test_unknown_customer_funding_sources_are_404(dwolla):
    dwolla.seed("mx")
    answer = dwolla.get(f"/customers/{uuid.uuid4()}/funding-sources")
    assert_dwolla_error(answer, 404, {"code": "notFound", "message": "Customer not found."})


def test_unknown_funding_source_is_404(dwolla):
    answer = dwolla.get(f"/funding-sources/{uuid.uuid4()}")
    assert_dwolla_error(answer, 404, {"code": "notFound", "message": "Funding source not found."})


def test_403_fault_on_listing_funding_sources_uses_the_list_message(dwolla):
    exchange = dwolla.seed("mx")
    dwolla.fault(path="/customers/*/funding-sources", status=403)
    assert_dwolla_error(
        dwolla.get(f"/customers/{exchange['customerId']}/funding-sources"),
        403,
        {"code": "forbidden", "message": "Not authorized to list funding sources."},
    )


NEW_DWOLLA_PATHS = [
    "/customers/{customer}/funding-sources",
    "/funding-sources/{source}",
    "/events",
    "/events/{event}",
]


def _new_path(dwolla: Dwolla, template: str) -> str:
    exchange = dwolla.seed("mx")
    event = dwolla.admin("POST", f"/exchanges/{exchange['id']}/reauth-required").json()["event"]
    return template.format(
        customer=exchange["customerId"], source=exchange["fundingSourceId"], event=event["id"]
    )


@pytest.mark.parametrize("template", NEW_DWOLLA_PATHS)
def test_new_routes_answer_200_with_token_and_accept(dwolla, template):
    assert dwolla.get(_new_path(dwolla, template)).status_code == 200


@pytest.mark.parametrize("template", NEW_DWOLLA_PATHS)
def test_new_routes_need_the_dwolla_accept_header(dwolla, template):
    path = _new_path(dwolla, template)
    answer = dwolla.get(path, Accept="application/json")
    assert_dwolla_error(
        answer, 406, {"code": "InvalidVersion", "message": "Missing or invalid API version."}
    )


@pytest.mark.parametrize("template", NEW_DWOLLA_PATHS)
def test_new_routes_need_a_bearer_token(dwolla, template):
    path = _new_path(dwolla, template)
    missing = requests.get(f"{dwolla.base}{path}", headers={"Accept": HAL}, timeout=10)
    assert_dwolla_error(
        missing,
        401,
        {"code": "InvalidCredentials", "message": "Missing or invalid Authorization header."},
    )
    unknown = requests.get(
        f"{dwolla.base}{path}", headers={"Accept": HAL, "Authorization": "Bearer x"}, timeout=10
    )
    assert unknown.json()["code"] == "InvalidAccessToken"


# --- The balance answers UpdateCredentials until the bank leg really happened -------------------


def test_balance_stays_update_credentials_until_a_session_finishes_with_success(dwolla):
    exchange, location = created_session(dwolla, "mx", fundingSourceId="fs-1")
    balance = "/funding-sources/fs-1/balance"
    assert dwolla.get(balance).json()["code"] == "UpdateCredentials"  # session made, not used
    dwolla.get(location)  # read, not used
    assert dwolla.get(f"/exchanges/{exchange['id']}").json()["status"] == "active"
    assert dwolla.get(balance).json()["code"] == "UpdateCredentials"
    for outcome in ("USER_CANCELLED", "AUTHENTICATION_ERROR", "TEMPORARY_ERROR"):
        retry = dwolla.post_session(exchange["id"]).headers["Location"]
        dwolla.visit_bank(retry, outcome)
        assert dwolla.get(balance).json()["code"] == "UpdateCredentials", outcome
    assert dwolla.visit_bank(location, "success").status_code == 302
    assert dwolla.get(balance).status_code == 200


@pytest.mark.parametrize("outcome", ["USER_CANCELLED", "AUTHENTICATION_ERROR", "TEMPORARY_ERROR"])
def test_balance_stays_update_credentials_after_a_failed_plaid_link(dwolla, outcome):
    _, _, token = plaid_session(dwolla, fundingSourceId="fs-1", providerOutcome=outcome)
    assert finish_plaid(dwolla, token).json()["outcome"] == outcome
    assert dwolla.get("/funding-sources/fs-1/balance").json()["code"] == "UpdateCredentials"


def test_balance_is_200_after_a_successful_plaid_link(dwolla):
    _, _, token = plaid_session(dwolla, fundingSourceId="fs-1")
    assert finish_plaid(dwolla, token).status_code == 200
    assert dwolla.get("/funding-sources/fs-1/balance").status_code == 200


def test_balance_needs_reauth_again_once_the_admin_marks_the_exchange(dwolla):
    exchange, location = created_session(dwolla, "mx", fundingSourceId="fs-1")
    dwolla.visit_bank(location, "success")
    assert dwolla.get("/funding-sources/fs-1/balance").status_code == 200
    marked = dwolla.admin("POST", f"/exchanges/{exchange['id']}/reauth-required")
    assert marked.status_code == 200
    assert marked.json()["exchange"]["reauthRequired"] is True
    assert marked.json()["exchange"]["status"] == "active"  # pending deactivation, still active
    assert dwolla.get("/funding-sources/fs-1/balance").json()["code"] == "UpdateCredentials"


# --- Plaid Link stand-in --------------------------------------------------------------------------


def test_plaid_script_is_javascript_defining_plaid_create(dwolla):
    answer = dwolla.http.get(f"{dwolla.base}/_plaid/link-initialize.js", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/javascript"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    script = answer.text
    assert script.isascii()
    assert "window.Plaid = {create: create}" in script
    for part in ("function create(config)", "open: function", "exit: function", "destroy:"):
        assert part in script
    for callback in ("config.onSuccess", "config.onExit", "config.onEvent", "config.onLoad"):
        assert callback in script
    assert "event.origin !== ORIGIN" in script
    assert "document.currentScript" in script
    assert '"dwolla-sandbox-plaid"' in script


def _inline_scripts(page: str) -> list[str]:
    return re.findall(r"<script[^>]*>(.*?)</script>", page, flags=re.S)


def test_plaid_script_and_bank_page_script_parse_as_javascript(dwolla, tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: JavaScript syntax not checked")
    sources = {
        "link-initialize.js": dwolla.http.get(
            f"{dwolla.base}/_plaid/link-initialize.js", timeout=10
        ).text,
        "link-page.js": _inline_scripts(
            dwolla.http.get(f"{dwolla.base}/_plaid/link?token=x", timeout=10).text
        )[0],
    }
    for name, source in sources.items():
        path = tmp_path / name
        path.write_text(source, encoding="utf-8")
        checked = subprocess.run(
            [node, "--check", str(path)], capture_output=True, text=True, timeout=30
        )
        assert checked.returncode == 0, (name, checked.stderr)


def test_plaid_bank_page_is_self_contained_with_a_nonce_csp(dwolla):
    answer = dwolla.http.get(f"{dwolla.base}/_plaid/link", params={"token": "t"}, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    assert answer.headers["Cache-Control"] == "no-store"
    page = answer.text
    assert "<title>Sandbox bank</title>" in page
    csp = dict(
        part.strip().split(" ", 1) for part in answer.headers["Content-Security-Policy"].split(";")
    )
    nonce = re.fullmatch(r"'nonce-([A-Za-z0-9_-]{20,})'", csp["script-src"]).group(1)
    assert csp == {
        "default-src": "'none'",
        "script-src": f"'nonce-{nonce}'",
        "style-src": f"'nonce-{nonce}'",
        "connect-src": "'self'",
        "base-uri": "'none'",
        "form-action": "'none'",
        "frame-ancestors": "http: https:",
    }
    assert page.count(f'nonce="{nonce}"') == 2  # one <style>, one <script>
    assert len(re.findall(r"<script|<style", page)) == 2
    assert not re.search(r"\b(src|href)=", page)  # no external assets
    assert "link/finish" in page  # relative: works under a public URL with a path
    again = dwolla.http.get(f"{dwolla.base}/_plaid/link", params={"token": "t"}, timeout=10)
    assert again.headers["Content-Security-Policy"] != answer.headers["Content-Security-Policy"]


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_plaid_finish_uses_the_seeded_provider_outcome(dwolla, outcome):
    exchange, session_id, token = plaid_session(dwolla, providerOutcome=outcome)
    answer = finish_plaid(dwolla, token)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json"
    body = answer.json()
    assert body["outcome"] == outcome
    assert body["institution"] == {"name": "Sandbox bank", "institution_id": "ins_sandbox"}
    if outcome == "success":
        assert re.fullmatch(f"public-sandbox-{UUID_RE}", body["publicToken"])
    else:
        assert "publicToken" not in body
    [session] = dwolla.sessions()
    assert (session["id"], session["used"], session["outcome"]) == (session_id, True, outcome)
    assert dwolla.stored_exchange(exchange["id"])["reauthRequired"] is (outcome != "success")


def test_plaid_finish_twice_is_an_invalid_link_token(dwolla):
    _, _, token = plaid_session(dwolla)
    assert finish_plaid(dwolla, token).status_code == 200
    again = finish_plaid(dwolla, token)
    assert again.status_code == 410
    assert again.json() == {"outcome": "INVALID_LINK_TOKEN"}


@pytest.mark.parametrize("token", ["link-sandbox-unknown", ""])
def test_plaid_finish_with_an_unknown_token_is_an_invalid_link_token(dwolla, token):
    plaid_session(dwolla)
    answer = finish_plaid(dwolla, token)
    assert answer.status_code == 404
    assert answer.json() == {"outcome": "INVALID_LINK_TOKEN"}
    assert [s["used"] for s in dwolla.sessions()] == [False]


def test_plaid_finish_refuses_another_origin_and_other_bodies(dwolla):
    _, _, token = plaid_session(dwolla)
    host = dwolla.base.removeprefix("http://")
    cross = finish_plaid(dwolla, token, Origin="https://evil.example.test")
    assert cross.status_code == 403
    form = dwolla.http.post(f"{dwolla.base}/_plaid/link/finish", data={"token": token}, timeout=10)
    assert form.status_code == 415
    not_a_string = finish_plaid(dwolla, 42)
    assert not_a_string.status_code == 400
    assert [s["used"] for s in dwolla.sessions()] == [False]
    same_origin = finish_plaid(dwolla, token, Origin=f"http://{host}")
    assert same_origin.json()["outcome"] == "success"


def test_plaid_finish_under_a_fault_leaves_the_session_open(dwolla):
    _, _, token = plaid_session(dwolla)
    dwolla.fault(method="POST", path="/_plaid/link/finish", status=503)
    assert finish_plaid(dwolla, token).status_code == 503
    assert [s["used"] for s in dwolla.sessions()] == [False]
    assert finish_plaid(dwolla, token).json()["outcome"] == "success"


def test_a_fault_on_the_plaid_bank_page_answers_a_framable_html_page(dwolla):
    dwolla.fault(path="/_plaid/link", status=503)
    answer = dwolla.http.get(f"{dwolla.base}/_plaid/link?token=t", timeout=10)
    assert answer.status_code == 503
    assert answer.headers["Content-Type"].startswith("text/html")
    assert "frame-ancestors http: https:" in answer.headers["Content-Security-Policy"]


def test_sandbox_html_pages_send_a_csp(dwolla):
    answer = dwolla.visit_bank(str(uuid.uuid4()))
    assert answer.headers["Content-Security-Policy"] == (
        "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def test_admin_completes_a_plaid_session_by_its_link_token(dwolla):
    exchange, session_id, token = plaid_session(dwolla)
    done = dwolla.admin("POST", f"/exchange-sessions/{token}/complete", {"outcome": "success"})
    assert done.status_code == 200
    assert done.json()["session"]["id"] == session_id
    assert done.json()["exchange"]["reauthRequired"] is False
    assert finish_plaid(dwolla, token).json() == {"outcome": "INVALID_LINK_TOKEN"}


def test_plaid_requests_are_logged_without_authentication(dwolla):
    _, _, token = plaid_session(dwolla)
    dwolla.admin("DELETE", "/requests")
    dwolla.http.get(f"{dwolla.base}/_plaid/link-initialize.js", timeout=10)
    finish_plaid(dwolla, token)
    log = dwolla.admin("GET", "/requests").json()
    assert [(r["method"], r["path"], r["status"]) for r in log] == [
        ("GET", "/_plaid/link-initialize.js", 200),
        ("POST", "/_plaid/link/finish", 200),
    ]


# --- GET /events, GET /events/{id} --------------------------------------------------------------


def add_event(dwolla: Dwolla, **event: object) -> dict:
    answer = dwolla.admin("POST", "/events", {"topic": "customer_created", **event})
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_marking_an_exchange_records_a_reauth_required_event(dwolla):
    exchange = dwolla.seed("plaid", reauthRequired=False)
    marked = dwolla.admin("POST", f"/exchanges/{exchange['id']}/reauth-required").json()
    event_id = marked["event"]["id"]
    answer = dwolla.get(f"/events/{event_id}")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == HAL
    body = answer.json()
    assert body == {
        "_links": {
            "self": {
                "href": f"{dwolla.base}/events/{event_id}",
                "type": HAL,
                "resource-type": "event",
            },
            "account": {
                "href": f"{dwolla.base}/accounts/ca32853c-48fa-40be-ae75-77b37504581b",
                "type": HAL,
                "resource-type": "account",
            },
            "resource": {
                "href": f"{dwolla.base}/exchanges/{exchange['id']}",
                "type": HAL,
                "resource-type": "exchange",
            },
            "customer": {
                "href": f"{dwolla.base}/customers/{exchange['customerId']}",
                "type": HAL,
                "resource-type": "customer",
            },
        },
        "id": event_id,
        "created": marked["event"]["created"],
        "topic": "customer_exchange_reauth_required",
        "resourceId": exchange["id"],
    }
    assert dwolla.get(body["_links"]["resource"]["href"]).json()["status"] == "active"
    listed = dwolla.get("/events").json()
    assert listed["_embedded"]["events"] == [body]
    assert listed["total"] == 1


def test_marking_an_unknown_exchange_is_404(dwolla):
    assert dwolla.admin("POST", f"/exchanges/{uuid.uuid4()}/reauth-required").status_code == 404
    assert dwolla.get("/events").json()["total"] == 0


def test_events_are_listed_newest_first_25_a_page(dwolla):
    ids = [add_event(dwolla, resourceId=f"c-{n}")["id"] for n in range(30)]
    body = dwolla.get("/events").json()
    assert [e["id"] for e in body["_embedded"]["events"]] == ids[::-1][:25]
    assert body["total"] == 30
    links = {name: value["href"] for name, value in body["_links"].items()}
    assert links == {
        "self": f"{dwolla.base}/events",
        "first": f"{dwolla.base}/events?limit=25&offset=0",
        "last": f"{dwolla.base}/events?limit=25&offset=25",
        "next": f"{dwolla.base}/events?limit=25&offset=25",
    }
    assert all(v["resource-type"] == "event" for v in body["_links"].values())
    following = dwolla.get(links["next"]).json()
    assert [e["id"] for e in following["_embedded"]["events"]] == ids[::-1][25:]
    assert "next" not in following["_links"]
    assert following["_links"]["prev"]["href"] == f"{dwolla.base}/events?limit=25&offset=0"


@pytest.mark.parametrize(
    ("query", "count", "links"),
    [
        ("limit=2&offset=0", 2, {"self": 0, "first": 0, "last": 4, "next": 2}),
        ("limit=2&offset=2", 2, {"self": 2, "first": 0, "last": 4, "next": 4, "prev": 0}),
        ("limit=2&offset=4", 1, {"self": 4, "first": 0, "last": 4, "prev": 2}),
        ("limit=2&offset=9", 0, {"self": 9, "first": 0, "last": 4, "prev": 7}),
        ("offset=1", 4, {"self": 1, "first": 0, "last": 0, "prev": 0}),
    ],
)
def test_events_limit_and_offset_page_with_links(dwolla, query, count, links):
    ids = [add_event(dwolla, resourceId=f"c-{n}")["id"] for n in range(5)][::-1]
    body = dwolla.get(f"/events?{query}").json()
    limit = 2 if "limit" in query else 25
    offset = int(re.search(r"offset=(\d+)", query).group(1))
    assert [e["id"] for e in body["_embedded"]["events"]] == ids[offset : offset + limit]
    assert len(body["_embedded"]["events"]) == count
    assert body["total"] == 5
    assert {name: value["href"] for name, value in body["_links"].items()} == {
        name: f"{dwolla.base}/events?limit={limit}&offset={at}" for name, at in links.items()
    }


def test_events_limit_above_200_is_200(dwolla):
    add_event(dwolla, resourceId="c")
    body = dwolla.get("/events?limit=1000").json()
    assert body["_links"]["first"]["href"] == f"{dwolla.base}/events?limit=200&offset=0"


@pytest.mark.parametrize(
    ("query", "path"),
    [
        ("limit=0", "/limit"),
        ("limit=x", "/limit"),
        ("limit=-1", "/limit"),
        ("offset=-1", "/offset"),
    ],
)
def test_events_with_a_bad_limit_or_offset_are_a_validation_error(dwolla, query, path):
    answer = dwolla.get(f"/events?{query}")
    assert answer.status_code == 400
    assert answer.json()["code"] == "ValidationError"
    [error] = answer.json()["_embedded"]["errors"]
    assert (error["code"], error["path"]) == ("Invalid", path)


def test_no_events_is_an_empty_page(dwolla):
    body = dwolla.get("/events").json()
    assert body["_embedded"]["events"] == []
    assert body["total"] == 0
    assert "next" not in body["_links"]
    assert body["_links"]["last"]["href"] == f"{dwolla.base}/events?limit=25&offset=0"


def test_events_are_kept_30_days(clocked):
    dwolla, clock = clocked
    old = add_event(dwolla, resourceId="old")
    clock.advance(24 * 3600)
    new = add_event(dwolla, resourceId="new")
    clock.advance(29 * 24 * 3600 - 1)
    assert dwolla.get("/events").json()["total"] == 2
    clock.advance(1)
    dwolla.forget_token()  # expired meanwhile
    body = dwolla.get("/events").json()
    assert [e["id"] for e in body["_embedded"]["events"]] == [new["id"]]
    assert dwolla.get(f"/events/{old['id']}").status_code == 404


def test_unknown_event_is_404(dwolla):
    answer = dwolla.get(f"/events/{uuid.uuid4()}")
    assert_dwolla_error(
        answer, 404, {"code": "NotFound", "message": "The requested resource was not found."}
    )


def test_admin_adds_events_with_a_resource_link_from_the_topic(dwolla):
    customer = str(uuid.uuid4())
    transfer = add_event(dwolla, topic="customer_bank_transfer_created", resourceId="t-1")
    made = add_event(dwolla, topic="customer_created", resourceId=customer, customerId=customer)
    given = add_event(dwolla, topic="anything", resourceId="r", resourcePath="/things/r")
    hrefs = {
        event["id"]: dwolla.get(f"/events/{event['id']}").json()["_links"]
        for event in (transfer, made, given)
    }
    assert hrefs[transfer["id"]]["resource"]["href"] == f"{dwolla.base}/transfers/t-1"
    assert "customer" not in hrefs[transfer["id"]]
    assert hrefs[made["id"]]["resource"]["href"] == f"{dwolla.base}/customers/{customer}"
    assert hrefs[made["id"]]["customer"]["href"] == f"{dwolla.base}/customers/{customer}"
    assert hrefs[given["id"]]["resource"]["href"] == f"{dwolla.base}/things/r"
    admin_view = dwolla.admin("GET", "/events").json()
    assert [e["id"] for e in admin_view] == [given["id"], made["id"], transfer["id"]]


@pytest.mark.parametrize(
    "event",
    [
        {"resourceId": "r"},
        {"topic": "customer_created"},
        {"topic": "", "resourceId": "r"},
        {"topic": "t", "resourceId": "r", "resourcePath": "no-slash"},
        {"topic": "t", "resourceId": "r", "customerId": 7},
    ],
)
def test_admin_rejects_an_event_it_cannot_store(dwolla, event):
    assert dwolla.admin("POST", "/events", event).status_code == 400


def test_admin_reset_forgets_events(dwolla):
    add_event(dwolla, resourceId="r")
    dwolla.admin("POST", "/reset").raise_for_status()
    assert dwolla.admin("GET", "/events").json() == []


# --- Faults -------------------------------------------------------------------------------------


def test_403_fault_answers_dwollas_forbidden_body_for_the_next_n_requests(dwolla):
    exchange = dwolla.seed()
    dwolla.fault(method="POST", path="/exchanges/*/exchange-sessions", status=403, times=2)
    forbidden = {
        "code": "forbidden",
        "message": "Not authorized to create re-authentication exchange session.",
    }
    for _ in range(2):
        assert_dwolla_error(dwolla.post_session(exchange["id"]), 403, forbidden)
    assert dwolla.post_session(exchange["id"]).status_code == 201
    assert dwolla.admin("GET", "/faults").json() == []


def test_403_fault_on_session_read_uses_the_retrieve_message(dwolla):
    _, location = created_session(dwolla)
    dwolla.fault(path="/exchange-sessions/*", status=403)
    assert_dwolla_error(
        dwolla.get(location),
        403,
        {"code": "forbidden", "message": "Not authorized to retrieve exchange session."},
    )


@pytest.mark.parametrize(("retry_after", "header"), [(3, "3"), (None, "1"), (0.5, "0.5")])
def test_429_fault_answers_too_many_requests_with_retry_after(dwolla, retry_after, header):
    exchange = dwolla.seed()
    fault = {"path": "/exchanges/*", "status": 429}
    if retry_after is not None:
        fault["retryAfter"] = retry_after
    dwolla.fault(**fault)
    answer = dwolla.get(f"/exchanges/{exchange['id']}")
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == header
    assert answer.json()["code"] == "TooManyRequests"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_fault_answers_server_error(dwolla, status):
    dwolla.fault(path="/token", status=status)
    answer = dwolla.mint_token()
    assert answer.status_code == status
    body = answer.json()
    assert body["code"] == "ServerError"
    assert re.fullmatch(f"A server error occurred. Error ID: {UUID_RE}.", body["message"])
    assert dwolla.mint_token().status_code == 200


def test_fault_with_a_body_answers_that_body(dwolla):
    dwolla.fault(path="/exchanges/*", status=418, body={"code": "Teapot", "message": "Short."})
    answer = dwolla.get(f"/exchanges/{uuid.uuid4()}")
    assert answer.status_code == 418
    assert answer.json() == {"code": "Teapot", "message": "Short."}


def test_delay_fault_sleeps_before_answering(dwolla):
    exchange = dwolla.seed()
    dwolla.fault(method="GET", path="/exchanges/*", delay=0.6)
    started = time.monotonic()
    slow = dwolla.get(f"/exchanges/{exchange['id']}")
    slow_seconds = time.monotonic() - started
    started = time.monotonic()
    dwolla.get(f"/exchanges/{exchange['id']}")
    assert slow.status_code == 200
    assert slow_seconds >= 0.6
    assert time.monotonic() - started < 0.5


def test_delay_with_status_fault_sleeps_then_answers_the_status(dwolla):
    dwolla.fault(path="/exchanges/*", status=503, delay=0.4)
    started = time.monotonic()
    answer = dwolla.get(f"/exchanges/{uuid.uuid4()}")
    assert answer.status_code == 503
    assert time.monotonic() - started >= 0.4


def test_drop_fault_closes_the_connection_without_an_answer(dwolla):
    exchange = dwolla.seed()
    dwolla.fault(method="POST", path="/exchanges/*/exchange-sessions", drop=True)
    with pytest.raises(requests.ConnectionError):
        Dwolla(dwolla.base).post_session(exchange["id"], key="k")
    assert dwolla.sessions() == []
    dropped = [r for r in dwolla.admin("GET", "/requests").json() if r["method"] == "POST"]
    assert dropped[-1]["status"] is None
    assert dwolla.post_session(exchange["id"], key="k").status_code == 201


def test_fault_applies_only_to_matching_method_and_path(dwolla):
    exchange, location = created_session(dwolla)
    dwolla.fault(method="GET", path="/exchanges/*", status=503)
    assert dwolla.post_session(exchange["id"]).status_code == 201  # POST: method differs
    assert dwolla.get(location).status_code == 200  # /exchange-sessions/...: path differs
    assert dwolla.get(f"/exchanges/{exchange['id']}").status_code == 503


def test_deleting_faults_clears_them(dwolla):
    exchange = dwolla.seed()
    dwolla.fault(path="/exchanges/*", status=503, times=5)
    dwolla.admin("DELETE", "/faults").raise_for_status()
    assert dwolla.get(f"/exchanges/{exchange['id']}").status_code == 200


def test_fault_on_the_bank_page(dwolla):
    _, location = created_session(dwolla)
    dwolla.fault(path="/_provider/*", status=503)
    assert dwolla.visit_bank(location).status_code == 503
    assert dwolla.visit_bank(location).status_code == 302


def test_admin_rejects_a_fault_that_does_nothing(dwolla):
    assert dwolla.admin("POST", "/faults", {"path": "/token"}).status_code == 400
    assert dwolla.admin("POST", "/faults", {"status": 503}).status_code == 400


# --- Request log, links, admin -------------------------------------------------------------------


def test_request_log_redacts_authorization_and_records_idempotency_keys(dwolla):
    exchange = dwolla.seed()
    token = dwolla.token
    dwolla.post_session(exchange["id"], key="key-1")
    log = dwolla.admin("GET", "/requests").json()
    assert [(r["method"], r["path"], r["status"]) for r in log] == [
        ("POST", "/token", 200),
        ("POST", f"/exchanges/{exchange['id']}/exchange-sessions", 201),
    ]
    assert log[0]["headers"]["Authorization"] == "Basic [REDACTED]"
    assert log[1]["headers"]["Authorization"] == "Bearer [REDACTED]"
    assert log[1]["idempotencyKey"] == "key-1"
    assert token not in json.dumps(log)
    dwolla.admin("DELETE", "/requests").raise_for_status()
    assert dwolla.admin("GET", "/requests").json() == []


def test_request_log_keeps_the_query(dwolla):
    _, location = created_session(dwolla)
    dwolla.visit_bank(location, "success")
    assert dwolla.admin("GET", "/requests").json()[-1]["query"] == "outcome=success"


def test_links_follow_the_host_header(dwolla):
    exchange = dwolla.seed()
    answer = dwolla.post_session(exchange["id"], headers={"Host": "172.17.0.1:8787"})
    assert answer.headers["Location"].startswith("http://172.17.0.1:8787/exchange-sessions/")


def test_links_use_the_public_url_when_configured():
    public = "https://dwolla.example.test/sandbox"
    with DwollaSandbox(port=0, public_url=public + "/", redirect_urls=[CALLBACK]) as sandbox:
        dwolla = Dwolla(sandbox.base_url)
        exchange = dwolla.seed("mx", fundingSourceId="fs-1")
        location = dwolla.post_session(exchange["id"]).headers["Location"]
        assert location.startswith(f"{public}/exchange-sessions/")
        session_id = location.rsplit("/", 1)[-1]
        body = dwolla.get(f"/exchange-sessions/{session_id}").json()
        assert body["_links"]["external-provider-session"]["href"] == (
            f"{public}/_provider/{session_id}"
        )
        about = dwolla.get("/funding-sources/fs-1/balance").json()["_links"]["about"]["href"]
        assert about == f"{public}/exchanges/{exchange['id']}/exchange-sessions"


def test_admin_seeds_an_exchange_with_defaults(dwolla):
    exchange = dwolla.seed("visa")
    assert re.fullmatch(UUID_RE, exchange["id"])
    assert re.fullmatch(UUID_RE, exchange["fundingSourceId"])
    assert exchange["partner"] == "visa"
    assert exchange["status"] == "active"
    assert exchange["reauthRequired"] is True
    assert exchange["providerOutcome"] == "success"
    assert dwolla.stored_exchange(exchange["id"]) == exchange


def test_admin_seeds_an_exchange_as_given(dwolla):
    seeded = {
        "id": "ex-1",
        "partner": "plaid",
        "status": "deactivated",
        "reauthRequired": False,
        "providerOutcome": "TEMPORARY_ERROR",
        "fundingSourceId": "fs-1",
    }
    stored = dwolla.seed(**seeded)
    assert {k: stored[k] for k in seeded} == seeded


@pytest.mark.parametrize(
    "seed",
    [
        {"partner": "finicity"},
        {"partner": "mx", "status": "pending"},
        {"partner": "mx", "providerOutcome": "MAYBE"},
        {"partner": "mx", "reauthRequired": "yes"},
    ],
)
def test_admin_rejects_an_exchange_it_cannot_store(dwolla, seed):
    assert dwolla.admin("POST", "/exchanges", seed).status_code == 400


def test_admin_unknown_exchange_is_404(dwolla):
    assert dwolla.admin("GET", "/exchanges/nope").status_code == 404


def test_admin_lists_exchange_sessions(dwolla):
    exchange = dwolla.seed()
    dwolla.post_session(exchange["id"], key="key-1")
    [session] = dwolla.sessions()
    assert {"id", "exchangeId", "redirectUrl", "idempotencyKey", "used"} <= set(session)
    assert session["idempotencyKey"] == "key-1"
    assert session["used"] is False


def test_admin_reset_restores_the_start_state(dwolla):
    exchange = dwolla.seed()
    old_token = dwolla.token
    dwolla.post_session(exchange["id"])
    dwolla.admin("PUT", "/scopes", {"openBanking": False})
    dwolla.fault(path="/token", status=503)
    dwolla.admin("POST", "/reset").raise_for_status()
    assert dwolla.admin("GET", "/exchanges").json() == []
    assert dwolla.sessions() == []
    assert dwolla.admin("GET", "/faults").json() == []
    assert dwolla.admin("GET", "/requests").json() == []
    assert dwolla.admin("GET", "/redirect-urls").json() == {"urls": []}
    assert dwolla.admin("GET", "/scopes").json() == {"openBanking": True}
    answer = dwolla.get(f"/exchanges/{exchange['id']}")
    assert answer.json()["code"] == "InvalidAccessToken"
    assert dwolla.token == old_token


# --- The command line ---------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_command_line_prints_its_url_and_exits_cleanly_on_signal(signum):
    process = subprocess.Popen(
        [sys.executable, "-m", "local.dwolla_sandbox", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline().strip()
        url = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert url, line
        assert requests.get(f"{url.group(0)}/_admin/exchanges", timeout=5).json() == []
        process.send_signal(signum)
        assert process.wait(timeout=10) == 0
        assert process.stdout.read() == ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# --- Every kind of JSON answer against Dwolla's openapi.yml ---------------------------------------

SESSION_POST = ("paths", "/exchanges/{id}/exchange-sessions", "post", "responses")
SESSION_GET = ("paths", "/exchange-sessions/{id}", "get", "responses")
EXCHANGE_GET = ("paths", "/exchanges/{id}", "get", "responses")
EXCHANGE_PARTNER_GET = ("paths", "/exchange-partners/{id}", "get", "responses")
BALANCE_GET = ("paths", "/funding-sources/{id}/balance", "get", "responses")
FUNDING_SOURCE_GET = ("paths", "/funding-sources/{id}", "get", "responses")
FUNDING_SOURCES_GET = ("paths", "/customers/{id}/funding-sources", "get", "responses")
EVENTS_GET = ("paths", "/events", "get", "responses")
EVENT_GET = ("paths", "/events/{id}", "get", "responses")
TOKEN_POST = ("paths", "/token", "post", "responses")
ROOT_401 = ("paths", "/", "get", "responses", "401", "content", HAL, "schema")


def component(name: str) -> tuple[str, ...]:
    return ("components", "schemas", name)


def response(operation: tuple[str, ...], status: str, media: str = HAL) -> tuple[str, ...]:
    return (*operation, status, "content", media, "schema")


def _session_for(dwolla: Dwolla, partner: str) -> requests.Response:
    return dwolla.get(created_session(dwolla, partner)[1])


def _fault_then(dwolla: Dwolla, fault: dict, call) -> requests.Response:
    dwolla.fault(**fault)
    return call()


def _unconfigured(dwolla: Dwolla) -> requests.Response:
    return dwolla.post_session(dwolla.seed()["id"], "https://elsewhere.example.test/cb")


def _reused_key(dwolla: Dwolla) -> requests.Response:
    exchange = dwolla.seed("plaid")
    dwolla.post_session(exchange["id"], None, key="k")
    return dwolla.post_session(exchange["id"], CALLBACK, key="k")


def _balance_after_reauth(dwolla: Dwolla) -> requests.Response:
    _, location = created_session(dwolla, "mx", fundingSourceId="fs-1")
    dwolla.visit_bank(location, "success")
    return dwolla.get("/funding-sources/fs-1/balance")


def _expired(dwolla: Dwolla) -> requests.Response:
    exchange = dwolla.seed()
    dwolla.get(f"/exchanges/{exchange['id']}")
    dwolla.admin("POST", "/tokens/expire")
    return dwolla.get(f"/exchanges/{exchange['id']}")


def _no_scope(dwolla: Dwolla) -> requests.Response:
    exchange = dwolla.seed()
    dwolla.admin("PUT", "/scopes", {"openBanking": False})
    return dwolla.post_session(exchange["id"])


def _funding_sources(dwolla: Dwolla) -> requests.Response:
    customer = str(uuid.uuid4())
    dwolla.seed("plaid", customerId=customer)
    dwolla.seed("mx", customerId=customer, fundingSourceRemoved=True)
    return dwolla.get(f"/customers/{customer}/funding-sources")


def _funding_sources_with_a_bank(dwolla: Dwolla) -> requests.Response:
    customer = str(uuid.uuid4())
    dwolla.seed("plaid", customerId=customer)
    seed_bank(dwolla, customer)
    return dwolla.get(f"/customers/{customer}/funding-sources")


def _events(dwolla: Dwolla) -> requests.Response:
    for _ in range(3):
        exchange = dwolla.seed("mx")
        dwolla.admin("POST", f"/exchanges/{exchange['id']}/reauth-required")
    return dwolla.get("/events?limit=2&offset=1")


def _event(dwolla: Dwolla) -> requests.Response:
    exchange = dwolla.seed("plaid")
    marked = dwolla.admin("POST", f"/exchanges/{exchange['id']}/reauth-required").json()
    return dwolla.get(f"/events/{marked['event']['id']}")


# (status, request, schemas the JSON answer must satisfy). The balance 200 is checked against the
# spec's "Bank Balance Response" branch: a bank balance also satisfies the spec's "Settlement
# Account Balance Response" branch, so the spec's oneOf cannot accept any bank balance as written.
SCHEMA_CASES = {
    "token_issued": (
        200,
        lambda d: d.mint_token(),
        [response(TOKEN_POST, "200", "application/json")],
    ),
    "token_refused": (
        401,
        lambda d: d.mint_token(KEY, "wrong"),
        [response(TOKEN_POST, "401", "application/json")],
    ),
    "mx_session": (200, lambda d: _session_for(d, "mx"), [response(SESSION_GET, "200")]),
    "plaid_session": (200, lambda d: _session_for(d, "plaid"), [response(SESSION_GET, "200")]),
    "session_not_found": (
        404,
        lambda d: d.get(f"/exchange-sessions/{uuid.uuid4()}"),
        [response(SESSION_GET, "404")],
    ),
    "session_read_forbidden": (
        403,
        lambda d: _fault_then(
            d, {"path": "/exchange-sessions/*", "status": 403}, lambda: _session_for(d, "mx")
        ),
        [response(SESSION_GET, "403"), component("ForbiddenError")],
    ),
    "session_invalid_redirect_url": (
        400,
        lambda d: d.post_session(d.seed()["id"], "not a url"),
        [response(SESSION_POST, "400"), component("ValidationErrorSchema")],
    ),
    "session_redirect_url_not_configured": (
        400,
        _unconfigured,
        [response(SESSION_POST, "400"), component("ValidationErrorSchema")],
    ),
    "session_redirect_url_required": (
        400,
        lambda d: d.post_session(d.seed()["id"], None),
        [response(SESSION_POST, "400"), component("ValidationErrorSchema")],
    ),
    "session_idempotency_key_reused": (
        400,
        _reused_key,
        [response(SESSION_POST, "400"), component("ValidationErrorSchema")],
    ),
    "session_bad_json": (
        400,
        lambda d: d.post_session(d.seed()["id"], body="{"),
        [response(SESSION_POST, "400"), component("BadRequestError")],
    ),
    "session_create_forbidden": (
        403,
        lambda d: _fault_then(
            d,
            {"path": "/exchanges/*/exchange-sessions", "status": 403},
            lambda: d.post_session(d.seed()["id"]),
        ),
        [response(SESSION_POST, "403"), component("ForbiddenError")],
    ),
    "session_exchange_not_found": (
        404,
        lambda d: d.post_session(str(uuid.uuid4())),
        [component("NotFoundError")],
    ),
    "session_invalid_scope": (401, _no_scope, [ROOT_401]),
    "rate_limited": (
        429,
        lambda d: _fault_then(
            d, {"path": "/exchanges/*", "status": 429}, lambda: d.get(f"/exchanges/{uuid.uuid4()}")
        ),
        [component("TooManyRequestsErrorError"), component("TooManyRequestsError")],
    ),
    "exchange": (
        200,
        lambda d: d.get(f"/exchanges/{d.seed()['id']}"),
        [response(EXCHANGE_GET, "200")],
    ),
    "exchange_partner": (
        200,
        lambda d: d.get(
            d.get(f"/exchanges/{d.seed('plaid')['id']}")
            .json()["_links"]["exchange-partner"]["href"]
            .removeprefix(d.base)
        ),
        [response(EXCHANGE_PARTNER_GET, "200")],
    ),
    "exchange_partner_not_found": (
        404,
        lambda d: d.get(f"/exchange-partners/{uuid.uuid4()}"),
        [response(EXCHANGE_PARTNER_GET, "404")],
    ),
    "exchange_not_found": (
        404,
        lambda d: d.get(f"/exchanges/{uuid.uuid4()}"),
        [response(EXCHANGE_GET, "404"), component("NotFoundError")],
    ),
    "invalid_access_token": (
        401,
        lambda d: requests.get(
            f"{d.base}/exchanges/x",
            headers={"Accept": HAL, "Authorization": "Bearer x"},
            timeout=10,
        ),
        [response(EXCHANGE_GET, "401"), ROOT_401],
    ),
    "expired_access_token": (401, _expired, [response(EXCHANGE_GET, "401"), ROOT_401]),
    "balance": (
        200,
        _balance_after_reauth,
        [(*response(BALANCE_GET, "200"), "oneOf", "1")],
    ),
    "funding_sources": (200, _funding_sources, [response(FUNDING_SOURCES_GET, "200")]),
    "funding_sources_customer_not_found": (
        404,
        lambda d: d.get(f"/customers/{uuid.uuid4()}/funding-sources"),
        [response(FUNDING_SOURCES_GET, "404")],
    ),
    "funding_sources_forbidden": (
        403,
        lambda d: _fault_then(
            d,
            {"path": "/customers/*/funding-sources", "status": 403},
            lambda: d.get(f"/customers/{d.seed()['customerId']}/funding-sources"),
        ),
        [response(FUNDING_SOURCES_GET, "403"), component("ForbiddenError")],
    ),
    "funding_source": (
        200,
        lambda d: d.get(f"/funding-sources/{d.seed('plaid')['fundingSourceId']}"),
        [response(FUNDING_SOURCE_GET, "200")],
    ),
    "bank_funding_source": (
        200,
        lambda d: d.get(f"/funding-sources/{seed_bank(d, str(uuid.uuid4()))['id']}"),
        [response(FUNDING_SOURCE_GET, "200")],
    ),
    "customer_with_a_bank": (
        200,
        _funding_sources_with_a_bank,
        [response(FUNDING_SOURCES_GET, "200")],
    ),
    "bank_balance": (
        200,
        lambda d: d.get(f"/funding-sources/{seed_bank(d, str(uuid.uuid4()))['id']}/balance"),
        [(*response(BALANCE_GET, "200"), "oneOf", "1")],
    ),
    "funding_source_not_found": (
        404,
        lambda d: d.get(f"/funding-sources/{uuid.uuid4()}"),
        [response(FUNDING_SOURCE_GET, "404")],
    ),
    "events": (200, _events, [response(EVENTS_GET, "200")]),
    "no_events": (200, lambda d: d.get("/events"), [response(EVENTS_GET, "200")]),
    "event": (200, _event, [response(EVENT_GET, "200")]),
    "event_not_found": (
        404,
        lambda d: d.get(f"/events/{uuid.uuid4()}"),
        [response(EVENT_GET, "404"), component("NotFoundError")],
    ),
    "events_bad_limit": (
        400,
        lambda d: d.get("/events?limit=0"),
        [component("ValidationErrorSchema")],
    ),
    "balance_not_found": (
        404,
        lambda d: d.get("/funding-sources/nope/balance"),
        [response(BALANCE_GET, "404")],
    ),
}


@pytest.fixture(scope="session")
def openapi_validator():
    """validate(body, pointer parts) against openapi.yml, $refs resolved within the file."""
    spec_path = OPENAPI
    if not spec_path.is_file():
        pytest.skip(
            f"Dwolla's openapi.yml not found at {spec_path} (set DWOLLA_OPENAPI): "
            "schema checks skipped"
        )
    import jsonschema
    import yaml
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    spec = yaml.safe_load(spec_path.read_text(encoding="utf-8"))
    uri = "urn:dwolla-openapi"
    registry = Registry().with_resource(
        uri, Resource.from_contents(spec, default_specification=DRAFT202012)
    )

    def validate(body: object, parts: tuple[str, ...]) -> None:
        node = spec
        for part in parts:  # fail clearly if the spec moved, before validating
            node = node[int(part)] if isinstance(node, list) else node[part]
        pointer = "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)
        validator = jsonschema.Draft202012Validator(
            {"$ref": f"{uri}#{quote(pointer, safe='/~')}"},
            registry=registry,
            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
        )
        validator.validate(body)

    return validate


@pytest.mark.parametrize("case", SCHEMA_CASES)
def test_json_answer_matches_dwolla_openapi_schema(dwolla, openapi_validator, case):
    status, call, schemas = SCHEMA_CASES[case]
    answer = call(dwolla)
    assert answer.status_code == status, answer.text
    for parts in schemas:
        if parts[0] == "paths":  # the answer's media type is the one the spec lists
            assert answer.headers["Content-Type"] == parts[parts.index("content") + 1]
        openapi_validator(answer.json(), parts)
