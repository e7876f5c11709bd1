"""The Dwolla API adapter: the only module that knows Dwolla's wire format.

What the re-authentication flow asks of Dwolla, and the plumbing it needs:

    client = DwollaClient(base_url_for("sandbox", None), credentials=load_dwolla_credentials)
    client.set_time_budget(lambda: context.get_remaining_time_in_millis() / 1000)
    session_id = client.create_reauth_exchange_session(exchange_id, callback_url, idempotency_key)
    handoff = client.get_exchange_session(session_id)  # Handoff("redirect", url=...) or "token"
    exchange = client.get_exchange(exchange_id)        # DwollaExchange(id, "active", customer_id)
    sources = client.list_customer_funding_sources(exchange.customer_id)
        # [DwollaFundingSource(id, exchange_id, removed, customer_id), ...], not the removed
    source = client.get_funding_source(source_id)  # whose is it? (its exchange and customer links)
    works = client.balance_works(source.id)            # False while Dwolla says UpdateCredentials

Did a re-authentication work? `GET /exchanges/{id}` says "active" even while re-authentication
is pending, so it proves nothing. What does: the balance of a funding source made from the
exchange (`_links.exchange`), which Dwolla reads live from the bank, answers 200 instead of 400
`UpdateCredentials`. Hence: the exchange's customer, that customer's funding sources (not
removed), the ones whose exchange link names the exchange, their balance.

The plumbing:
- **Access token.** Minted with the OAuth client-credentials grant (`POST /token`), cached and
  reused until 60 s before it expires (a token that lives less than 120 s: until half its life,
  so a short-lived token is still reused; a missing, non-positive, non-finite or absurd
  `expires_in` counts as Dwolla's documented hour), minted once however many threads ask at the
  same time, and minted again (once per call) when Dwolla answers 401 `InvalidAccessToken` /
  `ExpiredAccessToken`.
- **Retries.** 429, 5xx, timeouts and dropped connections are retried with exponential backoff and
  full jitter (429 honours `Retry-After`); 409 too on the session POST, which carries the same
  `Idempotency-Key` on every attempt. Retries stop at `RetryPolicy.max_attempts`, or earlier when
  the next attempt could not finish inside the caller's time budget (`set_time_budget`).
- **Time budget.** With a budget set, every attempt (token mints included) is also cut off at the
  deadline: its connect and read timeouts, and its total, are capped by the time left, and no
  attempt is started with less than `MIN_ATTEMPT_SECONDS` left (that is a `DwollaTimeout`).
- **Errors.** Whatever goes wrong surfaces as one `DwollaError` subclass: `DwollaApiError` (Dwolla
  answered with an error), `DwollaTimeout`, `DwollaConnectionError`, `DwollaBadResponse`. An
  answer that cannot be parsed (not JSON, or JSON nested too deeply for the parser) is a
  `DwollaBadResponse` on success (`/token` included) and a `DwollaApiError` with code "Unknown"
  on an error status; an error's code and message are taken only when they are text.

Secrets never leave this module: the application secret, the access token, the Authorization
header and the Plaid Link token appear in no log line, no exception message and no repr.

Built once per Lambda container (one urllib3 PoolManager, one cached token) and imported at cold
start, so it needs nothing beyond the standard library and urllib3.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeGuard

import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError, ProtocolError, TimeoutStateError
from urllib3.exceptions import TimeoutError as UrllibTimeoutError

logger = logging.getLogger(__name__)

BASE_URLS = {
    "sandbox": "https://api-sandbox.dwolla.com",
    "production": "https://api.dwolla.com",
}
HAL_JSON = "application/vnd.dwolla.v1.hal+json"
DEFAULT_TIMEOUT = urllib3.Timeout(connect=3.05, read=10.0)
TOKEN_RENEWAL_MARGIN = 60.0  # seconds before expiry at which a cached token is replaced
DEFAULT_TOKEN_LIFETIME = 3600.0  # Dwolla's documented lifetime, used if /token omits expires_in
MAX_TOKEN_LIFETIME = 86400.0  # an expires_in beyond a day is not believed (DEFAULT_TOKEN_LIFETIME)
MIN_ATTEMPT_SECONDS = 0.25  # with a time budget, no attempt is started with less time left

_TOKEN_REJECTED = frozenset({"InvalidAccessToken", "ExpiredAccessToken"})
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_UUID_RE = re.compile(rf"{_UUID}\Z")
_SESSION_LOCATION_RE = re.compile(rf"/exchange-sessions/({_UUID})\Z")
_CUSTOMER_HREF_RE = re.compile(rf"/customers/({_UUID})\Z")
_EXCHANGE_HREF_RE = re.compile(rf"/exchanges/({_UUID})\Z")
_PARTNER_HREF_RE = re.compile(rf"/exchange-partners/({_UUID})\Z")
_SUBSCRIPTION_LOCATION_RE = re.compile(rf"/webhook-subscriptions/({_UUID})\Z")


def base_url_for(environment: str, override: str | None) -> str:
    """Dwolla's API host for `environment` ("sandbox" | "production"); a non-empty `override`
    (e.g. the local Dwolla sandbox) wins. Unknown environments are a configuration error."""
    if environment not in BASE_URLS:
        raise ValueError(
            f"unknown Dwolla environment {environment!r}: use one of {sorted(BASE_URLS)}"
        )
    if override and override.strip():
        override = override.strip().rstrip("/")
        if not override.startswith(("https://", "http://")):
            raise ValueError("the Dwolla base URL override must start with https:// or http://")
        return override
    return BASE_URLS[environment]


# --- What the domain sees -------------------------------------------------------------------


@dataclass(frozen=True)
class DwollaCredentials:
    """The Dwolla application's key and secret (the secret never shows in a repr)."""

    key: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class Handoff:
    """How the customer reaches their bank: a URL to send the browser to (MX), or a token for the
    provider's front-end SDK (Plaid Link). The token is a credential: it never shows in a repr."""

    type: Literal["redirect", "token"]
    url: str | None = None
    token: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.type not in ("redirect", "token"):
            raise ValueError(f"unknown handoff type {self.type!r}")
        if self.type == "redirect" and not self.url:
            raise ValueError("a redirect handoff needs a url")
        if self.type == "token" and not self.token:
            raise ValueError("a token handoff needs a token")


@dataclass(frozen=True)
class DwollaExchange:
    """An exchange as Dwolla reports it; status is "active", "deactivated" or "removed".
    `customer_id` comes from `_links.customer.href` (None when Dwolla names no customer)."""

    id: str
    status: str
    customer_id: str | None = None


@dataclass(frozen=True)
class DwollaFundingSource:
    """A customer's funding source; `exchange_id` names the exchange it was made from
    (`_links.exchange.href`), None for one made otherwise (e.g. account and routing numbers);
    `customer_id` the customer it belongs to (`_links.customer.href`), None when not linked."""

    id: str
    exchange_id: str | None
    removed: bool
    customer_id: str | None = None


@dataclass(frozen=True)
class DwollaEvent:
    """One of Dwolla's events (`GET /events`), the same facts a webhook delivers."""

    id: str
    topic: str
    created: str
    links: dict[str, Any] = field(repr=False)  # `_links` as sent (resource, customer, ...)


@dataclass(frozen=True)
class DwollaEventPage:
    events: list[DwollaEvent]
    total: int


@dataclass(frozen=True)
class DwollaWebhookSubscription:
    """A webhook subscription (`/webhook-subscriptions`): where Dwolla POSTs its webhooks, and
    whether it is paused (Dwolla pauses one after 400 failures and 24 h without a success)."""

    id: str
    url: str
    paused: bool
    created: str


@dataclass(frozen=True)
class DwollaWebhook:
    """One webhook of a subscription: its event, and the status of its latest delivery attempt
    (None: not tried yet, or no answer)."""

    id: str
    event_id: str
    topic: str
    attempts: int
    last_status: int | None


class DwollaError(Exception):
    """Anything that went wrong talking to Dwolla (after the retries)."""


class DwollaApiError(DwollaError):
    """Dwolla answered with an HTTP error: its status, code, message and embedded errors."""

    def __init__(
        self, status: int, code: str, message: str, errors: tuple[dict[str, Any], ...] = ()
    ) -> None:
        super().__init__(f"Dwolla answered {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors


class DwollaTimeout(DwollaError):
    """Dwolla did not answer in time, on every attempt."""


class DwollaConnectionError(DwollaError):
    """The connection to Dwolla was refused or dropped, on every attempt."""


class DwollaBadResponse(DwollaError):
    """Dwolla said yes (2xx) but the answer cannot be used: no Location, no handoff, not JSON."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. `max_attempts` counts the first attempt; waits grow as
    `base_delay * 2**(attempt - 1)`, capped at `max_delay`, with full jitter. A `Retry-After`
    is honoured as given when it is at most `max_retry_after`; a longer one (Dwolla's volume
    limits last minutes) ends the retries at once: the caller is told to come back later."""

    max_attempts: int = 4
    base_delay: float = 0.2
    max_delay: float = 2.0
    max_retry_after: float = 5.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("delays cannot be negative")

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based): uniform in
        [0, min(max_delay, base_delay * 2**(attempt - 1))] ("full jitter")."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return random.uniform(0.0, ceiling)  # noqa: S311 - jitter, not cryptography


class DwollaStats:
    """Counters for the benchmark. `requests` counts every HTTP attempt by "METHOD /path/template";
    `retries` counts the waits between attempts; `token_mints` the access tokens obtained."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.token_mints = 0
        self.retries = 0
        self.requests: dict[str, int] = {}

    def count_request(self, method: str, template: str) -> None:
        with self._lock:
            key = f"{method} {template}"
            self.requests[key] = self.requests.get(key, 0) + 1

    def count_retry(self) -> None:
        with self._lock:
            self.retries += 1

    def count_token_mint(self) -> None:
        with self._lock:
            self.token_mints += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "token_mints": self.token_mints,
                "retries": self.retries,
                "requests": dict(self.requests),
            }

    def reset(self) -> None:
        with self._lock:
            self.token_mints = 0
            self.retries = 0
            self.requests = {}


# --- The client -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _AccessToken:
    value: str = field(repr=False)
    renew_at: float  # a `clock()` reading; from then on a new token is minted


class DwollaClient:
    """Dwolla's API for the re-authentication flow. Build one per container and reuse it.

    `credentials` is called each time a token is minted (it should cache on its side).
    `clock` and `sleep` are there for tests; `clock` only drives token expiry. `on_attempt` is
    told of every HTTP attempt (the composition root makes it the DwollaLatency metric).
    """

    def __init__(
        self,
        base_url: str,
        credentials: Callable[[], DwollaCredentials],
        *,
        pool: urllib3.PoolManager | None = None,
        timeout: urllib3.Timeout | None = None,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        on_attempt: Callable[[str, str, int | None, int], None] | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._credentials = credentials
        self._timeout = timeout or DEFAULT_TIMEOUT
        self._retry = retry or RetryPolicy()
        self._pool = pool or urllib3.PoolManager(num_pools=2, maxsize=8, retries=False)
        self._clock = clock
        self._sleep = sleep
        self._remaining_time: Callable[[], float] | None = None
        # Told of every HTTP attempt: (method, path template, status or None, elapsed ms).
        self._on_attempt = on_attempt
        self._token: _AccessToken | None = None
        self._token_lock = threading.Lock()
        # Exchange partners are Dwolla's fixed list (Plaid, MX, ...): a name read is kept.
        self._partner_names: dict[str, str] = {}
        self.stats = DwollaStats()

    def set_time_budget(self, remaining_seconds: Callable[[], float] | None) -> None:
        """Bound the calls by the caller's deadline, e.g. the Lambda invocation's remaining time.
        No wait is started that would leave too little time for one more full attempt
        (connect + read timeout); each attempt's connect, read and total timeouts are capped by
        the time left when it starts, and none starts with less than `MIN_ATTEMPT_SECONDS` left
        (DwollaTimeout). None: only `max_attempts` and the configured timeouts bound a call."""
        self._remaining_time = remaining_seconds

    def time_left(self) -> float | None:
        """Seconds left in the caller's time budget (None: no budget set)."""
        return None if self._remaining_time is None else self._remaining_time()

    @property
    def pooled_hosts(self) -> int:
        """How many hosts this client holds pooled connections to (0 before its first call).
        A SnapStart restore must start from none: the peers closed the snapshot's sockets."""
        return len(self._pool.pools)

    # The calls ---------------------------------------------------------------------------

    def create_reauth_exchange_session(
        self, exchange_id: str, redirect_url: str | None, idempotency_key: str
    ) -> str:
        """Ask Dwolla for a re-authentication session on an exchange; return the session id.

        `redirect_url` is where the provider sends the browser back (required by redirect
        partners such as MX; None sends no body, as Plaid web allows). Every attempt carries
        the same `idempotency_key`, so a retried POST never makes a second session."""
        _require_uuid(exchange_id, "exchange_id")
        if not idempotency_key:
            raise ValueError("idempotency_key is required")
        body = None
        if redirect_url is not None:
            links = {"_links": {"redirect-url": {"href": redirect_url}}}
            body = json.dumps(links, separators=(",", ":")).encode()
        response = self._call(
            "POST",
            f"/exchanges/{exchange_id}/exchange-sessions",
            "/exchanges/{id}/exchange-sessions",
            body=body,
            idempotency_key=idempotency_key,
        )
        return _session_id_from_location(response.headers.get("Location"))

    def get_exchange_session(self, session_id: str) -> Handoff:
        """Read an exchange session and return how the customer reaches the provider."""
        _require_uuid(session_id, "session_id")
        template = "/exchange-sessions/{id}"
        response = self._call("GET", f"/exchange-sessions/{session_id}", template)
        return _handoff_from(_json_object(response, f"GET {template}"))

    def get_exchange(self, exchange_id: str) -> DwollaExchange:
        """Read an exchange: its status and the customer it belongs to."""
        _require_uuid(exchange_id, "exchange_id")
        template = "/exchanges/{id}"
        response = self._call("GET", f"/exchanges/{exchange_id}", template)
        payload = _json_object(response, f"GET {template}")
        status = payload.get("status")
        if not isinstance(status, str) or not status:
            raise DwollaBadResponse(f"GET {template}: the answer has no exchange status")
        found_id = payload.get("id")
        return DwollaExchange(
            id=found_id if isinstance(found_id, str) else exchange_id,
            status=status,
            customer_id=_customer_id_from(payload, f"GET {template}"),
        )

    def exchange_partner_name(self, exchange_id: str) -> str:
        """The name of the exchange's open-banking partner ("Plaid", "MX", ...): the exchange's
        `_links.exchange-partner` (GET /exchanges/{id}), then that partner's name
        (GET /exchange-partners/{id}, once per partner and container: Dwolla's list is fixed)."""
        _require_uuid(exchange_id, "exchange_id")
        template = "/exchanges/{id}"
        exchange = _json_object(
            self._call("GET", f"/exchanges/{exchange_id}", template), f"GET {template}"
        )
        href = _link_href(exchange, "exchange-partner")
        match = _PARTNER_HREF_RE.search(href) if isinstance(href, str) else None
        if match is None:
            raise DwollaBadResponse(f"GET {template}: the answer names no exchange partner")
        partner_id = match.group(1).lower()
        if (known := self._partner_names.get(partner_id)) is not None:
            return known
        template = "/exchange-partners/{id}"
        response = self._call("GET", f"/exchange-partners/{partner_id}", template)
        name = _json_object(response, f"GET {template}").get("name")
        if not isinstance(name, str) or not name:
            raise DwollaBadResponse(f"GET {template}: the answer has no partner name")
        self._partner_names[partner_id] = name
        return name

    def list_customer_funding_sources(self, customer_id: str) -> list[DwollaFundingSource]:
        """The customer's funding sources that are not removed (`?removed=false`), in Dwolla's
        order. An item without a usable id, exchange link or removed flag makes the whole answer
        a DwollaBadResponse: a silently dropped item could be the one that matters."""
        _require_uuid(customer_id, "customer_id")
        template = "/customers/{id}/funding-sources"
        what = f"GET {template}"
        response = self._call(
            "GET", f"/customers/{customer_id}/funding-sources?removed=false", template
        )
        items = _embedded_list(_json_object(response, what), "funding-sources", what)
        return [_funding_source_from(item, what) for item in items]

    def get_funding_source(self, funding_source_id: str) -> DwollaFundingSource:
        """Read one funding source (`GET /funding-sources/{id}`): whose it is, by its links to
        the exchange it was made from and to its customer. An unknown id is Dwolla's 404
        (`DwollaApiError`, code `notFound`), as every error is raised."""
        _require_uuid(funding_source_id, "funding_source_id")
        template = "/funding-sources/{id}"
        what = f"GET {template}"
        response = self._call("GET", f"/funding-sources/{funding_source_id}", template)
        return _funding_source_from(_json_object(response, what), what)

    def list_events(self, limit: int, offset: int) -> DwollaEventPage:
        """One page of the application's events, newest first (`GET /events`, kept 30 days)."""
        if not 1 <= limit <= 200 or offset < 0:
            raise ValueError("limit must be 1-200 and offset at least 0")
        template = "/events"
        what = f"GET {template}"
        response = self._call("GET", f"/events?limit={limit}&offset={offset}", template)
        payload = _json_object(response, what)
        items = _embedded_list(payload, "events", what)
        total = payload.get("total")
        if not isinstance(total, int) or isinstance(total, bool):
            raise DwollaBadResponse(f"{what}: the answer has no total")
        events = []
        for raw in items:
            item = raw if isinstance(raw, dict) else {}
            event_id, topic, created = (_text(item.get(k)) for k in ("id", "topic", "created"))
            if not (event_id and topic and created):
                raise DwollaBadResponse(f"{what}: an event has no id, topic or created")
            links = item.get("_links")
            events.append(
                DwollaEvent(event_id, topic, created, links if isinstance(links, dict) else {})
            )
        return DwollaEventPage(events, total)

    def balance_works(self, funding_source_id: str) -> bool:
        """Ask Dwolla for the funding source's balance (read live from the bank): True on 200,
        False on 400 `UpdateCredentials` (the bank connection needs re-authentication). Any
        other answer raises as every call does (DwollaApiError, DwollaTimeout, ...)."""
        _require_uuid(funding_source_id, "funding_source_id")
        template = "/funding-sources/{id}/balance"
        try:
            response = self._call("GET", f"/funding-sources/{funding_source_id}/balance", template)
        except DwollaApiError as error:
            if error.status == 400 and error.code == "UpdateCredentials":
                return False
            raise
        if response.status != 200:
            raise DwollaBadResponse(f"GET {template}: unexpected HTTP {response.status}")
        _json_object(response, f"GET {template}")  # a balance is a JSON object
        return True

    # Webhook subscriptions (the operator's command, reauth.webhook_subscription) -----------

    def list_webhook_subscriptions(self) -> list[DwollaWebhookSubscription]:
        """Every webhook subscription of the application (`GET /webhook-subscriptions`)."""
        template = "/webhook-subscriptions"
        what = f"GET {template}"
        payload = _json_object(self._call("GET", template, template), what)
        items = _embedded_list(payload, "webhook-subscriptions", what)
        return [_subscription_from(item, what) for item in items]

    def create_webhook_subscription(self, url: str, secret: str, idempotency_key: str) -> str:
        """Subscribe `url` to the application's webhooks, signed with `secret`; return the new
        subscription's id. Every attempt carries the same `idempotency_key`."""
        if not url.startswith("https://") and not url.startswith("http://"):
            raise ValueError("the webhook URL must be an http(s) URL")
        if not secret or not idempotency_key:
            raise ValueError("a webhook secret and an idempotency key are required")
        body = json.dumps({"url": url, "secret": secret}, separators=(",", ":")).encode()
        template = "/webhook-subscriptions"
        response = self._call(
            "POST", template, template, body=body, idempotency_key=idempotency_key
        )
        location = response.headers.get("Location") or ""
        match = _SUBSCRIPTION_LOCATION_RE.search(location)
        if match is None:
            raise DwollaBadResponse(f"POST {template}: Location names no webhook subscription")
        return match.group(1)

    def set_webhook_subscription_paused(
        self, subscription_id: str, paused: bool
    ) -> DwollaWebhookSubscription:
        """Pause or resume a subscription (`POST /webhook-subscriptions/{id}` `{"paused"}`).
        Resuming sends nothing that was missed: `GET /events` (the catch-up) has it."""
        _require_uuid(subscription_id, "subscription_id")
        template = "/webhook-subscriptions/{id}"
        body = json.dumps({"paused": paused}).encode()
        response = self._call(
            "POST", f"/webhook-subscriptions/{subscription_id}", template, body=body
        )
        return _subscription_from(_json_object(response, f"POST {template}"), f"POST {template}")

    def list_recent_webhooks(self, subscription_id: str, limit: int = 25) -> list[DwollaWebhook]:
        """The subscription's latest webhooks, newest first, each with its latest attempt's
        status (`GET /webhook-subscriptions/{id}/webhooks`)."""
        _require_uuid(subscription_id, "subscription_id")
        template = "/webhook-subscriptions/{id}/webhooks"
        what = f"GET {template}"
        path = f"/webhook-subscriptions/{subscription_id}/webhooks?limit={limit}"
        payload = _json_object(self._call("GET", path, template), what)
        items = _embedded_list(payload, "webhooks", what)
        return [_webhook_from(item) for item in items if isinstance(item, dict)]

    # One authenticated API call ----------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        template: str,
        *,
        body: bytes | None = None,
        idempotency_key: str | None = None,
    ) -> urllib3.BaseHTTPResponse:
        """Send an API call with the bearer token and retries; return the 2xx answer or raise.
        A rejected token (expired, revoked) is replaced once and the call sent once more."""
        token = self._access_token()
        response = self._send_api(method, path, template, token, body, idempotency_key)
        if response.status == 401 and _api_error(response).code in _TOKEN_REJECTED:
            logger.info("Dwolla rejected the access token; minting a new one")
            self._discard_token(token)
            token = self._access_token()
            response = self._send_api(method, path, template, token, body, idempotency_key)
        return _require_success(response, method, template)

    def _send_api(
        self,
        method: str,
        path: str,
        template: str,
        token: str,
        body: bytes | None,
        idempotency_key: str | None,
    ) -> urllib3.BaseHTTPResponse:
        headers = {"Accept": HAL_JSON, "Authorization": f"Bearer {token}"}
        if method == "POST":
            headers["Content-Type"] = HAL_JSON
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        # With an Idempotency-Key, 409 means "the same request is still being processed".
        return self._send(
            method, path, template, headers, body, retry_conflict=idempotency_key is not None
        )

    # The access token --------------------------------------------------------------------

    def _access_token(self) -> str:
        token = self._token
        if token is not None and self._clock() < token.renew_at:
            return token.value
        with self._token_lock:  # concurrent callers wait here for the one mint
            token = self._token
            if token is None or self._clock() >= token.renew_at:
                token = self._token = self._mint_token()
            return token.value

    def _discard_token(self, rejected: str) -> None:
        with self._token_lock:  # only if nobody replaced it meanwhile
            if self._token is not None and self._token.value == rejected:
                self._token = None

    def _mint_token(self) -> _AccessToken:
        credentials = self._credentials()
        basic = base64.b64encode(f"{credentials.key}:{credentials.secret}".encode()).decode()
        headers = {
            "Accept": HAL_JSON,
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        minted_at = self._clock()
        response = self._send("POST", "/token", "/token", headers, b"grant_type=client_credentials")
        payload = _json_object(_require_success(response, "POST", "/token"), "POST /token")
        value = payload.get("access_token")
        if not isinstance(value, str) or not value:
            raise DwollaBadResponse("POST /token: the answer has no access_token")
        lifetime = _token_lifetime(payload.get("expires_in"))
        self.stats.count_token_mint()
        logger.info("Minted a Dwolla access token", extra={"expires_in": lifetime})
        return _AccessToken(value, renew_at=minted_at + _reuse_seconds(lifetime))

    # HTTP with retries -------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        template: str,
        headers: dict[str, str],
        body: bytes | None,
        *,
        retry_conflict: bool = False,
    ) -> urllib3.BaseHTTPResponse:
        """Send one request, retrying what is safe to retry, and return Dwolla's last answer
        (which may still be an error status). Raise DwollaTimeout / DwollaConnectionError if the
        network never produced an answer."""
        url = self._base_url + path
        attempt = 0
        while True:
            attempt += 1
            timeout = self._attempt_timeout(method, template, attempt)
            self.stats.count_request(method, template)
            started = time.perf_counter()
            retry_after = None
            try:
                response = self._pool.request(
                    method,
                    url,
                    body=body,
                    headers=headers,
                    timeout=timeout,
                    retries=False,
                    redirect=False,
                )
            except HTTPError as exc:
                self._log_attempt(method, template, None, attempt, started, type(exc).__name__)
                if _transport_error_type(exc) is None:  # e.g. TLS or URL trouble: retry won't help
                    raise DwollaConnectionError(f"Dwolla {method} {template} failed") from exc
                outcome: urllib3.BaseHTTPResponse | HTTPError = exc
                delay = self._retry.backoff(attempt)
            else:
                self._log_attempt(method, template, response.status, attempt, started)
                if not _is_retryable(response.status, retry_conflict):
                    return response
                outcome = response
                retry_after = _retry_after_seconds(response)
                delay = self._retry.backoff(attempt) if retry_after is None else retry_after
            if attempt >= self._retry.max_attempts or not self._may_wait(delay, retry_after):
                break
            self.stats.count_retry()
            self._sleep(delay)

        if isinstance(outcome, HTTPError):
            error_type = _transport_error_type(outcome) or DwollaConnectionError
            what = (
                "timed out" if error_type is DwollaTimeout else "could not connect or was cut off"
            )
            raise error_type(
                f"Dwolla {method} {template} {what} ({attempt} attempt(s))"
            ) from outcome
        return outcome

    def _attempt_timeout(self, method: str, template: str, attempt: int) -> urllib3.Timeout:
        """The timeouts for the attempt about to start: the configured ones, capped by the time
        left in the budget (connect, read and the attempt's total). Raise DwollaTimeout instead
        of starting an attempt with less than MIN_ATTEMPT_SECONDS left."""
        if self._remaining_time is None:
            return self._timeout
        left = self._remaining_time()
        if not left >= MIN_ATTEMPT_SECONDS:  # NaN too
            logger.warning("Not starting a Dwolla attempt: no time left in the budget")
            raise DwollaTimeout(
                f"Dwolla {method} {template}: no time left in the time budget for attempt {attempt}"
            )
        return _capped_timeout(self._timeout, left)

    def _may_wait(self, delay: float, retry_after: float | None) -> bool:
        """True if waiting `delay` still leaves time for one more full attempt in the budget."""
        if retry_after is not None and retry_after > self._retry.max_retry_after:
            logger.warning("Giving up: Dwolla's Retry-After is longer than max_retry_after")
            return False
        if self._remaining_time is None:
            return True
        remaining = self._remaining_time()
        if retry_after is not None and retry_after > remaining:
            logger.warning("Giving up: Dwolla's Retry-After is beyond the time budget")
            return False
        if delay + _attempt_seconds(self._timeout) > remaining:
            logger.warning("Giving up: no time left in the budget for another attempt")
            return False
        return True

    def _log_attempt(
        self,
        method: str,
        template: str,
        status: int | None,
        attempt: int,
        started: float,
        failure: str | None = None,
    ) -> None:
        elapsed_ms = round((time.perf_counter() - started) * 1000)
        fields = {
            "dwolla_method": method,
            "dwolla_path": template,
            "dwolla_status": status,
            "attempt": attempt,
            "elapsed_ms": elapsed_ms,
        }
        healthy = failure is None and status is not None and status < 500 and status != 429
        level = logging.INFO if healthy else logging.WARNING
        logger.log(
            level,
            "Dwolla %s %s -> %s (attempt %d, %d ms)",
            method,
            template,
            failure or status,
            attempt,
            elapsed_ms,
            extra=fields,
        )
        if self._on_attempt is not None:
            self._on_attempt(method, template, status, elapsed_ms)


# --- Reading Dwolla's answers ---------------------------------------------------------------


def _require_uuid(value: str, name: str) -> None:
    # Ids go into URL paths: anything but a UUID (Dwolla's only id form) is refused.
    if not isinstance(value, str) or not _UUID_RE.match(value):
        raise ValueError(f"{name} must be a UUID")


def _is_retryable(status: int, retry_conflict: bool) -> bool:
    return status == 429 or status >= 500 or (retry_conflict and status == 409)


def _transport_error_type(exc: HTTPError) -> type[DwollaError] | None:
    """Which error a failed attempt becomes, or None if it is not worth retrying."""
    if isinstance(exc, NewConnectionError):  # checked first: urllib3 makes it a TimeoutError
        return DwollaConnectionError
    if isinstance(exc, UrllibTimeoutError):
        return DwollaTimeout
    if isinstance(exc, ProtocolError):  # reset, RemoteDisconnected, broken body
        return DwollaConnectionError
    return None


def _retry_after_seconds(response: urllib3.BaseHTTPResponse) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP-date: Dwolla sends seconds; fall back to backoff
    if seconds is None or not 0 <= seconds < float("inf"):
        return None
    return seconds


def _token_lifetime(expires_in: object) -> float:
    """`expires_in` in seconds, or DEFAULT_TOKEN_LIFETIME when it is missing, not a number,
    not positive, not finite or beyond MAX_TOKEN_LIFETIME."""
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
        return DEFAULT_TOKEN_LIFETIME
    if not 0 < expires_in <= MAX_TOKEN_LIFETIME:  # NaN and infinities fail this too
        return DEFAULT_TOKEN_LIFETIME
    return float(expires_in)


def _reuse_seconds(lifetime: float) -> float:
    """How long a token that lives `lifetime` seconds is reused: up to TOKEN_RENEWAL_MARGIN
    before it expires, but at least half its life (a token shorter than the margin is still
    reused instead of being minted again on every call)."""
    return max(lifetime - TOKEN_RENEWAL_MARGIN, lifetime / 2)


def _capped_timeout(timeout: urllib3.Timeout, left: float) -> urllib3.Timeout:
    """`timeout` with its connect, read and total capped at `left` seconds (unset parts, and
    None meaning "no limit", become `left`)."""
    total = timeout.total if _is_seconds(timeout.total) else None
    limit = left if total is None else min(total, left)
    connect = timeout.connect_timeout
    try:
        read = timeout.read_timeout
    except TimeoutStateError:  # a total without a read timeout: the total bounds the read
        read = None
    return urllib3.Timeout(
        total=limit,
        connect=min(connect, limit) if _is_seconds(connect) else limit,
        read=min(read, limit) if _is_seconds(read) else limit,
    )


def _is_seconds(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _attempt_seconds(timeout: urllib3.Timeout) -> float:
    """The longest one attempt can take under `timeout` (unset parts count as 0)."""
    if isinstance(timeout.total, int | float):
        return float(timeout.total)
    parts = (timeout.connect_timeout, timeout.read_timeout)
    return float(sum(part for part in parts if isinstance(part, int | float)))


def _require_success(
    response: urllib3.BaseHTTPResponse, method: str, template: str
) -> urllib3.BaseHTTPResponse:
    if response.status >= 400:
        raise _api_error(response)
    if not 200 <= response.status < 300:
        raise DwollaBadResponse(f"{method} {template}: unexpected HTTP {response.status}")
    return response


def _api_error(response: urllib3.BaseHTTPResponse) -> DwollaApiError:
    """Dwolla's error body `{"code", "message", "_embedded": {"errors": [...]}}` as an exception.
    /token speaks OAuth (`{"error", "error_description"}`); anything else, a body that is not
    JSON (or nested too deeply to parse) included, is code "Unknown". A code or message that is
    not text is not used."""
    payload = _parse_json(response.data)
    if not isinstance(payload, dict):
        return DwollaApiError(response.status, "Unknown", "the error body is not Dwolla's JSON")
    code = _text(payload.get("code")) or _text(payload.get("error")) or "Unknown"
    message = _text(payload.get("message")) or _text(payload.get("error_description"))
    embedded = payload.get("_embedded")
    errors = embedded.get("errors") if isinstance(embedded, dict) else None
    errors = tuple(e for e in errors if isinstance(e, dict)) if isinstance(errors, list) else ()
    return DwollaApiError(response.status, code, message, errors)


_NOT_JSON = object()


def _parse_json(data: bytes) -> object:
    """The JSON in `data`, or _NOT_JSON. Every answer from Dwolla (or from anything pretending to
    be Dwolla) is parsed here: besides ValueError (not JSON, not UTF-8), the parser raises
    RecursionError on deeply nested input (`[[[[...]]]]`), which must not escape either."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return _NOT_JSON


def _text(value: object) -> str:
    """A string field of an error body, or "" when it is absent or not a string."""
    return value if isinstance(value, str) else ""


def _json_object(response: urllib3.BaseHTTPResponse, what: str) -> dict[str, Any]:
    payload = _parse_json(response.data)
    if payload is _NOT_JSON:
        raise DwollaBadResponse(f"{what}: the answer is not JSON")
    if not isinstance(payload, dict):
        raise DwollaBadResponse(f"{what}: the answer is not a JSON object")
    return payload


def _embedded_list(payload: dict[str, Any], key: str, what: str) -> list[Any]:
    """A HAL list answer's `_embedded.<key>` (Dwolla's list shape), or DwollaBadResponse."""
    embedded = payload.get("_embedded")
    items = embedded.get(key) if isinstance(embedded, dict) else None
    if not isinstance(items, list):
        raise DwollaBadResponse(f"{what}: the answer has no _embedded.{key} list")
    return items


def _session_id_from_location(location: str | None) -> str:
    """`https://api.dwolla.com/exchange-sessions/{id}` → id."""
    if not location:
        raise DwollaBadResponse("POST /exchanges/{id}/exchange-sessions: no Location header")
    match = _SESSION_LOCATION_RE.search(location)
    if match is None:
        raise DwollaBadResponse(
            "POST /exchanges/{id}/exchange-sessions: Location does not name an exchange session"
        )
    return match.group(1)


def _link_href(payload: Mapping[str, object], name: str) -> object:
    """`payload._links[name].href` as sent, or None when that link is absent."""
    links = payload.get("_links")
    found = links.get(name) if isinstance(links, dict) else None
    return found.get("href") if isinstance(found, dict) else None


def _customer_id_from(resource: Mapping[str, object], what: str) -> str | None:
    """`.../customers/{uuid}` → uuid (an exchange's or a funding source's customer link). A
    missing or unreadable customer link is None (logged): the rest of the answer is still
    good, and the caller can do without the customer."""
    href = _link_href(resource, "customer")
    match = _CUSTOMER_HREF_RE.search(href) if isinstance(href, str) else None
    if match is None:
        if href is not None:
            logger.warning("%s: the customer link does not name a customer", what)
        return None
    return match.group(1)


def _funding_source_from(item: object, what: str) -> DwollaFundingSource:
    if not isinstance(item, dict):
        raise DwollaBadResponse(f"{what}: a funding source is not a JSON object")
    source_id = item.get("id")
    if not isinstance(source_id, str) or not _UUID_RE.match(source_id):
        raise DwollaBadResponse(f"{what}: a funding source has no UUID id")
    removed = item.get("removed", False)
    if not isinstance(removed, bool):
        raise DwollaBadResponse(f"{what}: a funding source's removed flag is not a boolean")
    href = _link_href(item, "exchange")
    exchange_id = None
    if href is not None:
        match = _EXCHANGE_HREF_RE.search(href) if isinstance(href, str) else None
        if match is None:
            raise DwollaBadResponse(f"{what}: a funding source's exchange link names no exchange")
        exchange_id = match.group(1)
    return DwollaFundingSource(
        id=source_id,
        exchange_id=exchange_id,
        removed=removed,
        customer_id=_customer_id_from(item, what),
    )


def _subscription_from(item: object, what: str) -> DwollaWebhookSubscription:
    if not isinstance(item, dict):
        raise DwollaBadResponse(f"{what}: a webhook subscription is not a JSON object")
    found_id, url, paused = item.get("id"), item.get("url"), item.get("paused")
    if not isinstance(found_id, str) or not isinstance(url, str) or not isinstance(paused, bool):
        raise DwollaBadResponse(f"{what}: a webhook subscription has no id, url or paused flag")
    return DwollaWebhookSubscription(found_id, url, paused, _text(item.get("created")))


def _webhook_from(item: Mapping[str, object]) -> DwollaWebhook:
    attempts = item.get("attempts")
    tries = [a for a in attempts if isinstance(a, dict)] if isinstance(attempts, list) else []
    status = None
    if tries:  # the latest by its request's timestamp (ISO 8601 UTC: sorts as text)
        latest = max(tries, key=lambda a: _text(_nested(a, "request", "timestamp")))
        response = latest.get("response")
        code = response.get("statusCode") if isinstance(response, dict) else None
        status = code if isinstance(code, int) and not isinstance(code, bool) and code else None
    return DwollaWebhook(
        id=_text(item.get("id")),
        event_id=_text(item.get("eventId")),
        topic=_text(item.get("topic")),
        attempts=len(tries),
        last_status=status,
    )


def _nested(item: Mapping[str, object], outer: str, inner: str) -> object:
    found = item.get(outer)
    return found.get(inner) if isinstance(found, dict) else None


def _handoff_from(session: Mapping[str, object]) -> Handoff:
    """A redirect URL (`_links.external-provider-session.href`) or else a provider session
    token (`externalProviderSessionToken`)."""
    links = session.get("_links")
    provider = links.get("external-provider-session") if isinstance(links, dict) else None
    url = provider.get("href") if isinstance(provider, dict) else None
    if isinstance(url, str) and url:
        return Handoff("redirect", url=url)
    token = session.get("externalProviderSessionToken")
    if isinstance(token, str) and token:
        return Handoff("token", token=token)
    raise DwollaBadResponse(
        "GET /exchange-sessions/{id}: the answer has neither a provider URL nor a provider token"
    )
