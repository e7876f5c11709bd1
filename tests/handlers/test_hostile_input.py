"""Hostile input: forged callbacks and completions, abused links, cross-site posts, open-redirect
attempts, bad allow-lists, forged webhooks.

Every refusal must change nothing (the table is byte-for-byte the same, no event is published,
no cookie is set, Dwolla is not called) and say nothing: browsers get the one generic page
(pages.error_page "refused", 400), API callers the JSON error shape with a documented code. A
link to a request that is over answers its own clear page ("closed", 410); the bank's return or
the Plaid page's report for one lands on its result (status=expired or superseded), and changes
nothing either. The browser's binding is one cookie (`reauth_binding=<token>.<request ids>`):
forged, tampered or borrowed ones, and the retired per-request format, bind nothing. The case
tables are module-level; their lengths are the figures.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from functools import cached_property
from urllib.parse import urlencode

import pytest

from reauth import pages
from reauth.config import Config, ConfigError
from reauth.security import BINDING_COOKIE, MAX_BOUND_REQUESTS, csrf_token, new_secret, read_binding
from tests.support.apigw import (
    LambdaContext,
    eventbridge_event,
    query_of,
    rest_event,
    scheduled_event,
)
from tests.support.constants import (
    CALLBACK_URL,
    OTHER_RETURN_URL,
    PUBLIC_BASE_URL,
    RETURN_URL,
)
from tests.support.flow import Browser, bank_url, header, location, plaid_config, renew_form
from tests.support.table import table_items
from tests.support.webhooks import SIGNATURE_HEADER, reauth_required, sign

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
SAME_ORIGIN = {"Origin": Browser.ORIGIN, "Sec-Fetch-Site": "same-origin"}
DONE_URL = f"{PUBLIC_BASE_URL}/reauth/done"


# ---- the scene: customers mid-flow ----------
class Customer:
    """One re-authentication request with a browser bound to its attempt (the start button was
    clicked): its one binding cookie (`reauth_binding=<token>.<request id hex>`), `token` the
    binding token in it, `attempt` the attempt it started. Redirect partners: `back` is where the
    bank sends the browser (the bank leg done, Dwolla's exchange repaired) unless `visit=False`.
    Token partners: `page` is the Plaid page."""

    def __init__(self, scene: Scene, partner: str = "mx", *, visit: bool = True) -> None:
        self.exchange = scene.dwolla.seed_exchange(partner)["id"]
        _, self.request, _ = scene.api.create(self.exchange, {"returnUrl": RETURN_URL})
        self.id = self.request["id"]
        self.link = self.request["startUrl"]
        self.browser = Browser(scene.functions.callback)
        self.page = self.browser.click_start(self.link)
        assert self.page["statusCode"] == 200, self.page["body"][:300]
        ((self.cookie_name, value),) = self.browser.jar.items()
        self.cookie = f"{self.cookie_name}={value}"
        self.token = value.partition(".")[0]
        self.attempt = scene.api.session(self.id)[1]["attempts"][0]["id"]
        assert self.cookie == _binding(self.token, self.id)  # this request, and no other
        if partner == "plaid":  # the page's CSRF token names the same attempt
            assert plaid_config(self.page)["csrf"] == csrf_token(self.token, self.attempt)
        self.back: dict | None = None
        if partner != "plaid" and visit:
            self.back = query_of(self.browser.visit_bank(bank_url(self.page)))

    @property
    def key(self) -> str:
        return query_of(self.link)["key"][0]

    @property
    def action(self) -> str:
        return f"/reauth/link/{self.id}"


class Scene:
    """Customers A and B (redirect partners, back from the bank, callback not yet sent) and
    P (a token partner, on the Plaid page, Link not yet finished)."""

    def __init__(self, functions, api, dwolla, published) -> None:
        self.functions, self.api, self.dwolla, self.published = functions, api, dwolla, published

    # Made on first use (a case that needs only A does not pay for B and P).
    @cached_property
    def a(self) -> Customer:
        return Customer(self)

    @cached_property
    def b(self) -> Customer:
        return Customer(self)

    @cached_property
    def p(self) -> Customer:
        return Customer(self, "plaid")

    def send(self, method, path, *, query=None, cookies=None, headers=None, body=None) -> dict:
        """One request to CallbackFunction, exactly as given (no cookie jar, no default
        headers)."""
        event = rest_event(
            method, path, query=query, cookies=cookies or None, headers=headers, body=body
        )
        return self.functions.callback.handler(event, LambdaContext())

    def callback(self, cookies: list[str] | None, query: dict | None, headers=None) -> dict:
        return self.send("GET", "/reauth/callback", query=query, cookies=cookies, headers=headers)

    def table(self) -> list[str]:
        """Every item, but a request's `openedAt`: the funnel's note that the start page was
        shown, no state of the flow (test_funnel.py checks when it is written)."""
        return sorted(
            json.dumps({k: v for k, v in item.items() if k != "openedAt"}, sort_keys=True)
            for item in table_items(self.functions)
        )

    def snapshot(self) -> list[str]:
        """The table as it is now; Dwolla's request log and the event tap emptied."""
        self.published()
        self.dwolla.clear_requests()
        return self.table()


@pytest.fixture
def scene(functions, api, dwolla, published) -> Scene:
    return Scene(functions, api, dwolla, published)


def _platform() -> str:
    from reauth import runtime

    return runtime.config().platform_name


def _unnonced(html: str) -> str:
    return re.sub(r'nonce="[^"]*"', 'nonce=""', html)


def expected_page(kind: str) -> str:
    return _unnonced(pages.error_page(platform=_platform(), kind=kind).html)


def assert_nothing_changed(scene: Scene, before: list[str]) -> None:
    assert scene.table() == before
    assert scene.published() == []
    assert scene.dwolla.requests() == []


def assert_page(answer: dict, kind: str) -> None:
    """One of the service's own error pages, exactly, and nothing else in the answer."""
    assert answer["statusCode"] == pages.ERROR_KINDS[kind]
    assert _unnonced(answer["body"]) == expected_page(kind)  # no reason, no echo of the input
    assert header(answer, "content-type").startswith("text/html")
    assert "nonce-" in header(answer, "content-security-policy")
    assert header(answer, "set-cookie") is None
    assert header(answer, "cache-control") == "no-store"
    assert header(answer, "location") is None


def assert_refused_and_nothing_changed(scene: Scene, answer: dict, before: list[str]) -> None:
    assert_page(answer, "refused")
    assert_nothing_changed(scene, before)


def assert_landed_and_nothing_changed(
    scene: Scene, answer: dict, before: list[str], expected: str
) -> None:
    """The browser is sent (303) to a result page, and nothing changed: no table change, no
    event, no word with Dwolla, no cookie."""
    assert answer["statusCode"] == 303, answer.get("body", "")[:300]
    assert location(answer) == expected
    assert header(answer, "set-cookie") is None
    assert_nothing_changed(scene, before)


def _binding(token: str, *request_ids: str) -> str:
    """A binding cookie: `reauth_binding=<token>.<request id hex>...`."""
    return f"{BINDING_COOKIE}={token}" + "".join(f".{r.replace('-', '')}" for r in request_ids)


def _old_binding(customer: Customer) -> str:
    """The retired cookie format, one per request: `reauth_<request id hex>=<attempt>.<token>`."""
    return f"reauth_{customer.id.replace('-', '')}={customer.attempt}.{customer.token}"


def _flip(value: str) -> str:
    return value[:-1] + ("A" if value[-1] != "A" else "B")


def _landing(customer: Customer, status: str = "reauthorized") -> str:
    return f"{RETURN_URL}?status={status}&session={customer.id}"


# ---- callback forgery ----------
# (case id, how to build (cookies, query) from the scene)
FORGED_CALLBACKS = [
    ("no-cookie", lambda s: ([], s.a.back)),
    ("cookie-of-another-customer", lambda s: ([s.b.cookie], s.a.back)),
    ("token-of-another-customer", lambda s: ([_binding(s.b.token, s.a.id)], s.a.back)),
    ("request-of-another-customer", lambda s: ([_binding(s.a.token, s.b.id)], s.a.back)),
    ("token-of-another-naming-both", lambda s: ([_binding(s.b.token, s.b.id, s.a.id)], s.a.back)),
    ("token-new-secret", lambda s: ([_binding(new_secret(), s.a.id)], s.a.back)),
    ("token-one-char-tampered", lambda s: ([_binding(_flip(s.a.token), s.a.id)], s.a.back)),
    ("token-truncated", lambda s: ([_binding(s.a.token[:-24], s.a.id)], s.a.back)),
    ("token-too-short", lambda s: ([_binding(s.a.token[:5], s.a.id)], s.a.back)),
    ("token-one-char-longer", lambda s: ([_binding(s.a.token + "A", s.a.id)], s.a.back)),
    ("token-extended", lambda s: ([_binding(s.a.token + "A" * 100, s.a.id)], s.a.back)),
    ("token-bad-alphabet", lambda s: ([_binding(s.a.token[:-3] + "%2F", s.a.id)], s.a.back)),
    ("token-empty", lambda s: ([_binding("", s.a.id)], s.a.back)),
    ("token-only", lambda s: ([_binding(s.a.token)], s.a.back)),
    (
        "request-id-first",
        lambda s: ([f"{BINDING_COOKIE}={s.a.id.replace('-', '')}.{s.a.token}"], s.a.back),
    ),
    ("no-dot", lambda s: ([s.a.cookie.replace(".", "")], s.a.back)),
    ("request-id-with-dashes", lambda s: ([f"{BINDING_COOKIE}={s.a.token}.{s.a.id}"], s.a.back)),
    ("request-id-not-hex", lambda s: ([f"{BINDING_COOKIE}={s.a.token}.{'z' * 32}"], s.a.back)),
    ("request-id-short", lambda s: ([_binding(s.a.token, s.a.id[:-1])], s.a.back)),
    ("request-id-an-attempt-id", lambda s: ([_binding(s.a.token, s.a.attempt)], s.a.back)),
    ("request-id-the-exchange-id", lambda s: ([_binding(s.a.token, s.a.exchange)], s.a.back)),
    ("old-per-request-cookie", lambda s: ([_old_binding(s.a)], s.a.back)),
    (
        "old-per-request-cookie-beside-a-token",
        lambda s: ([_binding(s.a.token), _old_binding(s.a)], s.a.back),
    ),
    ("unknown-request", lambda s: ([_binding(s.a.token, str(uuid.uuid4()))], s.a.back)),
    (
        "request-named-past-the-limit",
        lambda s: (
            [_binding(s.a.token, *(str(uuid.uuid4()) for _ in range(MAX_BOUND_REQUESTS)), s.a.id)],
            s.a.back,
        ),
    ),
    ("same-cookie-twice", lambda s: ([f"{s.a.cookie}; {s.a.cookie}"], s.a.back)),
    ("same-cookie-twice-two-headers", lambda s: ([s.a.cookie, s.a.cookie], s.a.back)),
    (
        "same-name-two-values",
        lambda s: ([s.a.cookie, _binding(_flip(s.a.token), s.a.id)], s.a.back),
    ),
    (
        "name-upper-case",
        lambda s: ([s.a.cookie.replace(BINDING_COOKIE, BINDING_COOKIE.upper(), 1)], s.a.back),
    ),
    ("name-prefixed", lambda s: (["x" + s.a.cookie], s.a.back)),
    ("name-suffixed", lambda s: ([s.a.cookie.replace("=", "x=", 1)], s.a.back)),
    ("empty-cookie", lambda s: ([f"{s.a.cookie_name}="], s.a.back)),
    ("unicode-cookie", lambda s: ([f"{s.a.cookie_name}=\u00e9\u2028.\u0000"], s.a.back)),
    (
        "unicode-in-the-token",
        lambda s: ([_binding(s.a.token[:-1] + "\u00e9", s.a.id)], s.a.back),
    ),
    ("exchange-of-another-customer", lambda s: ([s.a.cookie], s.b.back)),
    ("exchange-random", lambda s: ([s.a.cookie], {"exchange": [str(uuid.uuid4())]})),
    ("exchange-not-uuid", lambda s: ([s.a.cookie], {"exchange": ["abc"]})),
    ("exchange-script", lambda s: ([s.a.cookie], {"exchange": ["<script>alert(1)</script>"]})),
    ("exchange-nul", lambda s: ([s.a.cookie], {"exchange": [s.a.exchange + "\x00"]})),
    ("exchange-braced", lambda s: ([s.a.cookie], {"exchange": ["{" + s.a.exchange + "}"]})),
    ("exchange-twice", lambda s: ([s.a.cookie], {"exchange": [s.a.exchange] * 2})),
    ("exchange-and-error", lambda s: ([s.a.cookie], {**s.a.back, "error": ["USER_CANCELLED"]})),
    ("no-query", lambda s: ([s.a.cookie], None)),
    ("empty-exchange", lambda s: ([s.a.cookie], {"exchange": [""]})),
    ("error-unknown", lambda s: ([s.a.cookie], {"error": ["access_denied"]})),
    ("error-empty", lambda s: ([s.a.cookie], {"error": [""]})),
    ("error-lowercase", lambda s: ([s.a.cookie], {"error": ["user_cancelled"]})),
    ("error-padded", lambda s: ([s.a.cookie], {"error": ["USER_CANCELLED "]})),
    ("error-newline", lambda s: ([s.a.cookie], {"error": ["USER_CANCELLED\r\nX: y"]})),
    ("error-fullwidth", lambda s: ([s.a.cookie], {"error": ["\uff35SER_CANCELLED"]})),
    ("error-twice", lambda s: ([s.a.cookie], {"error": ["USER_CANCELLED", "TEMPORARY_ERROR"]})),
    ("error-oversized", lambda s: ([s.a.cookie], {"error": ["USER_CANCELLED" * 300]})),
    ("error-not-recorded-without-cookie", lambda s: ([], {"error": ["USER_CANCELLED"]})),
    ("exchange-oversized", lambda s: ([s.a.cookie], {"exchange": [s.a.exchange * 300]})),
    ("many-params", lambda s: ([s.a.cookie], {f"p{i}": ["x" * 100] for i in range(500)})),
    ("oversized-cookie-header", lambda s: (["junk=" + "x" * 8000], s.a.back)),
]


@pytest.mark.parametrize(
    "forge", [case[1] for case in FORGED_CALLBACKS], ids=[case[0] for case in FORGED_CALLBACKS]
)
def test_forged_callback_changes_nothing_and_says_nothing(scene, forge):
    cookies, query = forge(scene)
    before = scene.snapshot()

    answer = scene.callback(cookies, query)

    assert_refused_and_nothing_changed(scene, answer, before)
    # The real customer is unaffected: their own callback still completes.
    landed = scene.callback([scene.a.cookie], scene.a.back)
    assert landed["statusCode"] == 303
    assert location(landed) == _landing(scene.a)


def test_a_cookie_naming_as_many_requests_as_allowed_still_binds_the_last(scene):
    """A browser bound to its latest MAX_BOUND_REQUESTS requests: the last one named counts."""
    others = [str(uuid.uuid4()) for _ in range(MAX_BOUND_REQUESTS - 1)]
    cookie = _binding(scene.a.token, *others, scene.a.id)
    assert read_binding([cookie]).request_ids == (*others, scene.a.id)
    scene.snapshot()

    landed = scene.callback([cookie], scene.a.back)

    assert landed["statusCode"] == 303
    assert location(landed) == _landing(scene.a)
    assert scene.api.session(scene.a.id)[1]["status"] == "reauthorized"
    assert [e["detail-type"] for e in scene.published()] == ["Exchange Reauthorized"]


def test_extra_callback_parameters_never_steer_the_landing(scene):
    query = {
        **scene.a.back,
        "redirect_uri": ["https://evil.example/"],
        "returnUrl": ["https://evil.example/"],
        "next": ["//evil.example"],
        "session": [scene.b.id],
    }

    landed = scene.callback([scene.a.cookie], query)

    assert location(landed) == _landing(scene.a)
    assert scene.api.session(scene.b.id)[1]["status"] == "pending"


# (case id, what happens first, what the attacker then sends, the answer: None for the refused
# page, else the status of the result the browser lands on). The customers' bank visits were a
# week ago: far outside the window in which a success claimed on a closed request still counts.
# The own exchange claimed that late lands on the "closed" result; an `?error=` finds no attempt
# at the bank (nor an ended one to reload): refused.
AFTER_THE_FACT = [
    ("replay-other-exchange-after-success", "complete", "exchange-of-b", None),
    ("past-deadline", "deadline", "own", "expired"),
    ("past-deadline-error", "deadline", {"error": ["USER_CANCELLED"]}, None),
    ("superseded-error", "supersede", {"error": ["TEMPORARY_ERROR"]}, None),
]


@pytest.mark.parametrize(
    ("first", "query", "landing"),
    [case[1:] for case in AFTER_THE_FACT],
    ids=[case[0] for case in AFTER_THE_FACT],
)
def test_callback_for_a_request_that_is_over_changes_nothing(scene, clock, first, query, landing):
    scene.a, scene.b  # noqa: B018 (both mid-flow before anything happens)
    if first == "complete":
        assert scene.callback([scene.a.cookie], scene.a.back)["statusCode"] == 303
    elif first == "deadline":
        clock.advance(days=7, minutes=1)
    else:
        scene.api.create(scene.a.exchange)
    if isinstance(query, str):
        query = {"own": scene.a.back, "exchange-of-b": scene.b.back}[query]
    before = scene.snapshot()

    answer = scene.callback([scene.a.cookie], query)

    if landing is None:
        assert_refused_and_nothing_changed(scene, answer, before)
    else:
        assert_landed_and_nothing_changed(scene, answer, before, _landing(scene.a, landing))


def test_a_request_past_its_deadline_that_went_to_the_bank_gets_dwollas_last_word(scene, clock):
    """The customer logged in at the bank but their way back was lost; the deadline passes.
    Reads say verifying (the schedule has a last word with Dwolla to come); the late callback,
    a week after the bank visit, lands on the "closed" result without a word with Dwolla and
    changes nothing; the schedule asks Dwolla once more before expiring it, and Dwolla's balance
    check works: reauthorized, announced."""
    scene.a  # noqa: B018 (back from the bank, the callback not sent)
    clock.advance(days=7, minutes=20)
    scene.snapshot()

    first = scene.api.session(scene.a.id)[1]["status"]
    before = scene.snapshot()
    late = scene.callback([scene.a.cookie], scene.a.back)
    assert_landed_and_nothing_changed(scene, late, before, _landing(scene.a, "expired"))
    swept = scene.functions.api.handler(scheduled_event(), LambdaContext())
    again = scene.api.session(scene.a.id)[1]["status"]

    assert (first, again) == ("verifying", "reauthorized")
    assert swept["expired"] == 0
    assert [e["detail-type"] for e in scene.published()] == ["Exchange Reauthorized"]


@pytest.mark.parametrize("query", ["own", {"error": ["TEMPORARY_ERROR"]}], ids=["own", "error"])
def test_a_callback_after_the_sweep_reauthorized_the_request_repeats_that_answer(
    scene, clock, query
):
    scene.a, scene.b  # noqa: B018 (both back from the bank, the callbacks lost)
    clock.advance(days=7, minutes=1)
    assert scene.functions.api.handler(scheduled_event(), LambdaContext())["expired"] == 0
    before = scene.snapshot()

    answer = scene.callback([scene.a.cookie], scene.a.back if query == "own" else query)

    assert location(answer) == _landing(scene.a)
    assert_nothing_changed(scene, before)


@pytest.mark.parametrize(
    "replay", [{"exchange": "own"}, {"error": ["USER_CANCELLED"]}, {"error": ["TEMPORARY_ERROR"]}]
)
def test_a_replayed_callback_after_success_repeats_the_answer_and_changes_nothing(scene, replay):
    first = scene.callback([scene.a.cookie], scene.a.back)
    before = scene.snapshot()
    query = scene.a.back if replay == {"exchange": "own"} else replay

    again = scene.callback([scene.a.cookie], query)

    assert location(again) == location(first) == _landing(scene.a)
    assert_nothing_changed(scene, before)


def test_a_forged_exchange_claim_without_the_bank_never_reauthorizes(scene):
    """The customer clicked the button but never logged in at the bank; a page they visit
    navigates them to the callback with the exchange id (their cookie goes along: SameSite=Lax
    sends it on a top-level GET). Dwolla's balance check is asked, says no: the claimed attempt
    ends `unverified`, the request stays pending, and the real login afterwards still works."""
    c = Customer(scene, visit=False)
    scene.snapshot()

    forged = scene.callback(
        [c.cookie], {"exchange": [c.exchange]}, {"Sec-Fetch-Site": "cross-site"}
    )

    assert location(forged) == (
        f"{RETURN_URL}?status=attempt_failed&session={c.id}&reason=NOT_REPAIRED&recoverable=true"
    )
    request = scene.api.session(c.id)[1]
    assert request["status"] == "pending"
    assert [(a["state"], a["reason"]) for a in request["attempts"]] == [
        ("unverified", "NOT_REPAIRED")
    ]
    calls = [(r["method"], r["path"]) for r in scene.dwolla.requests() if r["path"] != "/token"]
    assert all(method == "GET" for method, _ in calls), calls  # reads only: no session made
    assert any(path.endswith("/balance") for _, path in calls)
    assert [e["detail-type"] for e in scene.published()] == ["Reauth Attempt Failed"]
    assert scene.dwolla.exchange(c.exchange)["reauthRequired"] is True

    # The customer now logs in at the bank (the same Dwolla session) and comes back.
    back = c.browser.visit_bank(bank_url(c.page))
    landed = c.browser.get(back)

    assert location(landed) == _landing(c)
    assert scene.api.session(c.id)[1]["status"] == "reauthorized"
    assert [e["detail-type"] for e in scene.published()] == ["Exchange Reauthorized"]


def test_a_forged_exchange_claim_without_a_binding_costs_nothing(scene):
    c = Customer(scene, visit=False)
    before = scene.snapshot()

    answer = scene.callback([], {"exchange": [c.exchange]}, {"Sec-Fetch-Site": "cross-site"})

    assert_refused_and_nothing_changed(scene, answer, before)


@pytest.mark.parametrize("reason", ["USER_CANCELLED", "AUTHENTICATION_ERROR"])
def test_a_forged_cross_site_cancel_then_the_real_bank_login_ends_reauthorized(scene, reason):
    """A page the customer visits while their bank tab is open navigates them to the callback
    with ?error=: the bound attempt ends, recoverable whatever the error (the redirect's
    ?error= is the browser's word, never "for good"), the request does not, and the bank's real
    redirect back still counts, because Dwolla confirms it."""
    c = Customer(scene, visit=False)
    scene.snapshot()

    forged = scene.callback([c.cookie], {"error": [reason]}, {"Sec-Fetch-Site": "cross-site"})

    assert location(forged) == (
        f"{RETURN_URL}?status=attempt_failed&session={c.id}&reason={reason}&recoverable=true"
    )
    assert scene.api.session(c.id)[1]["status"] == "pending"
    events = scene.published()
    assert [e["detail-type"] for e in events] == ["Reauth Attempt Failed"]
    detail = events[0]["detail"]
    assert (detail["reason"], detail["reportedBy"], detail["recoverable"]) == (
        reason,
        "redirect",
        True,
    )

    landed = c.browser.get(c.browser.visit_bank(bank_url(c.page)))

    assert location(landed) == _landing(c)
    request = scene.api.session(c.id)[1]
    assert request["status"] == "reauthorized"
    assert [a["state"] for a in request["attempts"]] == ["reauthorized"]
    assert [e["detail-type"] for e in scene.published()] == ["Exchange Reauthorized"]


def test_two_tabs_two_requests_both_work(functions, api, dwolla, published):
    """One browser, three re-authentications at once (two banks, one Plaid): its one binding
    cookie names all three, each tab's attempt holds its token, whatever order the banks answer
    in."""
    browser = Browser(functions.callback)
    made = []
    for partner in ("mx", "mx", "plaid"):
        exchange = dwolla.seed_exchange(partner)["id"]
        _, request, _ = api.create(exchange, {"returnUrl": RETURN_URL})
        made.append((exchange, request))
    pages_ = [browser.click_start(request["startUrl"]) for _, request in made]
    (ex_a, a), (ex_b, b), (_, p) = made
    assert list(browser.jar) == [BINDING_COOKIE]
    assert read_binding(browser.cookies).request_ids == (p["id"], b["id"], a["id"])  # latest first
    back_b = browser.visit_bank(bank_url(pages_[1]))
    landed_b = browser.get(back_b)
    dwolla.complete_exchange_session(plaid_config(pages_[2])["token"])
    reported = browser.report_plaid(pages_[2], {"outcome": "success"})
    back_a = browser.visit_bank(bank_url(pages_[0]))
    landed_a = browser.get(back_a)

    assert location(landed_b) == f"{RETURN_URL}?status=reauthorized&session={b['id']}"
    assert json.loads(reported["body"]) == {
        "location": f"{RETURN_URL}?status=reauthorized&session={p['id']}"
    }
    assert location(landed_a) == f"{RETURN_URL}?status=reauthorized&session={a['id']}"
    assert {api.session(r["id"])[1]["status"] for _, r in made} == {"reauthorized"}
    kinds = [e["detail-type"] for e in published()]
    assert kinds.count("Exchange Reauthorized") == 3


# ---- the link: opening it, and its button ----------
def _fresh(scene: Scene, partner: str = "mx") -> dict:
    exchange = scene.dwolla.seed_exchange(partner)
    _, request, _ = scene.api.create(exchange["id"], None, {"Idempotency-Key": "link-case"})
    return request


def _key(request: dict) -> str:
    return query_of(request["startUrl"])["key"][0]


def _open(scene: Scene, method: str, request_id: str, query: dict | None) -> dict:
    """GET/HEAD of the link, or its button (the form POST, same origin, the query's key)."""
    path = f"/reauth/link/{request_id}"
    if method in ("GET", "HEAD"):
        return scene.send(method, path, query=query)
    body = urlencode(query or {}, doseq=True)
    return scene.send("POST", path, body=body, headers={**FORM, **SAME_ORIGIN})


# (case id, how to build (request id, query) from the scene and a fresh request)
ABUSED_LINKS = [
    ("wrong-key", lambda s, n: (n["id"], {"key": ["A" * 43]})),
    ("key-one-char-off", lambda s, n: (n["id"], {"key": [_flip(_key(n))]})),
    ("key-of-another-request", lambda s, n: (n["id"], {"key": [s.a.key]})),
    ("missing-key", lambda s, n: (n["id"], None)),
    ("empty-key", lambda s, n: (n["id"], {"key": [""]})),
    ("two-keys", lambda s, n: (n["id"], {"key": [_key(n)] * 2})),
    ("two-different-keys", lambda s, n: (n["id"], {"key": [_key(n), s.a.key]})),
    ("oversized-key", lambda s, n: (n["id"], {"key": [_key(n) * 50]})),
    ("key-bad-alphabet", lambda s, n: (n["id"], {"key": [_key(n)[:-1] + "/"]})),
    ("key-padded", lambda s, n: (n["id"], {"key": [_key(n) + "="]})),
    ("key-truncated", lambda s, n: (n["id"], {"key": [_key(n)[:-1]]})),
    ("key-nul", lambda s, n: (n["id"], {"key": [_key(n) + "\x00"]})),
    ("key-of-the-binding-token", lambda s, n: (s.a.id, {"key": [s.a.token]})),
    ("request-not-uuid", lambda s, n: ("not-a-uuid", {"key": [_key(n)]})),
    ("request-unknown", lambda s, n: (str(uuid.uuid4()), {"key": [_key(n)]})),
    ("request-of-another-key", lambda s, n: (s.a.id, {"key": [_key(n)]})),
    ("request-id-an-exchange-id", lambda s, n: (s.a.exchange, {"key": [s.a.key]})),
    ("request-id-an-attempt-id", lambda s, n: (s.a.attempt, {"key": [s.a.key]})),
]
LINK_METHODS = ["GET", "HEAD", "POST"]


@pytest.mark.parametrize("method", LINK_METHODS)
@pytest.mark.parametrize(
    "link", [case[1] for case in ABUSED_LINKS], ids=[case[0] for case in ABUSED_LINKS]
)
def test_abused_link_changes_nothing_and_says_nothing(scene, method, link):
    fresh = _fresh(scene)
    request_id, query = link(scene, fresh)
    before = scene.snapshot()

    answer = _open(scene, method, request_id, query)

    assert_refused_and_nothing_changed(scene, answer, before)
    # The customer's own link still works.
    assert Browser(scene.functions.callback).click_start(fresh["startUrl"])["statusCode"] == 200


# (case id, what happens to the request first)
CLOSED_LINKS = [
    ("past-deadline", "deadline"),
    ("expired-by-the-sweep", "sweep"),
    ("superseded", "supersede"),
]


@pytest.mark.parametrize("method", LINK_METHODS)
@pytest.mark.parametrize(
    "first", [case[1] for case in CLOSED_LINKS], ids=[case[0] for case in CLOSED_LINKS]
)
def test_the_link_of_a_request_that_is_over_says_so_and_changes_nothing(
    scene, clock, method, first
):
    fresh = _fresh(scene)
    if first in ("deadline", "sweep"):
        clock.advance(days=7, minutes=1)
        if first == "sweep":
            assert scene.functions.api.handler(scheduled_event(), LambdaContext())["expired"] >= 1
    else:
        scene.api.create(fresh["exchangeId"])
    before = scene.snapshot()

    answer = _open(scene, method, fresh["id"], {"key": [_key(fresh)]})

    if first == "supersede":
        assert_page(answer, "closed")
    else:  # expired: the closed page offers "Send me a new link" (the link's own key, no more)
        assert answer["statusCode"] == pages.ERROR_KINDS["closed"]
        assert "This link has expired" in answer["body"]
        assert renew_form(answer) == (f"{fresh['startUrl'].split('?')[0]}/renew", _key(fresh))
        assert header(answer, "set-cookie") is None
    assert_nothing_changed(scene, before)


@pytest.mark.parametrize("method", LINK_METHODS)
def test_the_link_of_a_reauthorized_request_says_done_and_changes_nothing(scene, method):
    scene.callback([scene.a.cookie], scene.a.back)
    before = scene.snapshot()

    answer = _open(scene, method, scene.a.id, {"key": [scene.a.key]})

    assert answer["statusCode"] == 200
    assert "Already done" in answer["body"]
    assert header(answer, "set-cookie") is None
    assert_nothing_changed(scene, before)


def test_a_replayed_create_hands_out_the_same_link(scene):
    exchange = scene.dwolla.seed_exchange("mx")
    key = {"Idempotency-Key": "same-link"}
    _, first, _ = scene.api.create(exchange["id"], None, key)

    status, again, _ = scene.api.create(exchange["id"], None, key)

    assert status == 200
    assert again["startUrl"] == first["startUrl"] == scene.api.session(first["id"])[1]["startUrl"]


def test_a_scanner_opening_the_link_changes_nothing_and_the_customer_click_still_works(scene):
    """Mail scanners and chat previews GET (and HEAD) every link they see, again and again,
    and follow what the page points to; none of it may use up the customer's attempt."""
    fresh = _fresh(scene)
    before = scene.snapshot()
    scanner = Browser(scene.functions.callback)

    for _ in range(3):
        for method in ("HEAD", "GET"):
            page = scanner.call(method, fresh["startUrl"])
            assert page["statusCode"] == 200
            cookie = header(page, "set-cookie")  # at most a binding token, naming no request
            if cookie is not None:
                assert read_binding([cookie.split(";", 1)[0]]).request_ids == ()
    page = scanner.get(fresh["startUrl"])
    assert "Continue to your bank" in page["body"]
    followed = re.findall(r'(?:href|action)="(https?://[^"]+)"', page["body"])
    assert followed == [f"{PUBLIC_BASE_URL}/reauth/link/{fresh['id']}"]  # the form's action
    for url in followed:
        assert_page(scanner.get(url), "refused")  # a GET of the action without the key
        assert_page(scanner.call("HEAD", url), "refused")

    assert_nothing_changed(scene, before)
    assert set(scanner.jar) <= {BINDING_COOKIE}
    assert read_binding(scanner.cookies).request_ids == ()
    # Honestly: the scanner's GET is the link's first opening (it cannot be told apart).
    assert [s["step"] for s in scene.api.session(fresh["id"])[1]["timeline"]] == [
        "created",
        "opened",
    ]

    customer = Browser(scene.functions.callback)
    clicked = customer.click_start(fresh["startUrl"])
    assert bank_url(clicked) == fresh["handoff"]["url"]  # attempt #1, never used by the scanner
    landed = customer.get(customer.visit_bank(bank_url(clicked)))
    assert location(landed) == f"{DONE_URL}?status=reauthorized&session={fresh['id']}"
    assert len(scene.api.session(fresh["id"])[1]["attempts"]) == 1


def test_token_partners_get_the_same_kind_of_link_and_the_plaid_page(scene):
    fresh = _fresh(scene, "plaid")
    before = scene.snapshot()

    page = Browser(scene.functions.callback).get(fresh["startUrl"])

    assert page["statusCode"] == 200 and "Continue to your bank" in page["body"]
    assert fresh["handoff"]["token"] not in page["body"]  # the Link token only after the click
    assert_nothing_changed(scene, before)
    clicked = Browser(scene.functions.callback).click_start(fresh["startUrl"])
    assert plaid_config(clicked)["token"] == fresh["handoff"]["token"]


# ---- the button's POST and "Try again" with bad input ----------
def _post(path: str, body: str | dict | None, headers: dict | None = None, cookies=None):
    return {"path": path, "body": body, "headers": headers, "cookies": cookies}


def _form(n: dict, **fields) -> str:
    return urlencode({"key": _key(n), **fields})


# (case id, how to build the POST from the scene and a fresh request)
BAD_STARTS = [
    ("json-body", lambda s, n: _post(n["action"], {"key": _key(n)}, SAME_ORIGIN)),
    (
        "text-plain",
        lambda s, n: _post(n["action"], _form(n), {"Content-Type": "text/plain", **SAME_ORIGIN}),
    ),
    (
        "multipart",
        lambda s, n: _post(
            n["action"],
            f'--x\r\nContent-Disposition: form-data; name="key"\r\n\r\n{_key(n)}\r\n--x--\r\n',
            {"Content-Type": "multipart/form-data; boundary=x", **SAME_ORIGIN},
        ),
    ),
    ("no-content-type", lambda s, n: _post(n["action"], _form(n), SAME_ORIGIN)),
    ("not-a-form", lambda s, n: _post(n["action"], "key", {**FORM, **SAME_ORIGIN})),
    ("empty-fields", lambda s, n: _post(n["action"], "&&&", {**FORM, **SAME_ORIGIN})),
    (
        "too-many-fields",
        lambda s, n: _post(
            n["action"],
            _form(n) + "&" + "&".join(f"f{i}=1" for i in range(9)),
            {**FORM, **SAME_ORIGIN},
        ),
    ),
    (
        "oversized-body",
        lambda s, n: _post(n["action"], _form(n, pad="x" * 20_000), {**FORM, **SAME_ORIGIN}),
    ),
    ("no-key-no-cookie", lambda s, n: _post(n["action"], "", {**FORM, **SAME_ORIGIN})),
    ("empty-key", lambda s, n: _post(n["action"], "key=", {**FORM, **SAME_ORIGIN})),
    ("wrong-key", lambda s, n: _post(n["action"], "key=" + "A" * 43, {**FORM, **SAME_ORIGIN})),
    (
        "key-of-another-request",
        lambda s, n: _post(n["action"], f"key={s.a.key}", {**FORM, **SAME_ORIGIN}),
    ),
    (
        "key-in-the-query-only",
        lambda s, n: _post(n["startUrl"], "", {**FORM, **SAME_ORIGIN}),
    ),
    (
        "cross-site-origin",
        lambda s, n: _post(n["action"], _form(n), {**FORM, "Origin": "https://evil.example"}),
    ),
    ("origin-null", lambda s, n: _post(n["action"], _form(n), {**FORM, "Origin": "null"})),
    (
        "origin-http",
        lambda s, n: _post(n["action"], _form(n), {**FORM, "Origin": "http://reauth.example.test"}),
    ),
    (
        "origin-other-port",
        lambda s, n: _post(
            n["action"], _form(n), {**FORM, "Origin": "https://reauth.example.test:8443"}
        ),
    ),
    (
        "origin-suffix-host",
        lambda s, n: _post(
            n["action"], _form(n), {**FORM, "Origin": "https://reauth.example.test.evil.example"}
        ),
    ),
    (
        "origin-subdomain",
        lambda s, n: _post(
            n["action"], _form(n), {**FORM, "Origin": "https://app.reauth.example.test"}
        ),
    ),
    (
        "fetch-site-cross-site",
        lambda s, n: _post(n["action"], _form(n), {**FORM, "Sec-Fetch-Site": "cross-site"}),
    ),
    (
        "fetch-site-same-site",
        lambda s, n: _post(n["action"], _form(n), {**FORM, "Sec-Fetch-Site": "same-site"}),
    ),
    (
        "fetch-site-cross-site-with-our-origin",
        lambda s, n: _post(
            n["action"],
            _form(n),
            {**FORM, "Origin": Browser.ORIGIN, "Sec-Fetch-Site": "cross-site"},
        ),
    ),
    # "Try again": no key, the binding cookie is the credential.
    (
        "try-again-cookie-of-another-request",
        lambda s, n: _post(n["action"], "", {**FORM, **SAME_ORIGIN}, [s.a.cookie]),
    ),
    (
        "try-again-tampered-cookie",
        lambda s, n: _post(
            s.a.action, "", {**FORM, **SAME_ORIGIN}, [_binding(_flip(s.a.token), s.a.id)]
        ),
    ),
    (
        "try-again-forged-cookie",
        lambda s, n: _post(
            s.a.action, "", {**FORM, **SAME_ORIGIN}, [_binding(new_secret(), s.a.id)]
        ),
    ),
    (
        "try-again-token-not-naming-the-request",
        lambda s, n: _post(s.a.action, "", {**FORM, **SAME_ORIGIN}, [_binding(s.a.token)]),
    ),
    (
        "try-again-old-per-request-cookie",
        lambda s, n: _post(s.a.action, "", {**FORM, **SAME_ORIGIN}, [_old_binding(s.a)]),
    ),
    (
        "try-again-cross-site",
        lambda s, n: _post(
            s.a.action, "", {**FORM, "Origin": "https://evil.example"}, [s.a.cookie]
        ),
    ),
    (
        "try-again-cross-site-fetch",
        lambda s, n: _post(s.a.action, "", {**FORM, "Sec-Fetch-Site": "cross-site"}, [s.a.cookie]),
    ),
]


@pytest.mark.parametrize(
    "build", [case[1] for case in BAD_STARTS], ids=[case[0] for case in BAD_STARTS]
)
def test_a_bad_start_changes_nothing_and_says_nothing(scene, build):
    fresh = _fresh(scene)
    fresh["action"] = f"/reauth/link/{fresh['id']}"
    sent = build(scene, fresh)
    path = sent["path"].split("?", 1)[0].removeprefix(PUBLIC_BASE_URL)
    query = query_of(sent["path"]) if "?" in sent["path"] else None
    before = scene.snapshot()

    answer = scene.send(
        "POST",
        path,
        query=query,
        body=sent["body"],
        headers=sent["headers"],
        cookies=sent["cookies"],
    )

    assert_refused_and_nothing_changed(scene, answer, before)
    # The real button still works, for the fresh request and for customer A's "Try again".
    assert Browser(scene.functions.callback).click_start(fresh["startUrl"])["statusCode"] == 200
    assert scene.a.browser.try_again(f"{PUBLIC_BASE_URL}{scene.a.action}")["statusCode"] == 200


@pytest.mark.parametrize("first", ["deadline", "supersede"])
def test_try_again_on_a_request_that_is_over_says_so_and_changes_nothing(scene, clock, first):
    scene.a  # noqa: B018 (mid-flow before anything happens)
    if first == "deadline":
        clock.advance(days=7, minutes=1)
    else:
        scene.api.create(scene.a.exchange)
    before = scene.snapshot()

    answer = scene.a.browser.try_again(f"{PUBLIC_BASE_URL}{scene.a.action}")

    assert_page(answer, "closed")
    assert_nothing_changed(scene, before)


# ---- the Plaid page's report (POST link/complete) with bad input ----------
def _complete(s: Scene, body, *, headers=None, cookies="own", path=None, csrf="own"):
    config = plaid_config(s.p.page)
    sent = {"Content-Type": "application/json", **SAME_ORIGIN}
    if csrf is not None:
        sent["X-Reauth-CSRF"] = config["csrf"] if csrf == "own" else csrf
    sent.update(headers or {})
    sent = {k: v for k, v in sent.items() if v is not None}
    return {
        "path": path or f"/reauth/link/{s.p.id}/complete",
        "body": body if isinstance(body, str) else json.dumps(body),
        "headers": sent,
        "cookies": [s.p.cookie] if cookies == "own" else cookies,
    }


SUCCESS = {"outcome": "success"}
# (case id, how to build the POST from the scene)
BAD_COMPLETIONS = [
    ("no-csrf", lambda s: _complete(s, SUCCESS, csrf=None)),
    ("empty-csrf", lambda s: _complete(s, SUCCESS, csrf="")),
    (
        "csrf-one-char-off",
        lambda s: _complete(s, SUCCESS, csrf=_flip(plaid_config(s.p.page)["csrf"])),
    ),
    ("csrf-is-the-token", lambda s: _complete(s, SUCCESS, csrf=s.p.token)),
    (
        "csrf-of-another-binding",
        lambda s: _complete(s, SUCCESS, csrf=csrf_token(s.a.token, s.p.attempt)),
    ),
    (
        "csrf-of-an-unknown-attempt",
        lambda s: _complete(s, SUCCESS, csrf=csrf_token(s.p.token, str(uuid.uuid4()))),
    ),
    ("csrf-attempt-id-only", lambda s: _complete(s, SUCCESS, csrf=f"{s.p.attempt}.")),
    (
        "csrf-mac-only",
        lambda s: _complete(s, SUCCESS, csrf=csrf_token(s.p.token, s.p.attempt).partition(".")[2]),
    ),
    ("csrf-oversized", lambda s: _complete(s, SUCCESS, csrf="A" * 5000)),
    ("no-cookie", lambda s: _complete(s, SUCCESS, cookies=[])),
    ("cookie-of-another-request", lambda s: _complete(s, SUCCESS, cookies=[s.a.cookie])),
    (
        "tampered-cookie",
        lambda s: _complete(s, SUCCESS, cookies=[_binding(_flip(s.p.token), s.p.id)]),
    ),
    (
        "forged-cookie-with-its-own-csrf",
        lambda s: (
            lambda token: _complete(
                s,
                SUCCESS,
                cookies=[_binding(token, s.p.id)],
                csrf=csrf_token(token, s.p.attempt),
            )
        )(new_secret()),
    ),
    (
        "cookie-and-csrf-of-another-request",
        lambda s: _complete(
            s, SUCCESS, cookies=[s.a.cookie], csrf=csrf_token(s.a.token, s.a.attempt)
        ),
    ),
    (
        "old-per-request-cookie",
        lambda s: _complete(s, SUCCESS, cookies=[_old_binding(s.p)]),
    ),
    (
        "same-cookie-twice",
        lambda s: _complete(s, SUCCESS, cookies=[f"{s.p.cookie}; {s.p.cookie}"]),
    ),
    (
        "another-requests-path",
        lambda s: _complete(s, SUCCESS, path=f"/reauth/link/{s.a.id}/complete"),
    ),
    (
        "unknown-request-path",
        lambda s: _complete(s, SUCCESS, path=f"/reauth/link/{uuid.uuid4()}/complete"),
    ),
    ("request-not-uuid", lambda s: _complete(s, SUCCESS, path="/reauth/link/abc/complete")),
    (
        "cross-site-origin",
        lambda s: _complete(s, SUCCESS, headers={"Origin": "https://evil.example"}),
    ),
    ("origin-null", lambda s: _complete(s, SUCCESS, headers={"Origin": "null"})),
    (
        "origin-of-plaid",
        lambda s: _complete(s, SUCCESS, headers={"Origin": "https://cdn.plaid.com"}),
    ),
    (
        "fetch-site-cross-site",
        lambda s: _complete(s, SUCCESS, headers={"Sec-Fetch-Site": "cross-site"}),
    ),
    ("text-plain", lambda s: _complete(s, SUCCESS, headers={"Content-Type": "text/plain"})),
    (
        "form-encoded",
        lambda s: _complete(s, "outcome=success", headers={"Content-Type": FORM["Content-Type"]}),
    ),
    ("not-json", lambda s: _complete(s, "{outcome: success}")),
    ("json-array", lambda s: _complete(s, "[]")),
    ("json-string", lambda s: _complete(s, '"success"')),
    ("json-null", lambda s: _complete(s, "null")),
    ("empty-object", lambda s: _complete(s, {})),
    ("empty-body", lambda s: _complete(s, "")),
    ("outcome-unknown", lambda s: _complete(s, {"outcome": "yes"})),
    ("outcome-upper-case", lambda s: _complete(s, {"outcome": "SUCCESS"})),
    ("outcome-not-a-string", lambda s: _complete(s, {"outcome": True})),
    ("success-with-extra", lambda s: _complete(s, {"outcome": "success", "reauthorized": True})),
    (
        "success-with-error",
        lambda s: _complete(s, {"outcome": "success", "error": "USER_CANCELLED"}),
    ),
    ("error-missing", lambda s: _complete(s, {"outcome": "error"})),
    ("error-unknown", lambda s: _complete(s, {"outcome": "error", "error": "ACCESS_DENIED"})),
    ("error-lower-case", lambda s: _complete(s, {"outcome": "error", "error": "user_cancelled"})),
    ("error-not-a-string", lambda s: _complete(s, {"outcome": "error", "error": ["X"]})),
    ("oversized-body", lambda s: _complete(s, {"outcome": "success", "pad": "x" * 20_000})),
]


@pytest.mark.parametrize(
    "build", [case[1] for case in BAD_COMPLETIONS], ids=[case[0] for case in BAD_COMPLETIONS]
)
def test_a_bad_completion_changes_nothing_and_says_nothing(scene, build):
    sent = build(scene)
    before = scene.snapshot()

    answer = scene.send(
        "POST", sent["path"], **{k: sent[k] for k in ("body", "headers", "cookies")}
    )

    assert_refused_and_nothing_changed(scene, answer, before)
    # The page's own report still counts, once Link really finished.
    scene.dwolla.complete_exchange_session(plaid_config(scene.p.page)["token"])
    reported = scene.p.browser.report_plaid(scene.p.page, SUCCESS)
    assert json.loads(reported["body"]) == {"location": _landing(scene.p)}


@pytest.mark.parametrize(
    "replay",
    [SUCCESS, {"outcome": "error", "error": "USER_CANCELLED"}],
    ids=["success", "error"],
)
def test_a_replayed_completion_repeats_the_answer_and_changes_nothing(scene, replay):
    scene.dwolla.complete_exchange_session(plaid_config(scene.p.page)["token"])
    first = scene.p.browser.report_plaid(scene.p.page, SUCCESS)
    before = scene.snapshot()

    again = scene.p.browser.report_plaid(scene.p.page, replay)

    assert again["statusCode"] == 200
    assert json.loads(again["body"]) == json.loads(first["body"]) == {"location": _landing(scene.p)}
    assert_nothing_changed(scene, before)


# A success reported on a superseded request soon after Link opened is checked with Dwolla and
# counts (test_time_and_order.py); a week late, or an error, changes nothing: the page is sent
# to the "closed" result (expired, superseded).
@pytest.mark.parametrize(
    ("first", "report"),
    [
        ("deadline", SUCCESS),
        ("deadline", {"outcome": "error", "error": "TEMPORARY_ERROR"}),
        ("supersede", {"outcome": "error", "error": "TEMPORARY_ERROR"}),
    ],
    ids=["deadline-success", "deadline-error", "supersede-error"],
)
def test_a_completion_for_a_request_that_is_over_changes_nothing(scene, clock, first, report):
    scene.dwolla.complete_exchange_session(plaid_config(scene.p.page)["token"])
    if first == "deadline":
        clock.advance(days=7, minutes=1)
    else:
        scene.api.create(scene.p.exchange)
    before = scene.snapshot()

    answer = scene.p.browser.report_plaid(scene.p.page, report)

    assert answer["statusCode"] == 200
    assert header(answer, "set-cookie") is None
    status = "expired" if first == "deadline" else "superseded"
    assert json.loads(answer["body"]) == {"location": _landing(scene.p, status)}
    assert_nothing_changed(scene, before)


@pytest.mark.parametrize("report", [SUCCESS, {"outcome": "error", "error": "TEMPORARY_ERROR"}])
def test_a_completion_after_the_sweep_reauthorized_the_request_repeats_that_answer(
    scene, clock, report
):
    scene.dwolla.complete_exchange_session(plaid_config(scene.p.page)["token"])
    clock.advance(days=7, minutes=1)  # Link said success at Plaid; the report never came
    assert scene.functions.api.handler(scheduled_event(), LambdaContext())["expired"] == 0
    before = scene.snapshot()

    answer = scene.p.browser.report_plaid(scene.p.page, report)

    assert json.loads(answer["body"]) == {"location": _landing(scene.p)}
    assert_nothing_changed(scene, before)


# ---- every route, the wrong way ----------
# (case id, method, path template: {id} is customer A's request)
WRONG_METHODS = [
    ("put-link", "PUT", "/reauth/link/{id}"),
    ("delete-link", "DELETE", "/reauth/link/{id}"),
    ("patch-link", "PATCH", "/reauth/link/{id}"),
    ("options-link", "OPTIONS", "/reauth/link/{id}"),
    ("get-complete", "GET", "/reauth/link/{id}/complete"),
    ("head-complete", "HEAD", "/reauth/link/{id}/complete"),
    ("put-complete", "PUT", "/reauth/link/{id}/complete"),
    ("post-callback", "POST", "/reauth/callback"),
    ("put-callback", "PUT", "/reauth/callback"),
    ("delete-callback", "DELETE", "/reauth/callback"),
    ("post-done", "POST", "/reauth/done"),
    ("post-status", "POST", "/reauth/link/{id}/status"),
    ("put-status", "PUT", "/reauth/link/{id}/status"),
    ("post-plaid-oauth", "POST", "/reauth/plaid-oauth"),
    ("delete-plaid-oauth", "DELETE", "/reauth/plaid-oauth"),
    ("post-link-without-id", "POST", "/reauth/link"),
    ("post-link-extra-segment", "POST", "/reauth/link/{id}/start"),
    ("post-old-start-route", "POST", "/reauth-sessions/{id}/start"),
    ("get-old-start-route", "GET", "/reauth-sessions/{id}/start"),
]


@pytest.mark.parametrize(
    ("method", "path"),
    [case[1:] for case in WRONG_METHODS],
    ids=[case[0] for case in WRONG_METHODS],
)
def test_a_route_called_the_wrong_way_changes_nothing(scene, method, path):
    path = path.format(id=scene.a.id)
    body = _form_body(scene) if method in ("POST", "PUT", "PATCH") else None
    before = scene.snapshot()

    answer = scene.send(
        method,
        path,
        query={"key": [scene.a.key], **(scene.a.back or {})},
        cookies=[scene.a.cookie],
        headers={**SAME_ORIGIN, **(FORM if body else {})},
        body=body,
    )

    if path.startswith("/reauth/"):
        assert_refused_and_nothing_changed(scene, answer, before)
    else:
        assert (answer["statusCode"], json.loads(answer["body"])["code"]) == (404, "NotFound")
        assert_nothing_changed(scene, before)


def _form_body(scene: Scene) -> str:
    return urlencode({"key": scene.a.key})


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_the_webhook_route_called_the_wrong_way_is_404(scene, method):
    before = scene.snapshot()

    answer = scene.send(method, "/webhooks/dwolla")

    assert (answer["statusCode"], json.loads(answer["body"])["code"]) == (404, "NotFound")
    assert_nothing_changed(scene, before)


# (case id, query of the result page)
BAD_RESULT_PAGES = [
    ("no-query", None),
    ("status-unknown", {"status": ["pwned"]}),
    ("status-twice", {"status": ["reauthorized", "reauthorized"]}),
    ("status-script", {"status": ["<script>alert(1)</script>"]}),
    ("failed-no-session", {"status": ["attempt_failed"], "reason": ["USER_CANCELLED"]}),
    (
        "failed-session-not-uuid",
        {"status": ["attempt_failed"], "session": ["abc"], "reason": ["USER_CANCELLED"]},
    ),
    (
        "failed-reason-unknown",
        {"status": ["attempt_failed"], "session": [str(uuid.uuid4())], "reason": ["<b>x</b>"]},
    ),
    ("failed-no-reason", {"status": ["attempt_failed"], "session": [str(uuid.uuid4())]}),
]


@pytest.mark.parametrize(
    "query", [case[1] for case in BAD_RESULT_PAGES], ids=[case[0] for case in BAD_RESULT_PAGES]
)
def test_a_bad_result_page_query_is_refused_and_never_echoed(scene, query):
    before = scene.snapshot()

    answer = scene.send("GET", "/reauth/done", query=query)

    assert_refused_and_nothing_changed(scene, answer, before)


def test_the_result_page_never_echoes_its_query(scene):
    session = str(uuid.uuid4())
    answer = scene.send(
        "GET",
        "/reauth/done",
        query={"status": ["attempt_failed"], "session": [session], "reason": ["USER_CANCELLED"]},
    )
    assert answer["statusCode"] == 200
    assert "USER_CANCELLED" not in answer["body"]
    assert f'action="{PUBLIC_BASE_URL}/reauth/link/{session}"' in answer["body"]  # "Try again"


# ---- open redirect ----------
# Allow-list: RETURN_URL = https://app.example.test/settings/bank and
# OTHER_RETURN_URL = https://app.example.test/onboarding?step=bank. Each must match exactly.
NOT_ALLOWED_RETURN_URLS = [
    ("scheme-relative", "//app.example.test/settings/bank"),
    ("scheme-relative-evil", "//evil.example/settings/bank"),
    ("path-only", "/settings/bank"),
    ("userinfo-evil-host", "https://app.example.test@evil.example/settings/bank"),
    ("userinfo-good-host", "https://evil.example@app.example.test/settings/bank"),
    ("userinfo-password", "https://user:pw@app.example.test/settings/bank"),
    ("backslash-authority", "https://app.example.test\\@evil.example/settings/bank"),
    ("backslash-scheme", "https:\\\\app.example.test/settings/bank"),
    ("backslash-path", "https://app.example.test/settings\\bank"),
    ("upper-case", "HTTPS://APP.EXAMPLE.TEST/SETTINGS/BANK"),
    ("mixed-case-host", "https://App.Example.Test/settings/bank"),
    ("mixed-case-path", "https://app.example.test/Settings/bank"),
    ("unicode-host-cyrillic-a", "https://\u0430pp.example.test/settings/bank"),
    ("unicode-fullwidth-dot", "https://app.example\uff0etest/settings/bank"),
    ("punycode-host", "https://xn--pp-8cd.example.test/settings/bank"),
    ("encoded-crlf", "https://app.example.test/settings/bank%0d%0aSet-Cookie:%20x=1"),
    ("encoded-lf", "https://app.example.test/settings/bank%0a"),
    ("raw-crlf", "https://app.example.test/settings/bank\r\nLocation: https://evil.example"),
    ("raw-tab", "https://app.example.test/settings/bank\t"),
    ("nul", "https://app.example.test/settings/bank\x00"),
    ("leading-space", " https://app.example.test/settings/bank"),
    ("trailing-space", "https://app.example.test/settings/bank "),
    ("trailing-slash", "https://app.example.test/settings/bank/"),
    ("extra-query", "https://app.example.test/settings/bank?next=https://evil.example"),
    ("fragment", "https://app.example.test/settings/bank#https://evil.example"),
    ("dot-segments", "https://app.example.test/settings/bank/../../evil"),
    ("encoded-path", "https://app.example.test/settings%2Fbank"),
    ("explicit-port", "https://app.example.test:443/settings/bank"),
    ("other-port", "https://app.example.test:8443/settings/bank"),
    ("http-downgrade", "http://app.example.test/settings/bank"),
    ("suffix-host", "https://app.example.test.evil.example/settings/bank"),
    ("trailing-dot-host", "https://app.example.test./settings/bank"),
    (
        "evil-with-allowed-in-query",
        "https://evil.example/?u=https://app.example.test/settings/bank",
    ),
    ("prefix-of-other", "https://app.example.test/onboarding?step=bank&next=//evil.example"),
    ("other-query-case", "https://app.example.test/onboarding?step=Bank"),
    ("both-entries-joined", f"{RETURN_URL},{OTHER_RETURN_URL}"),
    ("javascript", "javascript:alert(document.cookie)"),
    ("data", "data:text/html,<script>alert(1)</script>"),
    ("the-services-own-done-page", DONE_URL),
    ("empty", ""),
    ("oversized", RETURN_URL + "?" + "a" * 3000),
    ("number", 7),
    ("list", [RETURN_URL]),
    ("object", {"href": RETURN_URL}),
    ("boolean", True),
]
CHANNELS = ["api", "event"]


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize(
    "return_url",
    [case[1] for case in NOT_ALLOWED_RETURN_URLS],
    ids=[case[0] for case in NOT_ALLOWED_RETURN_URLS],
)
def test_return_url_off_the_allow_list_is_refused_before_anything_happens(
    functions, api, dwolla, published, channel, return_url
):
    exchange = dwolla.seed_exchange("mx")
    dwolla.clear_requests()

    if channel == "api":
        status, body, _ = api.create(exchange["id"], {"returnUrl": return_url})
        assert (status, body["code"]) == (400, "ReturnUrlNotAllowed")
        assert set(body) == {"code", "message", "requestId"}
    else:
        event = eventbridge_event(
            "Exchange Reauth Requested", {"exchangeId": exchange["id"], "returnUrl": return_url}
        )
        assert functions.api.handler(event, LambdaContext()) == {"refused": "ReturnUrlNotAllowed"}
    assert dwolla.requests() == []
    assert table_items(functions) == []
    assert published() == []


@pytest.mark.parametrize("allowed", [RETURN_URL, OTHER_RETURN_URL])
def test_an_allowed_return_url_is_where_the_customer_lands_exactly(scene, allowed):
    exchange = scene.dwolla.seed_exchange("mx")
    _, request, _ = scene.api.create(exchange["id"], {"returnUrl": allowed})
    browser = Browser(scene.functions.callback)
    back = browser.visit_bank(bank_url(browser.click_start(request["startUrl"])))

    landed = browser.get(back)

    separator = "&" if "?" in allowed else "?"
    expected = f"{allowed}{separator}status=reauthorized&session={request['id']}"
    assert location(landed) == expected
    assert back.startswith(CALLBACK_URL)


# ---- the operator's allow-list itself ----------
UNSAFE_ALLOWLIST_ENTRIES = [
    ("scheme-relative", "//evil.example/cb"),
    ("path-only", "/settings/bank"),
    ("javascript", "javascript:alert(1)"),
    ("userinfo", "https://user@app.example.test/cb"),
    ("fragment", "https://app.example.test/cb#x"),
    ("http-not-localhost", "http://app.example.test/cb"),
    ("backslash", "https://app.example.test\\evil"),
    ("unicode-host", "https://\u0430pp.example.test/cb"),
    ("no-host", "https:///cb"),
]


@pytest.mark.parametrize(
    "entry",
    [case[1] for case in UNSAFE_ALLOWLIST_ENTRIES],
    ids=[case[0] for case in UNSAFE_ALLOWLIST_ENTRIES],
)
def test_an_unsafe_allow_list_entry_is_a_configuration_error(service_env, entry):
    env = {**service_env, "RETURN_URL_ALLOWLIST": f"{RETURN_URL},{entry}"}

    with pytest.raises(ConfigError, match="RETURN_URL_ALLOWLIST"):
        Config.from_environment(env)


@pytest.mark.parametrize(
    "entry", [RETURN_URL, OTHER_RETURN_URL, "http://localhost:3000/done", "http://127.0.0.1/x"]
)
def test_safe_allow_list_entries_are_accepted(service_env, entry):
    config = Config.from_environment({**service_env, "RETURN_URL_ALLOWLIST": entry})
    assert config.return_url_allowlist == (entry,)


# ---- Dwolla webhooks ----------
# (case id, how to build (body sent, headers) from the body Dwolla signed)
FORGED_WEBHOOKS = [
    ("no-signature", lambda raw: (raw, {})),
    ("empty-signature", lambda raw: (raw, {SIGNATURE_HEADER: ""})),
    ("blank-signature", lambda raw: (raw, {SIGNATURE_HEADER: "   "})),
    ("non-hex-signature", lambda raw: (raw, {SIGNATURE_HEADER: "zz" * 32})),
    (
        "prefixed-signature",
        lambda raw: (raw, {SIGNATURE_HEADER: "sha256=" + sign(raw)}),
    ),
    ("truncated-signature", lambda raw: (raw, {SIGNATURE_HEADER: sign(raw)[:32]})),
    ("extended-signature", lambda raw: (raw, {SIGNATURE_HEADER: sign(raw) + "00"})),
    (
        "base64-signature",
        lambda raw: (
            raw,
            {SIGNATURE_HEADER: base64.b64encode(bytes.fromhex(sign(raw))).decode()},
        ),
    ),
    ("other-secret", lambda raw: (raw, {SIGNATURE_HEADER: sign(raw, "guess")})),
    ("empty-body-signature", lambda raw: (raw, {SIGNATURE_HEADER: sign("")})),
    ("other-header", lambda raw: (raw, {"X-Request-Signature": sign(raw)})),
    (
        "body-tampered-after-signing",
        lambda raw: (
            raw.replace("exchanges/", "exchanges/0"),
            {SIGNATURE_HEADER: sign(raw)},
        ),
    ),
    (
        "exchange-swapped-after-signing",
        lambda raw: (reauth_required(str(uuid.uuid4())), {SIGNATURE_HEADER: sign(raw)}),
    ),
    ("whitespace-appended", lambda raw: (raw + " ", {SIGNATURE_HEADER: sign(raw)})),
    (
        "re-serialized",
        lambda raw: (
            json.dumps(json.loads(raw), indent=1),
            {SIGNATURE_HEADER: sign(raw)},
        ),
    ),
    ("unicode-signature", lambda raw: (raw, {SIGNATURE_HEADER: "\u0661" * 64})),
]


@pytest.mark.parametrize(
    "forge", [case[1] for case in FORGED_WEBHOOKS], ids=[case[0] for case in FORGED_WEBHOOKS]
)
def test_forged_webhook_is_401_and_changes_nothing(functions, published, forge):
    exchange_id = str(uuid.uuid4())
    body, headers = forge(reauth_required(exchange_id))
    event = rest_event(
        "POST",
        "/webhooks/dwolla",
        body=body,
        headers={"Content-Type": "application/json", **headers},
    )

    answer = functions.callback.handler(event, LambdaContext())

    assert answer["statusCode"] == 401
    assert json.loads(answer["body"])["code"] == "InvalidSignature"
    assert set(json.loads(answer["body"])) == {"code", "message", "requestId"}
    assert table_items(functions) == []
    assert published() == []


def test_a_redelivered_webhook_is_acknowledged_once(functions, published):
    raw = reauth_required(str(uuid.uuid4()))
    event = rest_event(
        "POST",
        "/webhooks/dwolla",
        body=raw,
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: sign(raw)},
    )
    outcomes = [
        json.loads(functions.callback.handler(event, LambdaContext())["body"]) for _ in range(3)
    ]
    assert outcomes == [{"outcome": "recorded"}] + [{"outcome": "duplicate"}] * 2
    assert [e["detail-type"] for e in published()] == ["Exchange Reauth Required"]
