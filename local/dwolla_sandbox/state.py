"""The sandbox's memory: exchanges (with the funding source each one made), funding sources made
otherwise (a customer's bank added by account and routing numbers: no exchange), sessions,
tokens, idempotency keys, events, faults, the request log. Customers are the ids exchanges and
funding sources name: one customer may hold several of each.

One `SandboxState` per sandbox; every method takes the lock, so the HTTP threads can share it.
Times that expire (tokens, Idempotency-Keys) use the injected `clock` (seconds, like time.time).
"""

from __future__ import annotations

import copy
import fnmatch
import secrets
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qs

PARTNERS = ("mx", "plaid", "visa")
REDIRECT_PARTNERS = ("mx", "visa")  # the handoff is a URL to the bank; the body needs redirect-url
EXCHANGE_STATUSES = ("active", "deactivated", "removed")
OUTCOMES = ("success", "AUTHENTICATION_ERROR", "USER_CANCELLED", "TEMPORARY_ERROR")
IDEMPOTENCY_WINDOW_SECONDS = 24 * 3600
EVENT_RETENTION_SECONDS = 30 * 24 * 3600  # Dwolla keeps events 30 days
REAUTH_REQUIRED_TOPIC = "customer_exchange_reauth_required"
ACCOUNT_ID = "ca32853c-48fa-40be-ae75-77b37504581b"  # the sandbox's (master) account, for links

# Stable exchange-partner ids, so links look like Dwolla's and stay the same across runs.
PARTNER_IDS = {
    "mx": "bca8d065-49a5-475b-a6b4-509bc8504d22",
    "plaid": "292317ec-e252-47d8-93c3-2d128e037aa4",
    "visa": "9b55a4b3-34ae-4607-b2d1-622f1eed77f9",
}
# GET /exchange-partners/{id}: the partner's name as Dwolla spells it.
PARTNER_NAMES = {"mx": "MX", "plaid": "Plaid", "visa": "Visa"}
PARTNERS_CREATED = "2022-07-23T00:18:21.419Z"
# A Plaid Item's bank: "credentials" (Link finishes in its own window) or "oauth" (Link leaves
# the page for the bank's site and finishes when the redirect page opens it again).
PLAID_BANKS = ("credentials", "oauth")


class SeedError(ValueError):
    """An admin request the sandbox cannot store (answered 400)."""


def plaid_link_token() -> str:
    return f"link-sandbox-{uuid.uuid4()}"


def iso_now() -> str:
    """Dwolla's timestamp format: 2024-11-18T18:48:11.357Z."""
    return iso_at(datetime.now(UTC))


def iso_at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class Exchange:
    id: str
    partner: str
    status: str = "active"
    reauth_required: bool = True
    provider_outcome: str = "success"
    funding_source_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    customer_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    funding_source_removed: bool = False
    created: str = field(default_factory=iso_now)
    plaid_bank: str = "credentials"  # PLAID_BANKS

    def as_admin(self) -> dict:
        return {
            "id": self.id,
            "partner": self.partner,
            "plaidBank": self.plaid_bank,
            "status": self.status,
            "reauthRequired": self.reauth_required,
            "providerOutcome": self.provider_outcome,
            "fundingSourceId": self.funding_source_id,
            "fundingSourceRemoved": self.funding_source_removed,
            "customerId": self.customer_id,
            "created": self.created,
        }


@dataclass
class BankFundingSource:
    """A customer's bank funding source not made from an exchange (account and routing numbers):
    no `_links.exchange`. Its balance answers (inference: the spec's balance supports open-banking
    accounts; the sandbox answers the worst case for a service that must not take another bank's
    working balance for the exchange's repair)."""

    id: str
    customer_id: str
    removed: bool = False
    created: str = field(default_factory=iso_now)

    def as_admin(self) -> dict:
        return {
            "id": self.id,
            "customerId": self.customer_id,
            "removed": self.removed,
            "created": self.created,
        }


@dataclass
class Event:
    """A Dwolla event (GET /events): what changed, on which resource, for which customer."""

    id: str
    topic: str
    resource_id: str
    resource_path: str  # e.g. "/exchanges/{id}": the resource link is {base}{resource_path}
    customer_id: str | None
    created_at: float  # clock seconds (retention, order)
    created: str

    def as_admin(self) -> dict:
        return {
            "id": self.id,
            "topic": self.topic,
            "resourceId": self.resource_id,
            "resourcePath": self.resource_path,
            "customerId": self.customer_id,
            "created": self.created,
        }


@dataclass
class EventPage:
    events: list[Event]
    total: int


@dataclass
class ExchangeSession:
    id: str
    exchange_id: str
    partner: str
    redirect_url: str | None
    idempotency_key: str | None
    created: str = field(default_factory=iso_now)
    plaid_token: str | None = None
    used: bool = False
    outcome: str | None = None
    oauth_state_id: str | None = None  # Link left for an OAuth bank with this state id

    def as_admin(self) -> dict:
        return {
            "id": self.id,
            "exchangeId": self.exchange_id,
            "partner": self.partner,
            "redirectUrl": self.redirect_url,
            "idempotencyKey": self.idempotency_key,
            "used": self.used,
            "outcome": self.outcome,
            "created": self.created,
        }


@dataclass
class IdempotencyRecord:
    fingerprint: tuple[str, str]  # (path, canonical body)
    claimed_at: float
    location: str | None = None  # None while the first request is still processing


@dataclass
class Fault:
    id: str
    path: str
    method: str | None = None
    times: int = 1
    status: int | None = None
    retry_after: float | None = None
    body: dict | None = None
    delay: float = 0.0
    drop: bool = False
    query: dict[str, str] | None = None  # e.g. {"offset": "100"}: only that page of a list

    def matches(self, method: str, path: str, query: str = "") -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        if self.query:
            sent = {name: values[0] for name, values in parse_qs(query).items()}
            if any(sent.get(name) != value for name, value in self.query.items()):
                return False
        return fnmatch.fnmatchcase(path, self.path)

    def as_admin(self) -> dict:
        return {
            "id": self.id,
            "method": self.method,
            "path": self.path,
            "times": self.times,
            "status": self.status,
            "retryAfter": self.retry_after,
            "body": self.body,
            "delay": self.delay,
            "drop": self.drop,
            "query": self.query,
        }


@dataclass
class Claim:
    """What an Idempotency-Key means for an incoming session POST."""

    kind: str  # "none" (no key), "new", "replay", "in_progress", "mismatch"
    location: str | None = None


class SandboxState:
    def __init__(
        self,
        *,
        token_ttl: int,
        redirect_urls: Iterable[str] = (),
        clock: Callable[[], float],
    ) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self.token_ttl = token_ttl
        self._start_redirect_urls = list(redirect_urls)
        # Told of every event recorded (webhooks.py makes its webhooks), under the state's lock.
        self.on_event: Callable[[Event], None] | None = None
        self.reset()

    # --- start state -------------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.exchanges: dict[str, Exchange] = {}
            self.bank_funding_sources: dict[str, BankFundingSource] = {}
            self.sessions: dict[str, ExchangeSession] = {}
            self.tokens: dict[str, float] = {}  # access token -> expiry (clock seconds)
            self.idempotency: dict[str, IdempotencyRecord] = {}
            self.faults: list[Fault] = []
            self.request_log: list[dict] = []
            self.events: list[Event] = []  # oldest first
            self.redirect_urls: list[str] = list(self._start_redirect_urls)
            self.open_banking_scope = True

    # --- configuration -----------------------------------------------------------------------

    def set_redirect_urls(self, urls: list[str]) -> list[str]:
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise SeedError('"urls" must be a list of strings')
        with self._lock:
            self.redirect_urls = list(urls)
            return list(self.redirect_urls)

    def redirect_url_configured(self, url: str) -> bool:
        with self._lock:
            return url in self.redirect_urls

    def set_open_banking_scope(self, enabled: object) -> bool:
        if not isinstance(enabled, bool):
            raise SeedError('"openBanking" must be true or false')
        with self._lock:
            self.open_banking_scope = enabled
            return enabled

    def has_open_banking_scope(self) -> bool:
        with self._lock:
            return self.open_banking_scope

    # --- exchanges ---------------------------------------------------------------------------

    def seed_exchange(self, data: dict) -> dict:
        exchange = _exchange_from_admin(data)
        with self._lock:
            self.exchanges[exchange.id] = exchange
            return exchange.as_admin()

    def exchange(self, exchange_id: str) -> Exchange | None:
        with self._lock:
            found = self.exchanges.get(exchange_id)
            return copy.copy(found) if found else None

    def exchange_for_funding_source(self, funding_source_id: str) -> Exchange | None:
        with self._lock:
            for exchange in self.exchanges.values():
                if exchange.funding_source_id == funding_source_id:
                    return copy.copy(exchange)
            return None

    def list_exchanges(self) -> list[dict]:
        with self._lock:
            return [e.as_admin() for e in self.exchanges.values()]

    def require_reauth(self, exchange_id: str) -> tuple[Exchange, Event] | None:
        """The bank connection broke: the exchange needs re-authentication (it stays "active",
        Dwolla's "pending deactivation") and a customer_exchange_reauth_required event is kept."""
        with self._lock:
            exchange = self.exchanges.get(exchange_id)
            if exchange is None:
                return None
            exchange.reauth_required = True
            event = self._record_event(
                REAUTH_REQUIRED_TOPIC,
                exchange.id,
                f"/exchanges/{exchange.id}",
                exchange.customer_id,
            )
            return copy.copy(exchange), copy.copy(event)

    # --- customers and funding sources (made from exchanges) ---------------------------------

    def seed_bank_funding_source(self, data: dict) -> dict:
        source = _bank_funding_source_from_admin(data)
        with self._lock:
            self.bank_funding_sources[source.id] = source
            return source.as_admin()

    def bank_funding_source(self, funding_source_id: str) -> BankFundingSource | None:
        with self._lock:
            found = self.bank_funding_sources.get(funding_source_id)
            return copy.copy(found) if found else None

    def bank_funding_sources_of_customer(self, customer_id: str) -> list[BankFundingSource]:
        with self._lock:
            return [
                copy.copy(s)
                for s in self.bank_funding_sources.values()
                if s.customer_id == customer_id
            ]

    def customer_known(self, customer_id: str) -> bool:
        with self._lock:
            return any(e.customer_id == customer_id for e in self.exchanges.values()) or any(
                s.customer_id == customer_id for s in self.bank_funding_sources.values()
            )

    def exchanges_of_customer(self, customer_id: str) -> list[Exchange]:
        """The customer's exchanges, in the order they were seeded (one funding source each)."""
        with self._lock:
            return [copy.copy(e) for e in self.exchanges.values() if e.customer_id == customer_id]

    # --- tokens ------------------------------------------------------------------------------

    def issue_token(self) -> str:
        token = secrets.token_urlsafe(36)
        with self._lock:
            self.tokens[token] = self._clock() + self.token_ttl
        return token

    def token_problem(self, token: str) -> str | None:
        """None for a live token, else the Dwolla error name to answer with."""
        with self._lock:
            expiry = self.tokens.get(token)
            if expiry is None:
                return "InvalidAccessToken"
            if self._clock() >= expiry:
                return "ExpiredAccessToken"
            return None

    def expire_tokens(self) -> int:
        with self._lock:
            now = self._clock()
            for token in self.tokens:
                self.tokens[token] = min(self.tokens[token], now)
            return len(self.tokens)

    # --- idempotency -------------------------------------------------------------------------

    def claim_idempotency_key(self, key: str | None, fingerprint: tuple[str, str]) -> Claim:
        """Decide what a POST carrying `key` is; a "new" claim must be finished or released."""
        if not key:
            return Claim("none")
        with self._lock:
            now = self._clock()
            record = self.idempotency.get(key)
            if record and now - record.claimed_at >= IDEMPOTENCY_WINDOW_SECONDS:
                record = None  # expired after 24 h: the key is free again
            if record is None:
                self.idempotency[key] = IdempotencyRecord(fingerprint, claimed_at=now)
                return Claim("new")
            if record.fingerprint != fingerprint:
                return Claim("mismatch")
            if record.location is None:
                return Claim("in_progress")
            return Claim("replay", record.location)

    def finish_idempotency_key(self, key: str | None, location: str) -> None:
        if not key:
            return
        with self._lock:
            if key in self.idempotency:
                self.idempotency[key].location = location

    def release_idempotency_key(self, key: str | None) -> None:
        """The first request failed: only successful creations are remembered."""
        if not key:
            return
        with self._lock:
            record = self.idempotency.get(key)
            if record and record.location is None:
                del self.idempotency[key]

    # --- exchange sessions -------------------------------------------------------------------

    def create_session(
        self, exchange: Exchange, redirect_url: str | None, idempotency_key: str | None
    ) -> ExchangeSession:
        session = ExchangeSession(
            id=str(uuid.uuid4()),
            exchange_id=exchange.id,
            partner=exchange.partner,
            redirect_url=redirect_url,
            idempotency_key=idempotency_key,
            plaid_token=None if exchange.partner in REDIRECT_PARTNERS else plaid_link_token(),
        )
        with self._lock:
            self.sessions[session.id] = session
        return copy.copy(session)

    def session(self, session_id: str) -> ExchangeSession | None:
        with self._lock:
            found = self.sessions.get(session_id)
            return copy.copy(found) if found else None

    def session_for_plaid_token(self, token: str) -> ExchangeSession | None:
        with self._lock:
            for session in self.sessions.values():
                if session.plaid_token is not None and secrets.compare_digest(
                    session.plaid_token.encode(), token.encode()
                ):
                    return copy.copy(session)
            return None

    def session_for_oauth_state(self, state: str) -> ExchangeSession | None:
        with self._lock:
            for session in self.sessions.values():
                if session.oauth_state_id is not None and secrets.compare_digest(
                    session.oauth_state_id.encode(), state.encode()
                ):
                    return copy.copy(session)
            return None

    def leave_for_oauth_bank(self, session_id: str) -> str | None:
        """Plaid Link leaves for the OAuth bank: the session's state id (one per link token,
        the same on every leave), or None when the session is used or has no redirect URL."""
        with self._lock:
            session = self.sessions.get(session_id)
            if session is None or session.used or session.redirect_url is None:
                return None
            if session.oauth_state_id is None:
                session.oauth_state_id = str(uuid.uuid4())
            return session.oauth_state_id

    def list_sessions(self) -> list[dict]:
        with self._lock:
            return [s.as_admin() for s in self.sessions.values()]

    def finish_session(
        self, session_id: str, outcome: str | None
    ) -> tuple[str, ExchangeSession | None]:
        """The customer leaves the bank. Returns ("ok"|"unknown"|"used"|"bad_outcome", session).

        `outcome` None means the exchange's seeded providerOutcome. Success repairs the exchange
        in place: status "active", no re-authentication required.
        """
        with self._lock:
            session = self.sessions.get(session_id)
            if session is None:
                return "unknown", None
            if session.used:
                return "used", copy.copy(session)
            exchange = self.exchanges.get(session.exchange_id)
            if outcome is None:
                outcome = exchange.provider_outcome if exchange else "success"
            if outcome not in OUTCOMES:
                return "bad_outcome", copy.copy(session)
            session.used = True
            session.outcome = outcome
            if outcome == "success" and exchange is not None:
                exchange.status = "active"
                exchange.reauth_required = False
            return "ok", copy.copy(session)

    # --- events ------------------------------------------------------------------------------

    def add_event(self, data: dict) -> dict:
        """An admin-made event: {"topic", "resourceId", "resourcePath"?, "customerId"?}."""
        topic, resource_id, resource_path, customer_id = _event_from_admin(data)
        with self._lock:
            return self._record_event(topic, resource_id, resource_path, customer_id).as_admin()

    def add_events(self, data: list) -> list[dict]:
        """Admin-made events written at one instant, in the list's order (the last is newest):
        Dwolla's list then has equal `created` times side by side, as when it writes several
        events in one millisecond."""
        parsed = [_event_from_admin(item) for item in data]
        with self._lock:
            now = self._clock()
            return [self._record_event(*fields, now=now).as_admin() for fields in parsed]

    def _record_event(
        self,
        topic: str,
        resource_id: str,
        resource_path: str,
        customer_id: str | None,
        *,
        now: float | None = None,
    ) -> Event:
        now = self._clock() if now is None else now
        event = Event(
            id=str(uuid.uuid4()),
            topic=topic,
            resource_id=resource_id,
            resource_path=resource_path,
            customer_id=customer_id,
            created_at=now,
            created=iso_at(datetime.fromtimestamp(now, UTC)),
        )
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(copy.copy(event))
        return event

    def _live_events(self) -> list[Event]:
        """Events not older than 30 days, newest first."""
        oldest = self._clock() - EVENT_RETENTION_SECONDS
        return [e for e in reversed(self.events) if e.created_at > oldest]

    def event_page(self, limit: int, offset: int) -> EventPage:
        with self._lock:
            live = self._live_events()
            return EventPage([copy.copy(e) for e in live[offset : offset + limit]], len(live))

    def list_events(self) -> list[dict]:
        """Every event kept, newest first (expired ones too: the admin view)."""
        with self._lock:
            return [e.as_admin() for e in reversed(self.events)]

    def event(self, event_id: str) -> Event | None:
        with self._lock:
            for event in self._live_events():
                if event.id == event_id:
                    return copy.copy(event)
            return None

    # --- faults ------------------------------------------------------------------------------

    def add_fault(self, data: dict) -> dict:
        fault = _fault_from_admin(data)
        with self._lock:
            self.faults.append(fault)
            return fault.as_admin()

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def list_faults(self) -> list[dict]:
        with self._lock:
            return [f.as_admin() for f in self.faults]

    def take_fault(self, method: str, path: str, query: str = "") -> Fault | None:
        """The first fault matching this request, counted down (removed when used up)."""
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path, query):
                    fault.times -= 1
                    if fault.times <= 0:
                        self.faults.remove(fault)
                    return copy.copy(fault)
            return None

    # --- request log -------------------------------------------------------------------------

    def log_request(self, entry: dict) -> None:
        with self._lock:
            self.request_log.append(entry)

    def logged_requests(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(self.request_log)

    def clear_request_log(self) -> None:
        with self._lock:
            self.request_log.clear()


def _exchange_from_admin(data: dict) -> Exchange:
    if not isinstance(data, dict):
        raise SeedError("the exchange must be a JSON object")
    partner = data.get("partner")
    if partner not in PARTNERS:
        raise SeedError(f'"partner" must be one of {", ".join(PARTNERS)}')
    fields: dict = {"id": str(data.get("id") or uuid.uuid4()), "partner": partner}
    status = data.get("status", "active")
    if status not in EXCHANGE_STATUSES:
        raise SeedError(f'"status" must be one of {", ".join(EXCHANGE_STATUSES)}')
    fields["status"] = status
    reauth = data.get("reauthRequired", True)
    if not isinstance(reauth, bool):
        raise SeedError('"reauthRequired" must be true or false')
    fields["reauth_required"] = reauth
    outcome = data.get("providerOutcome", "success")
    if outcome not in OUTCOMES:
        raise SeedError(f'"providerOutcome" must be one of {", ".join(OUTCOMES)}')
    fields["provider_outcome"] = outcome
    if data.get("fundingSourceId"):
        fields["funding_source_id"] = str(data["fundingSourceId"])
    if data.get("customerId"):
        fields["customer_id"] = str(data["customerId"])
    removed = data.get("fundingSourceRemoved", False)
    if not isinstance(removed, bool):
        raise SeedError('"fundingSourceRemoved" must be true or false')
    fields["funding_source_removed"] = removed
    bank = data.get("plaidBank", "credentials")
    if bank not in PLAID_BANKS:
        raise SeedError(f'"plaidBank" must be one of {", ".join(PLAID_BANKS)}')
    fields["plaid_bank"] = bank
    return Exchange(**fields)


def _bank_funding_source_from_admin(data: dict) -> BankFundingSource:
    if not isinstance(data, dict):
        raise SeedError("the funding source must be a JSON object")
    customer_id = data.get("customerId")
    if not isinstance(customer_id, str) or not customer_id:
        raise SeedError('"customerId" must be a non-empty string')
    removed = data.get("removed", False)
    if not isinstance(removed, bool):
        raise SeedError('"removed" must be true or false')
    return BankFundingSource(
        id=str(data.get("id") or uuid.uuid4()), customer_id=customer_id, removed=removed
    )


def _event_from_admin(data: dict) -> tuple[str, str, str, str | None]:
    if not isinstance(data, dict):
        raise SeedError("the event must be a JSON object")
    topic, resource_id = data.get("topic"), data.get("resourceId")
    if not isinstance(topic, str) or not topic:
        raise SeedError('"topic" must be a non-empty string')
    if not isinstance(resource_id, str) or not resource_id:
        raise SeedError('"resourceId" must be a non-empty string')
    resource_path = data.get("resourcePath")
    if resource_path is None:
        resource_path = f"/{_resource_collection(topic)}/{resource_id}"
    if not isinstance(resource_path, str) or not resource_path.startswith("/"):
        raise SeedError('"resourcePath" must be a path starting with "/"')
    customer_id = data.get("customerId")
    if customer_id is not None and (not isinstance(customer_id, str) or not customer_id):
        raise SeedError('"customerId" must be a non-empty string')
    return topic, resource_id, resource_path, customer_id


def _resource_collection(topic: str) -> str:
    """Where an event's resource lives, guessed from its topic (Dwolla's topic names)."""
    for marker, collection in (
        ("exchange", "exchanges"),
        ("funding_source", "funding-sources"),
        ("transfer", "transfers"),
        ("mass_payment", "mass-payments"),
        ("beneficial_owner", "beneficial-owners"),
        ("label", "labels"),
    ):
        if marker in topic:
            return collection
    return "customers" if topic.startswith("customer_") else "accounts"


def _fault_from_admin(data: dict) -> Fault:
    if not isinstance(data, dict):
        raise SeedError("the fault must be a JSON object")
    path = data.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise SeedError('"path" must be an fnmatch pattern starting with "/"')
    times = data.get("times", 1)
    if not isinstance(times, int) or isinstance(times, bool) or times < 1:
        raise SeedError('"times" must be a positive integer')
    status = data.get("status")
    if status is not None and (not isinstance(status, int) or not 100 <= status <= 599):
        raise SeedError('"status" must be an HTTP status code')
    delay = data.get("delay", 0) or 0
    if not isinstance(delay, int | float) or delay < 0:
        raise SeedError('"delay" must be a number of seconds')
    retry_after = data.get("retryAfter")
    if retry_after is not None and (not isinstance(retry_after, int | float) or retry_after < 0):
        raise SeedError('"retryAfter" must be a number of seconds')
    body = data.get("body")
    if body is not None and not isinstance(body, dict):
        raise SeedError('"body" must be a JSON object')
    drop = bool(data.get("drop", False))
    if status is None and not drop and not delay:
        raise SeedError('a fault needs "status", "delay" or "drop"')
    query = data.get("query")
    if query is not None and (
        not isinstance(query, dict) or not all(isinstance(v, str) for v in query.values())
    ):
        raise SeedError('"query" must map query parameters to values, e.g. {"offset": "100"}')
    method = data.get("method")
    return Fault(
        id=str(uuid.uuid4()),
        path=path,
        method=method.upper() if isinstance(method, str) else None,
        times=times,
        status=status,
        retry_after=retry_after,
        body=body,
        delay=float(delay),
        drop=drop,
        query=query or None,
    )
