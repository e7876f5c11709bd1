"""What the sandbox answers: Dwolla's endpoints, the banks' pages (redirect and Plaid Link) and
the admin API.

Everything here turns a `Request` into an `Answer` (or `DROP`); the HTTP plumbing is in server.py.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from urllib.parse import parse_qs, urlencode, urlsplit

from . import errors, plaid
from .errors import HAL_JSON, OAUTH_JSON
from .state import (
    ACCOUNT_ID,
    OUTCOMES,
    PARTNER_IDS,
    PARTNER_NAMES,
    PARTNERS_CREATED,
    REDIRECT_PARTNERS,
    BankFundingSource,
    Event,
    Exchange,
    ExchangeSession,
    Fault,
    SandboxState,
    SeedError,
)
from .webhooks import (
    Subscription,
    SubscriptionRefused,
    Webhook,
    WebhookSubscriptions,
    is_http_url,
)

ADMIN_JSON = "application/json"
HTML = "text/html; charset=utf-8"
DROP = object()  # close the connection without answering
# The sandbox's plain pages (errors, the redirect bank) need nothing: no script, no style.
PAGE_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
# Pages the Plaid stand-in shows inside the integrator's iframe must stay framable.
FRAMED_PAGE_CSP = (
    "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors http: https:"
)
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
EVENTS_PAGE_SIZE = 25  # Dwolla's default limit
EVENTS_MAX_PAGE_SIZE = 200  # Dwolla's largest limit; larger asks get 200


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # as received, case-insensitive lookups via header()
    body: bytes
    base_url: str  # for Location and _links hrefs
    delay: float = 0.0  # a delay fault: slept while "processing"
    sleep: Callable[[float], None] = time.sleep

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None

    def query_value(self, name: str) -> str | None:
        values = parse_qs(self.query).get(name)
        return values[0] if values else None

    def pause(self) -> None:
        if self.delay > 0:
            self.sleep(self.delay)
            self.delay = 0.0


@dataclass
class Answer:
    status: int
    body: dict | list | str | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def hal(status: int, body: dict) -> Answer:
    return Answer(status, body, HAL_JSON)


def dwolla_error(name: str) -> Answer:
    return hal(*errors.dwolla_error(name))


def admin(status: int, body: object) -> Answer:
    return Answer(status, body, ADMIN_JSON)  # type: ignore[arg-type]


def html(status: int, title: str, text: str, *, framable: bool = False) -> Answer:
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title></head>"
        f"<body><h1>{escape(title)}</h1><p>{escape(text)}</p></body></html>"
    )
    csp = FRAMED_PAGE_CSP if framable else PAGE_CSP
    return Answer(status, page, HTML, {"Content-Security-Policy": csp, **PAGE_HEADERS})


def link(href: str, resource_type: str) -> dict:
    return {"href": href, "type": HAL_JSON, "resource-type": resource_type}


# Dwolla-side routes: (method, pattern, name). The name picks the handler `SandboxApp.<name>`.
ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"/token"), "token"),
    ("POST", re.compile(r"/exchanges/(?P<id>[^/]+)/exchange-sessions"), "create_exchange_session"),
    ("GET", re.compile(r"/exchange-sessions/(?P<id>[^/]+)"), "get_exchange_session"),
    ("GET", re.compile(r"/exchanges/(?P<id>[^/]+)"), "get_exchange"),
    ("GET", re.compile(r"/exchange-partners/(?P<id>[^/]+)"), "get_exchange_partner"),
    ("GET", re.compile(r"/funding-sources/(?P<id>[^/]+)/balance"), "get_balance"),
    ("GET", re.compile(r"/funding-sources/(?P<id>[^/]+)"), "get_funding_source"),
    (
        "GET",
        re.compile(r"/customers/(?P<id>[^/]+)/funding-sources"),
        "list_customer_funding_sources",
    ),
    ("GET", re.compile(r"/events"), "list_events"),
    ("GET", re.compile(r"/events/(?P<id>[^/]+)"), "get_event"),
    ("GET", re.compile(r"/webhook-subscriptions"), "list_webhook_subscriptions"),
    ("POST", re.compile(r"/webhook-subscriptions"), "create_webhook_subscription"),
    ("GET", re.compile(r"/webhook-subscriptions/(?P<id>[^/]+)"), "get_webhook_subscription"),
    ("POST", re.compile(r"/webhook-subscriptions/(?P<id>[^/]+)"), "update_webhook_subscription"),
    ("DELETE", re.compile(r"/webhook-subscriptions/(?P<id>[^/]+)"), "delete_webhook_subscription"),
    (
        "GET",
        re.compile(r"/webhook-subscriptions/(?P<id>[^/]+)/webhooks"),
        "list_subscription_webhooks",
    ),
    ("GET", re.compile(r"/_provider/(?P<id>[^/]+)"), "provider_page"),
    ("GET", re.compile(r"/_plaid/link-initialize\.js"), "plaid_script"),
    ("GET", re.compile(r"/_plaid/link"), "plaid_link_page"),
    ("POST", re.compile(r"/_plaid/link/finish"), "plaid_link_finish"),
    ("GET", re.compile(r"/_plaid/oauth-bank"), "plaid_oauth_bank"),
]
UNAUTHENTICATED = {
    "token",
    "provider_page",
    "plaid_script",
    "plaid_link_page",
    "plaid_link_finish",
    "plaid_oauth_bank",
}
# Routes a browser loads as a page or script: an injected fault answers them with an HTML page.
BROWSER_PAGES = {"provider_page", "plaid_script", "plaid_link_page", "plaid_oauth_bank"}

ADMIN_ROUTES: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"/_admin/reset"), "admin_reset"),
    ("POST", re.compile(r"/_admin/exchanges"), "admin_seed_exchange"),
    ("GET", re.compile(r"/_admin/exchanges"), "admin_list_exchanges"),
    ("GET", re.compile(r"/_admin/exchanges/(?P<id>[^/]+)"), "admin_get_exchange"),
    (
        "POST",
        re.compile(r"/_admin/exchanges/(?P<id>[^/]+)/reauth-required"),
        "admin_require_reauth",
    ),
    ("POST", re.compile(r"/_admin/funding-sources"), "admin_seed_bank_funding_source"),
    ("POST", re.compile(r"/_admin/events"), "admin_add_event"),
    ("GET", re.compile(r"/_admin/events"), "admin_list_events"),
    ("PUT", re.compile(r"/_admin/redirect-urls"), "admin_set_redirect_urls"),
    ("GET", re.compile(r"/_admin/redirect-urls"), "admin_get_redirect_urls"),
    ("PUT", re.compile(r"/_admin/scopes"), "admin_set_scopes"),
    ("GET", re.compile(r"/_admin/scopes"), "admin_get_scopes"),
    ("GET", re.compile(r"/_admin/exchange-sessions"), "admin_list_sessions"),
    (
        "POST",
        re.compile(r"/_admin/exchange-sessions/(?P<id>[^/]+)/complete"),
        "admin_complete_session",
    ),
    ("POST", re.compile(r"/_admin/tokens/expire"), "admin_expire_tokens"),
    ("POST", re.compile(r"/_admin/faults"), "admin_add_fault"),
    ("GET", re.compile(r"/_admin/faults"), "admin_list_faults"),
    ("DELETE", re.compile(r"/_admin/faults"), "admin_clear_faults"),
    ("GET", re.compile(r"/_admin/requests"), "admin_list_requests"),
    ("GET", re.compile(r"/_admin/webhook-settings"), "admin_webhook_settings"),
    ("PUT", re.compile(r"/_admin/webhook-settings"), "admin_set_webhook_settings"),
    ("DELETE", re.compile(r"/_admin/requests"), "admin_clear_requests"),
]


def match_route(
    routes: list[tuple[str, re.Pattern[str], str]], method: str, path: str
) -> tuple[str | None, dict[str, str], bool]:
    """(route name, path params, path known for another method)."""
    other_method = False
    for route_method, pattern, name in routes:
        found = pattern.fullmatch(path)
        if found:
            if route_method == method:
                return name, found.groupdict(), False
            other_method = True
    return None, {}, other_method


def accepts_hal(accept: str | None) -> bool:
    if not accept:
        return False
    media_types = (part.split(";")[0].strip().lower() for part in accept.split(","))
    return HAL_JSON in media_types


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    if not authorization:
        return None
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    key, sep, secret = decoded.partition(":")
    return (key, secret) if sep else None


def canonical_body(body: bytes) -> str:
    """The request body as compared for Idempotency-Key replays (JSON key order is ignored)."""
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return ""
    try:
        return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    except ValueError:
        return text


def redirect_with(url: str, params: dict[str, str]) -> str:
    base, hash_mark, fragment = url.partition("#")
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}{urlencode(params)}{hash_mark}{fragment}"


class SandboxApp:
    def __init__(
        self,
        state: SandboxState,
        *,
        key: str,
        secret: str,
        sleep: Callable[[float], None] = time.sleep,
        webhooks: WebhookSubscriptions | None = None,
    ) -> None:
        self.state = state
        self.webhooks = webhooks or WebhookSubscriptions(
            clock=time.time, link_base=lambda: "http://127.0.0.1"
        )
        self.webhooks.render_event = _event
        state.on_event = self.webhooks.event_recorded
        self.key = key
        self.secret = secret
        self.sleep = sleep

    # --- entry point -------------------------------------------------------------------------

    def handle(self, request: Request) -> Answer | object:
        if request.path == "/_admin" or request.path.startswith("/_admin/"):
            return self.handle_admin(request)
        route, params, other_method = match_route(ROUTES, request.method, request.path)
        fault = self.state.take_fault(request.method, request.path, request.query)
        if fault and (fault.drop or fault.status is not None):
            self.sleep(fault.delay)
            answer = DROP if fault.drop else self.fault_answer(fault, route)
        else:
            request.delay = fault.delay if fault else 0.0
            request.sleep = self.sleep
            answer = self.route(request, route, params, other_method)
        self.log(request, answer)
        return answer

    def route(
        self, request: Request, route: str | None, params: dict[str, str], other_method: bool
    ) -> Answer:
        if route is None:
            request.pause()
            return dwolla_error("MethodNotAllowed" if other_method else "NotFound")
        if route not in UNAUTHENTICATED:
            refusal = self.refuse_version_or_token(request)
            if refusal:
                return refusal
        if route != "create_exchange_session":  # that one pauses while holding its key
            request.pause()
        return getattr(self, route)(request, **params)

    def refuse_version_or_token(self, request: Request) -> Answer | None:
        if not accepts_hal(request.header("Accept")):
            return dwolla_error("InvalidVersion")
        token = bearer_token(request.header("Authorization"))
        if token is None:
            return dwolla_error("InvalidCredentials")
        problem = self.state.token_problem(token)
        return dwolla_error(problem) if problem else None

    def fault_answer(self, fault: Fault, route: str | None) -> Answer:
        """The injected status, with Dwolla's body for it unless the fault brings its own."""
        status = fault.status or 500
        if route in BROWSER_PAGES and fault.body is None:
            answer = html(
                status,
                f"Error {status}",
                "The bank is unavailable (injected fault).",
                framable=route != "provider_page",
            )
        else:
            body = fault.body if fault.body is not None else errors.fault_error(status, route)
            answer = Answer(status, body, OAUTH_JSON if route == "token" else HAL_JSON)
        retry_after = fault.retry_after
        if retry_after is None and status == 429:
            retry_after = 1
        if retry_after is not None:
            seconds = float(retry_after)
            answer.headers["Retry-After"] = f"{seconds:g}"
        return answer

    def log(self, request: Request, answer: Answer | object) -> None:
        headers = {
            name: _redact(value) if name.lower() == "authorization" else value
            for name, value in request.headers.items()
        }
        self.state.log_request(
            {
                "method": request.method,
                "path": request.path,
                "query": request.query,
                "headers": headers,
                "idempotencyKey": request.header("Idempotency-Key"),
                "status": answer.status if isinstance(answer, Answer) else None,
            }
        )

    # --- POST /token -------------------------------------------------------------------------

    def token(self, request: Request) -> Answer:
        form = _token_form(request)
        credentials = basic_credentials(request.header("Authorization"))
        if credentials is None and "client_id" in form:
            credentials = (form.get("client_id", ""), form.get("client_secret", ""))
        if credentials != (self.key, self.secret):
            status, body = errors.token_error("invalid_client")
            return Answer(status, body, OAUTH_JSON, {"WWW-Authenticate": 'Basic realm="Dwolla"'})
        grant_type = form.get("grant_type")
        if grant_type != "client_credentials":
            status, body = errors.token_error(
                "invalid_request" if not grant_type else "unsupported_grant_type"
            )
            return Answer(status, body, OAUTH_JSON)
        body = {
            "access_token": self.state.issue_token(),
            "token_type": "bearer",
            "expires_in": self.state.token_ttl,
        }
        return Answer(200, body, OAUTH_JSON, {"Cache-Control": "no-store"})

    # --- POST /exchanges/{id}/exchange-sessions ----------------------------------------------

    def create_exchange_session(self, request: Request, id: str) -> Answer:
        if not self.state.has_open_banking_scope():
            return dwolla_error("InvalidScope")
        key = request.header("Idempotency-Key")
        claim = self.state.claim_idempotency_key(key, (request.path, canonical_body(request.body)))
        if claim.kind == "replay":
            return Answer(201, headers={"Location": claim.location or ""})
        if claim.kind == "in_progress":
            return dwolla_error("IdempotencyKeyInProgress")
        if claim.kind == "mismatch":
            return hal(*errors.validation_error("Invalid", errors.IDEMPOTENCY_KEY_REUSED, ""))
        answer = None
        try:
            request.pause()  # "still processing": a second POST with this key now gets 409
            answer = self._create_session(request, id, key)
            return answer
        finally:
            if answer is None or answer.status != 201:
                self.state.release_idempotency_key(key)

    def _create_session(self, request: Request, exchange_id: str, key: str | None) -> Answer:
        exchange = self.state.exchange(exchange_id)
        if exchange is None:
            return dwolla_error("NotFound")
        try:
            body = json.loads(request.body.decode("utf-8")) if request.body.strip() else {}
        except (ValueError, UnicodeDecodeError):
            return dwolla_error("BadRequest")
        if not isinstance(body, dict):
            return dwolla_error("BadRequest")
        present, href = _redirect_href(body)
        problem = self._redirect_url_problem(exchange, present, href)
        if problem:
            return problem
        session = self.state.create_session(exchange, href if present else None, key)
        location = f"{request.base_url}/exchange-sessions/{session.id}"
        self.state.finish_idempotency_key(key, location)
        return Answer(201, headers={"Location": location})

    def _redirect_url_problem(
        self, exchange: Exchange, present: bool, href: object
    ) -> Answer | None:
        if not present:
            if exchange.partner in REDIRECT_PARTNERS:
                return _redirect_url_error("Required", errors.REDIRECT_URL_REQUIRED)
            return None
        if not is_http_url(href):
            return _redirect_url_error("Invalid", errors.REDIRECT_URL_INVALID)
        if not self.state.redirect_url_configured(str(href)):
            return _redirect_url_error("Invalid", errors.REDIRECT_URL_NOT_CONFIGURED)
        return None

    # --- GET /exchange-sessions/{id} ---------------------------------------------------------

    def get_exchange_session(self, request: Request, id: str) -> Answer:
        session = self.state.session(id)
        if session is None:
            return dwolla_error("ExchangeSessionNotFound")
        base = request.base_url
        links = {
            "self": link(f"{base}/exchange-sessions/{session.id}", "exchange-sessions"),
            "exchange-partner": link(
                f"{base}/exchange-partners/{PARTNER_IDS[session.partner]}", "exchange-partner"
            ),
        }
        body: dict = {"created": session.created, "_links": links}
        if session.partner in REDIRECT_PARTNERS:
            links["external-provider-session"] = link(f"{base}/_provider/{session.id}", "text/html")
        else:
            body["externalProviderSessionToken"] = session.plaid_token
        return hal(200, body)

    # --- GET /exchanges/{id} -----------------------------------------------------------------

    def get_exchange(self, request: Request, id: str) -> Answer:
        exchange = self.state.exchange(id)
        if exchange is None:
            return dwolla_error("ExchangeNotFound")
        base = request.base_url
        links = {
            "self": link(f"{base}/exchanges/{exchange.id}", "exchange"),
            "exchange-partner": link(
                f"{base}/exchange-partners/{PARTNER_IDS[exchange.partner]}", "exchange-partner"
            ),
            "customer": link(f"{base}/customers/{exchange.customer_id}", "customer"),
        }
        body = {
            "_links": links,
            "id": exchange.id,
            "status": exchange.status,
            "created": exchange.created,
        }
        return hal(200, body)

    # --- GET /exchange-partners/{id} ----------------------------------------------------------

    def get_exchange_partner(self, request: Request, id: str) -> Answer:
        partner = next((name for name, known in PARTNER_IDS.items() if known == id), None)
        if partner is None:
            return dwolla_error("NotFound")
        base = request.base_url
        links = {
            "self": link(f"{base}/exchange-partners/{id}", "exchange-partner"),
            "funding-source": link(f"{base}/funding-sources", "funding-source"),
        }
        body = {
            "_links": links,
            "id": id,
            "name": PARTNER_NAMES[partner],
            "status": "active",
            "created": PARTNERS_CREATED,
        }
        return hal(200, body)

    # --- GET /funding-sources/{id}/balance ---------------------------------------------------

    def get_balance(self, request: Request, id: str) -> Answer:
        exchange = self.state.exchange_for_funding_source(id)
        bank = None if exchange else self.state.bank_funding_source(id)
        if exchange is None and bank is None:
            return dwolla_error("FundingSourceNotFound")
        base = request.base_url
        if exchange is not None and exchange.reauth_required:
            about = f"{base}/exchanges/{exchange.id}/exchange-sessions"
            return hal(*errors.update_credentials(about))
        body = {
            "_links": {
                "self": link(f"{base}/funding-sources/{id}/balance", "balance"),
                "funding-source": link(f"{base}/funding-sources/{id}", "funding-source"),
            },
            "available": {"value": "542.00", "currency": "USD"},
            "closing": {"value": "542.00", "currency": "USD"},
            "lastUpdated": exchange.created if exchange else bank.created if bank else "",
        }
        return hal(200, body)

    # --- GET /funding-sources/{id}, GET /customers/{id}/funding-sources ----------------------

    def get_funding_source(self, request: Request, id: str) -> Answer:
        exchange = self.state.exchange_for_funding_source(id)
        if exchange is not None:
            return hal(200, _funding_source(request.base_url, exchange))
        bank = self.state.bank_funding_source(id)
        if bank is not None:
            return hal(200, _bank_funding_source(request.base_url, bank))
        return dwolla_error("FundingSourceNotFound")

    def list_customer_funding_sources(self, request: Request, id: str) -> Answer:
        if not self.state.customer_known(id):
            return dwolla_error("CustomerNotFound")
        # "removed": "Filter removed funding sources. Defaults to true": removed=false leaves the
        # removed ones out; anything else (or nothing) lists them all.
        keep_removed = (request.query_value("removed") or "true").strip().lower() != "false"
        base = request.base_url
        items = [
            _funding_source(base, exchange)
            for exchange in self.state.exchanges_of_customer(id)
            if keep_removed or not exchange.funding_source_removed
        ] + [
            _bank_funding_source(base, bank)
            for bank in self.state.bank_funding_sources_of_customer(id)
            if keep_removed or not bank.removed
        ]
        body = {
            "_links": {
                "self": link(f"{base}/customers/{id}/funding-sources", "funding-source"),
                "customer": link(f"{base}/customers/{id}", "customer"),
            },
            "_embedded": {"funding-sources": items},
            "total": len(items),
        }
        return hal(200, body)

    # --- GET /events, GET /events/{id} -------------------------------------------------------

    def list_events(self, request: Request) -> Answer:
        limit = _int_query(request, "limit", EVENTS_PAGE_SIZE, minimum=1)
        if limit is None:
            return hal(*errors.validation_error("Invalid", errors.EVENTS_LIMIT_INVALID, "/limit"))
        offset = _int_query(request, "offset", 0, minimum=0)
        if offset is None:
            return hal(*errors.validation_error("Invalid", errors.EVENTS_OFFSET_INVALID, "/offset"))
        limit = min(limit, EVENTS_MAX_PAGE_SIZE)
        page = self.state.event_page(limit, offset)
        base = request.base_url

        def page_link(at: int) -> dict:
            return link(f"{base}/events?limit={limit}&offset={at}", "event")

        paged = any(request.query_value(name) is not None for name in ("limit", "offset"))
        links = {
            "self": page_link(offset) if paged else link(f"{base}/events", "event"),
            "first": page_link(0),
            "last": page_link(max(0, (page.total - 1) // limit * limit)),
        }
        if offset + limit < page.total:
            links["next"] = page_link(offset + limit)
        if offset > 0:
            links["prev"] = page_link(max(0, offset - limit))
        body = {
            "_links": links,
            "_embedded": {"events": [_event(base, event) for event in page.events]},
            "total": page.total,
        }
        return hal(200, body)

    def get_event(self, request: Request, id: str) -> Answer:
        event = self.state.event(id)
        if event is None:
            return dwolla_error("NotFound")
        return hal(200, _event(request.base_url, event))

    # --- /webhook-subscriptions -------------------------------------------------------------

    def list_webhook_subscriptions(self, request: Request) -> Answer:
        base = request.base_url
        items = [_subscription(base, found) for found in self.webhooks.list()]
        body = {
            "_links": {"self": link(f"{base}/webhook-subscriptions", "webhook-subscription")},
            "_embedded": {"webhook-subscriptions": items},
            "total": len(items),
        }
        return hal(200, body)

    def create_webhook_subscription(self, request: Request) -> Answer:
        body = _json_body(request)
        if body is None:
            return dwolla_error("BadRequest")
        try:
            made = self.webhooks.create(body.get("url"), body.get("secret"))
        except SubscriptionRefused as refused:
            if refused.kind == "MaxNumberOfResources":
                return dwolla_error("MaxNumberOfResources")
            return hal(*errors.validation_error(*errors.SUBSCRIPTION_ERRORS[refused.kind]))
        location = f"{request.base_url}/webhook-subscriptions/{made.id}"
        return Answer(201, headers={"Location": location})

    def get_webhook_subscription(self, request: Request, id: str) -> Answer:
        found = self.webhooks.get(id)
        if found is None:
            return dwolla_error("NotFound")
        return hal(200, _subscription(request.base_url, found))

    def update_webhook_subscription(self, request: Request, id: str) -> Answer:
        """`{"paused": bool}`: pause, or resume (deliveries missed meanwhile are not sent)."""
        if self.webhooks.get(id) is None:
            return dwolla_error("NotFound")
        body = _json_body(request)
        paused = body.get("paused") if body is not None else None
        if not isinstance(paused, bool):
            return dwolla_error("BadRequest")
        updated = self.webhooks.set_paused(id, paused)
        if updated is None:
            return dwolla_error("NotFound")
        return hal(200, _subscription(request.base_url, updated))

    def delete_webhook_subscription(self, request: Request, id: str) -> Answer:
        removed = self.webhooks.delete(id)
        if removed is None:
            return dwolla_error("NotFound")
        return hal(200, _subscription(request.base_url, removed))

    def list_subscription_webhooks(self, request: Request, id: str) -> Answer:
        if self.webhooks.get(id) is None:
            return dwolla_error("NotFound")
        limit = _int_query(request, "limit", EVENTS_PAGE_SIZE, minimum=1)
        offset = _int_query(request, "offset", 0, minimum=0)
        if limit is None or offset is None:
            return dwolla_error("BadRequest")
        base = request.base_url
        found = self.webhooks.webhooks_of(id)
        items = [_webhook(base, hook) for hook in found[offset : offset + min(limit, 200)]]
        body = {
            "_links": {"self": link(f"{base}/webhook-subscriptions/{id}/webhooks", "webhook")},
            "_embedded": {"webhooks": items},
            "total": len(found),
        }
        return hal(200, body)

    # --- GET /_provider/{sessionId}: the bank ------------------------------------------------

    def provider_page(self, request: Request, id: str) -> Answer:
        session = self.state.session(id)
        if session is None:
            return html(404, "Unknown session", "This bank session does not exist.")
        if session.redirect_url is None:
            return html(
                400,
                "No redirect URL",
                "This session hands off a Plaid Link token; finish it with "
                f"POST /_admin/exchange-sessions/{id}/complete.",
            )
        outcome = request.query_value("outcome")
        if outcome is not None and outcome not in OUTCOMES:
            return html(400, "Unknown outcome", f"outcome must be one of {', '.join(OUTCOMES)}.")
        result, session = self.state.finish_session(id, outcome)
        if result == "used" or session is None or session.redirect_url is None:
            return html(410, "Session already used", "This bank session was already used.")
        params = (
            {"exchange": session.exchange_id}
            if session.outcome == "success"
            else {"error": session.outcome or "TEMPORARY_ERROR"}
        )
        return Answer(302, headers={"Location": redirect_with(session.redirect_url, params)})

    # --- Plaid Link stand-in: the script, the bank UI, its finish call -----------------------

    def plaid_script(self, request: Request) -> Answer:
        headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
        return Answer(200, plaid.LINK_INITIALIZE_JS, plaid.SCRIPT_CONTENT_TYPE, headers)

    def plaid_link_page(self, request: Request) -> Answer:
        page, csp = plaid.link_page()
        return Answer(200, page, HTML, {"Content-Security-Policy": csp, **PAGE_HEADERS})

    def plaid_link_finish(self, request: Request) -> Answer:
        """The bank UI's own call: finish the Plaid session of {"token"} with its exchange's
        providerOutcome. Same origin only (Origin, when sent, must name this host)."""
        origin = request.header("Origin")
        if origin is not None and urlsplit(origin).netloc != (request.header("Host") or ""):
            return _plaid_json(403, {"error": "cross-origin call"})
        content_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return _plaid_json(415, {"error": "the body must be application/json"})
        try:
            data = json.loads(request.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            data = None
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str):
            return _plaid_json(400, {"error": 'the body must be {"token": "<link token>"}'})
        session = self.state.session_for_plaid_token(token) if token else None
        if session is None:
            return _plaid_json(404, {"outcome": plaid.INVALID_LINK_TOKEN})
        exchange = self.state.exchange(session.exchange_id)
        if exchange is not None and exchange.plaid_bank == "oauth" and not session.used:
            received = data.get("receivedRedirectUri") if isinstance(data, dict) else None
            if not _back_from_oauth(received, session):
                return self._leave_for_oauth_bank(request, session)
        result, finished = self.state.finish_session(session.id, None)
        if result != "ok" or finished is None:  # "used"
            return _plaid_json(410, {"outcome": plaid.INVALID_LINK_TOKEN})
        body: dict = {"outcome": finished.outcome, "institution": dict(plaid.INSTITUTION)}
        if finished.outcome == "success":
            body["publicToken"] = f"public-sandbox-{uuid.uuid4()}"
        return _plaid_json(200, body)

    def _leave_for_oauth_bank(self, request: Request, session: ExchangeSession) -> Answer:
        """Link at an OAuth bank: the browser leaves for the bank's site, which sends it back to
        the session's redirect URL with `oauth_state_id`. A token made with no redirect URL
        cannot do it (Plaid: "OAuth redirect URI must be configured")."""
        if session.redirect_url is None:
            return _plaid_json(400, {"outcome": plaid.OAUTH_NOT_CONFIGURED})
        state = self.state.leave_for_oauth_bank(session.id)
        if state is None:
            return _plaid_json(410, {"outcome": plaid.INVALID_LINK_TOKEN})
        bank = f"{request.base_url}/_plaid/oauth-bank?{urlencode({'oauth_state_id': state})}"
        return _plaid_json(200, {"outcome": plaid.OAUTH, "bankUrl": bank})

    def plaid_oauth_bank(self, request: Request) -> Answer:
        """The OAuth bank's own site: the customer approves, and goes back to the redirect URL
        with the state id (a plain link: no script)."""
        state = request.query_value("oauth_state_id") or ""
        session = self.state.session_for_oauth_state(state) if state else None
        if session is None or session.used or session.redirect_url is None:
            return html(410, "Session already used", "This bank session is not open.")
        back = redirect_with(session.redirect_url, {"oauth_state_id": state})
        page, csp = plaid.oauth_bank_page(back)
        return Answer(200, page, HTML, {"Content-Security-Policy": csp, **PAGE_HEADERS})

    # --- admin API ---------------------------------------------------------------------------

    def handle_admin(self, request: Request) -> Answer:
        route, params, other_method = match_route(ADMIN_ROUTES, request.method, request.path)
        if route is None:
            status = 405 if other_method else 404
            return admin(status, {"error": f"{request.method} {request.path} is not an admin call"})
        try:
            data = json.loads(request.body.decode("utf-8")) if request.body.strip() else {}
        except (ValueError, UnicodeDecodeError):
            return admin(400, {"error": "the body must be JSON"})
        try:
            return getattr(self, route)(data, **params)
        except SeedError as problem:
            return admin(400, {"error": str(problem)})

    def admin_reset(self, data: dict) -> Answer:
        self.state.reset()
        self.webhooks.reset()
        return admin(200, {"reset": True})

    def admin_seed_exchange(self, data: dict) -> Answer:
        return admin(201, self.state.seed_exchange(data))

    def admin_list_exchanges(self, data: dict) -> Answer:
        return admin(200, self.state.list_exchanges())

    def admin_get_exchange(self, data: dict, id: str) -> Answer:
        exchange = self.state.exchange(id)
        if exchange is None:
            return admin(404, {"error": f"no exchange {id}"})
        return admin(200, exchange.as_admin())

    def admin_set_redirect_urls(self, data: dict) -> Answer:
        return admin(200, {"urls": self.state.set_redirect_urls(_field(data, "urls"))})

    def admin_get_redirect_urls(self, data: dict) -> Answer:
        return admin(200, {"urls": list(self.state.redirect_urls)})

    def admin_set_scopes(self, data: dict) -> Answer:
        enabled = self.state.set_open_banking_scope(_field(data, "openBanking"))
        return admin(200, {"openBanking": enabled})

    def admin_get_scopes(self, data: dict) -> Answer:
        return admin(200, {"openBanking": self.state.has_open_banking_scope()})

    def admin_require_reauth(self, data: dict, id: str) -> Answer:
        marked = self.state.require_reauth(id)
        if marked is None:
            return admin(404, {"error": f"no exchange {id}"})
        exchange, event = marked
        return admin(200, {"exchange": exchange.as_admin(), "event": event.as_admin()})

    def admin_seed_bank_funding_source(self, data: dict) -> Answer:
        """A customer's bank added by account and routing numbers: {"customerId", "id"?,
        "removed"?}; not made from an exchange."""
        return admin(201, self.state.seed_bank_funding_source(data))

    def admin_add_event(self, data: dict | list) -> Answer:
        if isinstance(data, list):  # several events at one instant
            return admin(201, self.state.add_events(data))
        return admin(201, self.state.add_event(data))

    def admin_list_events(self, data: dict) -> Answer:
        return admin(200, self.state.list_events())

    def admin_list_sessions(self, data: dict) -> Answer:
        return admin(200, self.state.list_sessions())

    def admin_complete_session(self, data: dict, id: str) -> Answer:
        """`id`: an exchange session's id, or the Plaid Link token it handed off."""
        outcome = data.get("outcome") if isinstance(data, dict) else None
        if self.state.session(id) is None:
            by_token = self.state.session_for_plaid_token(id)
            id = by_token.id if by_token else id
        result, session = self.state.finish_session(id, outcome)
        if result == "unknown" or session is None:
            return admin(404, {"error": f"no exchange session {id}"})
        if result == "used":
            return admin(410, {"error": f"exchange session {id} was already used"})
        if result == "bad_outcome":
            return admin(400, {"error": f'"outcome" must be one of {", ".join(OUTCOMES)}'})
        exchange = self.state.exchange(session.exchange_id)
        return admin(
            200,
            {"session": session.as_admin(), "exchange": exchange.as_admin() if exchange else None},
        )

    def admin_expire_tokens(self, data: dict) -> Answer:
        return admin(200, {"expired": self.state.expire_tokens()})

    def admin_add_fault(self, data: dict) -> Answer:
        return admin(201, self.state.add_fault(data))

    def admin_list_faults(self, data: dict) -> Answer:
        return admin(200, self.state.list_faults())

    def admin_clear_faults(self, data: dict) -> Answer:
        self.state.clear_faults()
        return admin(200, [])

    def admin_list_requests(self, data: dict) -> Answer:
        return admin(200, self.state.logged_requests())

    def admin_webhook_settings(self, data: dict) -> Answer:
        return admin(200, self.webhooks.settings())

    def admin_set_webhook_settings(self, data: dict) -> Answer:
        """{"timeScale"?: 1e-4, "maxSubscriptions"?: 10, "pauseAfterFailures"?: 400}"""
        try:
            return admin(200, self.webhooks.configure(data if isinstance(data, dict) else {}))
        except ValueError as problem:
            return admin(400, {"error": str(problem)})

    def admin_clear_requests(self, data: dict) -> Answer:
        self.state.clear_request_log()
        return admin(200, [])


def _funding_source(base: str, exchange: Exchange) -> dict:
    """The bank funding source made from an exchange ("Create Funding Source via Exchange")."""
    url = f"{base}/funding-sources/{exchange.funding_source_id}"
    return {
        "_links": {
            "self": link(url, "funding-source"),
            "customer": link(f"{base}/customers/{exchange.customer_id}", "customer"),
            "exchange": link(f"{base}/exchanges/{exchange.id}", "exchange"),
            "balance": link(f"{url}/balance", "balance"),
        },
        "id": exchange.funding_source_id,
        "status": "verified",
        "type": "bank",
        "bankAccountType": "checking",
        "name": "Sandbox checking",
        "created": exchange.created,
        "removed": exchange.funding_source_removed,
        "channels": ["ach"],
        "bankName": "SANDBOX TEST BANK",
    }


def _bank_funding_source(base: str, bank: BankFundingSource) -> dict:
    """A bank funding source added by account and routing numbers: no exchange link."""
    url = f"{base}/funding-sources/{bank.id}"
    return {
        "_links": {
            "self": link(url, "funding-source"),
            "customer": link(f"{base}/customers/{bank.customer_id}", "customer"),
            "balance": link(f"{url}/balance", "balance"),
        },
        "id": bank.id,
        "status": "verified",
        "type": "bank",
        "bankAccountType": "savings",
        "name": "Sandbox savings (account numbers)",
        "created": bank.created,
        "removed": bank.removed,
        "channels": ["ach"],
        "bankName": "SANDBOX OTHER BANK",
    }


def _event(base: str, event: Event) -> dict:
    collection = event.resource_path.strip("/").split("/", 1)[0]
    links = {
        "self": link(f"{base}/events/{event.id}", "event"),
        "account": link(f"{base}/accounts/{ACCOUNT_ID}", "account"),
        "resource": link(f"{base}{event.resource_path}", collection.removesuffix("s")),
    }
    if event.customer_id:
        links["customer"] = link(f"{base}/customers/{event.customer_id}", "customer")
    return {
        "_links": links,
        "id": event.id,
        "created": event.created,
        "topic": event.topic,
        "resourceId": event.resource_id,
    }


def _subscription(base: str, found: Subscription) -> dict:
    url = f"{base}/webhook-subscriptions/{found.id}"
    return {
        "_links": {
            "self": link(url, "webhook-subscription"),
            "webhooks": link(f"{url}/webhooks", "webhook"),
        },
        **found.view(),
    }


def _webhook(base: str, hook: Webhook) -> dict:
    return {
        "_links": {
            "self": link(f"{base}/webhooks/{hook.id}", "webhook"),
            "subscription": link(
                f"{base}/webhook-subscriptions/{hook.subscription_id}", "webhook-subscription"
            ),
            "retry": link(f"{base}/webhooks/{hook.id}/retries", "retry"),
            "event": link(f"{base}/events/{hook.event.id}", "event"),
        },
        "id": hook.id,
        "topic": hook.event.topic,
        "accountId": ACCOUNT_ID,
        "eventId": hook.event.id,
        "subscriptionId": hook.subscription_id,
        "attempts": [attempt.view() for attempt in hook.attempts],
    }


def _json_body(request: Request) -> dict | None:
    """The request's JSON object, or None when it is not one."""
    try:
        body = json.loads(request.body.decode("utf-8")) if request.body.strip() else None
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _int_query(request: Request, name: str, default: int, *, minimum: int) -> int | None:
    """The query parameter as an int (`default` when absent), None if not an int >= minimum."""
    raw = request.query_value(name)
    if raw is None:
        return default
    raw = raw.strip()
    if not raw.isascii() or not raw.isdigit():
        return None
    value = int(raw)
    return value if value >= minimum else None


def _back_from_oauth(received: object, session: ExchangeSession) -> bool:
    """Does Link's `receivedRedirectUri` bring this session's OAuth state back to its redirect
    URL (Plaid: the same URI, with the oauth_state_id the bank was given)?"""
    if not isinstance(received, str) or session.oauth_state_id is None or not session.redirect_url:
        return False
    base, _, query = received.partition("?")
    return base == session.redirect_url and parse_qs(query).get("oauth_state_id") == [
        session.oauth_state_id
    ]


def _plaid_json(status: int, body: dict) -> Answer:
    return Answer(status, body, "application/json", {"Cache-Control": "no-store"})


def _redirect_url_error(code: str, message: str) -> Answer:
    return hal(*errors.validation_error(code, message, errors.REDIRECT_URL_PATH))


def _redact(authorization: str) -> str:
    scheme, _, _secret = authorization.partition(" ")
    return f"{scheme} [REDACTED]" if scheme else "[REDACTED]"


def _field(data: object, name: str) -> object:
    if not isinstance(data, dict) or name not in data:
        raise SeedError(f'the body needs "{name}"')
    return data[name]


def _token_form(request: Request) -> dict[str, str]:
    text = request.body.decode("utf-8", "replace")
    content_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
    if content_type.endswith("json"):
        try:
            data = json.loads(text or "{}")
        except ValueError:
            return {}
        return {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    return {name: values[0] for name, values in parse_qs(text).items()}


def _redirect_href(body: dict) -> tuple[bool, object]:
    """(whether _links.redirect-url was sent, its href as sent)."""
    links = body.get("_links")
    if not isinstance(links, dict) or "redirect-url" not in links:
        return False, None
    redirect = links["redirect-url"]
    if not isinstance(redirect, dict):
        return True, None
    return True, redirect.get("href")
