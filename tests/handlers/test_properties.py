"""Property-based tests (hypothesis) over every entry point's inputs.

Whatever arrives (path ids, bodies, forms, headers, origins, query strings, cookies, CSRF
tokens, events, webhooks), the functions never answer 5xx or raise:
  - API callers get a success or the JSON error shape `{"code", "message", "requestId"}` with a
    documented code (errors.ErrorCode) and its status;
  - browsers get a page (200), a redirect home (303), a JSON `{"location"}` (the Plaid page's
    report), the closed / too-many-attempts page, or the one generic refusal page (400), and no
    page echoes what was sent.
A refusal changes nothing: no DynamoDB write succeeds (so no event enters the outbox either), no
event is put on the bus, no cookie is set, and a browser's refusal (checked before any I/O) does
not even call Dwolla. Opening a link
(GET/HEAD) and the result page change nothing whatever they answer.

Deterministic for CI: derandomize=True, no example database. EXAMPLES per property is the figure.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reauth import pages
from reauth.errors import ErrorCode
from reauth.model import RequestStatus, iso, utcnow
from reauth.security import read_binding
from tests.support.apigw import LambdaContext, eventbridge_event, rest_event
from tests.support.constants import OTHER_RETURN_URL, PUBLIC_BASE_URL, RETURN_URL
from tests.support.flow import Browser, bank_url, header, plaid_config
from tests.support.webhooks import sign

EXAMPLES = 500
PROPERTY = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # one service and table per property, on purpose
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
STATUS_OF = {error.code: error.status for error in ErrorCode}
ORIGIN = "https://reauth.example.test"
FORM = "application/x-www-form-urlencoded"
DONE_URL = f"{PUBLIC_BASE_URL}/reauth/done"
HOME = (RETURN_URL, OTHER_RETURN_URL, DONE_URL)  # where a browser may be sent back to
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
# An input no page may ever show: generated text carries it, answers must not.
CANARY = "zqxj"
CANARY_RE = re.compile(CANARY + r"[0-9]{0,6}")


# ---- strategies ----------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
canaries = st.integers(0, 999_999).map(lambda n: f"{CANARY}{n}")
weird_text = (
    st.text(max_size=80)
    | st.sampled_from(
        [
            "",
            " ",
            "null",
            "{}",
            "[]",
            "..",
            "%00",
            "\x00",
            "\r\n",
            "a" * 300,
            "\u202e",
            "' OR 1=1 --",
            "<script>alert(1)</script>",
            "javascript:alert(1)",
            "../../etc",
        ]
    )
    | canaries
    | canaries.map(lambda c: f'"><b>{c}</b>')
)
well_formed_tokens = st.from_regex(r"[A-Za-z0-9_-]{20,128}", fullmatch=True)
ids = (
    st.uuids().map(str)
    | weird_text
    | st.uuids().map(lambda u: str(u).upper())
    | st.uuids().map(lambda u: u.hex)
)


def bodies(field_values=json_values):
    """Request bodies: absent, text, JSON of any shape, objects with the fields a route reads."""
    objects = st.fixed_dictionaries(
        {},
        optional={
            "customerId": st.uuids().map(str) | field_values,
            "returnUrl": st.sampled_from([RETURN_URL, OTHER_RETURN_URL]) | field_values,
            "fundingSourceId": st.uuids().map(str) | field_values,
            "error": st.sampled_from(["USER_CANCELLED", "TEMPORARY_ERROR"]) | field_values,
        },
    )
    return st.one_of(
        st.none(),
        weird_text,
        json_values.map(json.dumps),
        objects.map(json.dumps),
        st.integers(16 * 1024 - 10, 17 * 1024).map(lambda n: json.dumps({"x": "y" * n})),
    )


headers = st.dictionaries(
    st.sampled_from(
        [
            "Content-Type",
            "content-type",
            "Idempotency-Key",
            "Cookie",
            "Origin",
            "Sec-Fetch-Site",
            "X-Reauth-CSRF",
            "X-Request-Signature-SHA-256",
            "Host",
        ]
    )
    | st.text(min_size=1, max_size=20),
    st.sampled_from(["application/json", "text/plain", "application/json; charset=utf-8", FORM])
    | weird_text,
    max_size=4,
)
queries = st.dictionaries(
    st.sampled_from(["key", "exchange", "error", "status", "session", "reason"])
    | st.text(max_size=10),
    st.lists(weird_text | st.uuids().map(str), min_size=1, max_size=3),
    max_size=4,
)
origins = (
    st.none()
    | st.sampled_from(
        [
            ORIGIN,
            ORIGIN + "/",
            ORIGIN.upper(),
            "https://evil.example",
            "null",
            "http://reauth.example.test",
            "https://reauth.example.test.evil.example",
        ]
    )
    | weird_text
)
fetch_sites = (
    st.none()
    | st.sampled_from(["same-origin", "same-site", "cross-site", "none", "SAME-ORIGIN"])
    | weird_text
)
content_types = (
    st.none()
    | st.sampled_from(
        [FORM, FORM + "; charset=UTF-8", "application/json", "text/plain", "multipart/form-data"]
    )
    | weird_text
)


def _event(method, path, body, headers_, query=None, base64_body=False, cookies=None):
    event = rest_event(method, path, headers=headers_, query=query, cookies=cookies or None)
    if body is not None and base64_body:
        event["body"] = base64.b64encode(body.encode("utf-8", "surrogatepass")).decode()
        event["isBase64Encoded"] = True
    else:
        event["body"] = body
    return event


def _browser_headers(extra: dict, origin, fetch_site, content_type=None, csrf=None) -> dict:
    sent = dict(extra)
    for name, value in (
        ("Origin", origin),
        ("Sec-Fetch-Site", fetch_site),
        ("Content-Type", content_type),
        ("X-Reauth-CSRF", csrf),
    ):
        if value is not None:
            sent[name] = value
    return sent


# ---- what every answer must be ----------
def assert_api_answer(answer: dict, success: set[int]) -> dict:
    status = answer["statusCode"]
    assert status < 500, answer["body"]
    body = json.loads(answer["body"])
    if status in success:
        return body
    assert set(body) == {"code", "message", "requestId"}, body
    assert body["code"] in STATUS_OF, body
    assert STATUS_OF[body["code"]] == status, body
    return body


def _without_nonce(html: str) -> str:
    return re.sub(r'nonce="[^"]*"', 'nonce=""', html)


def _page(kind: str) -> str:
    from reauth import runtime

    return _without_nonce(pages.error_page(platform=runtime.config().platform_name, kind=kind).html)


def assert_browser_answer(answer: dict, statuses: set[int]) -> None:
    """A page, a redirect home, the Plaid page's JSON, or one of the fixed refusal pages; never
    an echo of the input."""
    status = answer["statusCode"]
    assert status in statuses, (status, answer["body"][:300])
    text = json.dumps(answer.get("multiValueHeaders") or answer.get("headers")) + answer["body"]
    # The per-answer CSP nonce is random base64: it may hold the canary's letters by chance.
    text = re.sub(r"nonce-[A-Za-z0-9_+/=-]+", "nonce-", _without_nonce(text))
    assert not CANARY_RE.search(text), "the answer echoes its input"
    content_type = header(answer, "content-type") or ""
    if status == 303:
        assert header(answer, "location").startswith(HOME), header(answer, "location")
    elif content_type.startswith("application/json"):
        assert status == 200
        location = json.loads(answer["body"])["location"]
        assert location.startswith(HOME), location
    else:
        assert content_type.startswith("text/html"), content_type
        assert answer["body"].startswith('<!doctype html><html lang="en">')
        assert header(answer, "content-security-policy").startswith("default-src 'none'")
        fixed = {400: "refused", 410: "closed", 429: "too_many_attempts"}
        if status in fixed:
            assert _without_nonce(answer["body"]) == _page(fixed[status])


class Effects:
    """What the functions did to the world during one example: successful DynamoDB writes,
    published events (botocore's after-call hook, on the runtime's session) and Dwolla calls
    (the sandbox's request log)."""

    def __init__(self, sandbox) -> None:
        self.sandbox = sandbox
        self.writes: list[str] = []
        self.events = 0
        self._dwolla_before = 0

    def __call__(self, http_response, model, **_) -> None:
        if http_response.status_code != 200:
            return
        service = model.service_model.endpoint_prefix
        if service == "dynamodb" and model.name in WRITES:
            self.writes.append(model.name)
        elif service == "events" and model.name == "PutEvents":
            self.events += 1

    def start(self) -> None:
        self.writes.clear()
        self.events = 0
        self._dwolla_before = len(self.sandbox.state.logged_requests())

    @property
    def dwolla_calls(self) -> int:
        return len(self.sandbox.state.logged_requests()) - self._dwolla_before

    def assert_none(self, answer: dict, *, dwolla: bool = False, token: bool = False) -> None:
        """Nothing changed (and, for a browser's refusal, Dwolla was not even asked). `token`:
        a binding cookie holding only a browser's token (no request) may be handed out."""
        assert self.writes == [], (answer["statusCode"], self.writes)
        assert self.events == 0, answer["statusCode"]
        cookie = header(answer, "set-cookie")
        if token and cookie is not None and answer["statusCode"] == 200:
            binding = read_binding([cookie.split(";", 1)[0]])
            assert binding.token is not None and binding.request_ids == (), cookie
        else:
            assert cookie is None
        if not dwolla:
            assert self.dwolla_calls == 0, answer["statusCode"]


@pytest.fixture
def effects(service_env, sandbox):
    """Hooked into the runtime's boto3 session before any client exists (clients copy the
    session's hooks when made)."""
    from reauth import runtime

    watch = Effects(sandbox)
    runtime.boto_session().events.register("after-call", watch)
    return watch


@pytest.fixture
def pool(effects, functions, api, dwolla):
    """Real requests in each state, and a browser bound to them, so that generated ids, keys,
    cookies and CSRF tokens hit something."""
    browser = Browser(functions.callback)
    mx, plaid, done, old = (dwolla.seed_exchange(p) for p in ("mx", "plaid", "mx", "mx"))
    _, redirect_request, _ = api.create(mx["id"], {"returnUrl": RETURN_URL})
    _, token_request, _ = api.create(plaid["id"])
    _, done_request, _ = api.create(done["id"], {"returnUrl": OTHER_RETURN_URL})
    _, superseded, _ = api.create(old["id"])
    api.create(old["id"])
    browser.click_start(redirect_request["startUrl"])
    plaid_page = browser.click_start(token_request["startUrl"])
    browser.get(browser.visit_bank(bank_url(browser.click_start(done_request["startUrl"]))))
    requests_ = [redirect_request, token_request, done_request, superseded]
    for request in requests_:  # opened once (the funnel's openedAt): later openings write nothing
        Browser(functions.callback).get(request["startUrl"])
    cookies = [f"{name}={value}" for name, value in browser.jar.items()]
    return {
        "exchanges": [mx["id"], plaid["id"], done["id"], old["id"]],
        "requests": [r["id"] for r in requests_],
        "keys": [r["startUrl"].rpartition("key=")[2] for r in requests_],
        "attempts": [r["attempts"][0]["id"] for r in requests_],
        "cookies": cookies,
        "cookie_names": list(browser.jar),
        "cookie_values": list(browser.jar.values()),
        "cookie_of": {r["id"]: _cookie_of(browser, r["id"]) for r in requests_[:3]},
        "csrf": plaid_config(plaid_page)["csrf"],
    }


def _cookie_of(browser: Browser, request_id: str) -> str:
    """The browser's binding cookie: one for all its requests (it names `request_id`)."""
    value = browser.jar["reauth_binding"]
    assert request_id.replace("-", "") in value.split(".")[1:]
    return f"reauth_binding={value}"


@pytest.fixture
def tried():
    """Counts the examples a property ran; at least EXAMPLES must have run (the figure)."""
    calls: list[int] = []
    yield calls
    assert len(calls) >= EXAMPLES, f"only {len(calls)} examples ran"


def _known(kind: str, pool: dict):
    return st.sampled_from(pool[kind]) | ids


def _keys(pool: dict):
    return st.sampled_from(pool["keys"]) | well_formed_tokens | weird_text


def _cookies(pool: dict):
    """Cookie headers: the real bindings, bindings bent out of shape, junk, too many."""
    names = (
        st.sampled_from(pool["cookie_names"])
        | _known("requests", pool).map(lambda r: "reauth_" + r.replace("-", ""))
        | st.sampled_from(["reauth_", "reauth_binding", "session"])
        | st.text(max_size=12)
    )
    values = (
        st.sampled_from(pool["cookie_values"])
        | st.builds(
            lambda t, r: f"{t}.{r.replace('-', '')}",
            well_formed_tokens | weird_text,
            _known("requests", pool),
        )
        | st.builds(  # the old per-request format: no longer honoured
            lambda a, t: f"{a}.{t}",
            _known("attempts", pool),
            well_formed_tokens | weird_text,
        )
        | weird_text
    )
    one = (
        st.sampled_from(pool["cookies"])
        | st.builds(lambda n, v: f"{n}={v}", names, values)
        | weird_text
    )
    return st.lists(one, max_size=6)


# ---- ApiFunction ----------
def test_create_never_fails_badly(functions, pool, effects, tried):
    @PROPERTY
    @given(
        exchange_id=_known("exchanges", pool),
        body=bodies(),
        headers_=headers,
        base64_body=st.booleans(),
    )
    def create(exchange_id, body, headers_, base64_body):
        tried.append(1)
        event = _event(
            "POST", f"/exchanges/{exchange_id}/reauth-sessions", body, headers_, None, base64_body
        )
        effects.start()
        raw = functions.api.handler(event, LambdaContext())
        answer = assert_api_answer(raw, {200, 201})
        if "id" in answer:
            assert answer["status"] in {status.value for status in RequestStatus}
        else:
            effects.assert_none(raw, dwolla=True)

    create()


@pytest.mark.parametrize(
    ("method", "template", "kind", "success"),
    [
        ("GET", "/reauth-sessions/{}", "requests", {200}),
        ("POST", "/reauth-sessions/{}/complete", "requests", {200}),
        ("GET", "/exchanges/{}/reauth-status", "exchanges", {200}),
    ],
    ids=["get-request", "complete", "exchange-status"],
)
def test_request_and_status_routes_never_fail_badly(
    functions, pool, effects, method, template, kind, success, tried
):
    @PROPERTY
    @given(id_=_known(kind, pool), body=bodies(), headers_=headers, base64_body=st.booleans())
    def call(id_, body, headers_, base64_body):
        tried.append(1)
        event = _event(method, template.format(id_), body, headers_, None, base64_body)
        effects.start()
        raw = functions.api.handler(event, LambdaContext())
        assert_api_answer(raw, success)
        if raw["statusCode"] >= 400:
            effects.assert_none(raw, dwolla=True)

    call()


@pytest.mark.parametrize("function", ["api", "callback"])
def test_unknown_routes_and_methods_answer_an_error_and_change_nothing(
    functions, effects, function, tried
):
    module = getattr(functions, function)

    @PROPERTY
    @given(
        method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
        path=st.text(max_size=60).map(lambda p: "/" + p.lstrip("/"))
        | st.sampled_from(["/reauth/", "/reauth/link", "/reauth/link/x/y/z", "/reauth/donex"]),
        body=bodies(),
    )
    def call(method, path, body):
        tried.append(1)
        effects.start()
        answer = module.handler(_event(method, path, body, {}), LambdaContext())
        assert answer["statusCode"] < 500
        if answer["statusCode"] < 400:
            return  # a generated path that is a real route
        effects.assert_none(answer)
        if (header(answer, "content-type") or "").startswith("application/json"):
            assert json.loads(answer["body"])["code"] in STATUS_OF
        else:
            assert _without_nonce(answer["body"]) == _page("refused")

    call()


def test_eventbridge_requests_are_created_or_refused_with_a_documented_code(
    functions, pool, effects, tried
):
    detail_types = st.sampled_from(
        ["Exchange Reauth Requested", "Dwolla UpdateCredentials"]
    ) | st.text(max_size=30)
    details = json_values | st.fixed_dictionaries(
        {},
        optional={
            "exchangeId": _known("exchanges", pool) | json_values,
            "customerId": st.uuids().map(str) | json_values,
            "fundingSourceId": st.uuids().map(str) | json_values,
            "returnUrl": st.sampled_from([RETURN_URL]) | json_values,
            "code": st.sampled_from(["UpdateCredentials"]) | json_values,
            "_links": json_values
            | _known("exchanges", pool).map(
                lambda e: {
                    "about": {"href": f"https://api.dwolla.com/exchanges/{e}/exchange-sessions"}
                }
            ),
        },
    )

    @PROPERTY
    @given(detail_type=detail_types, detail=details, event_id=st.uuids().map(str) | weird_text)
    def deliver(detail_type, detail, event_id):
        tried.append(1)
        event = eventbridge_event(detail_type, detail, event_id=event_id)
        effects.start()
        result = functions.api.handler(event, LambdaContext())
        if "refused" in result:
            assert STATUS_OF[result["refused"]] < 500
            assert (effects.writes, effects.events) == ([], 0)
        else:
            assert set(result) == {"sessionId", "replayed"}

    deliver()


# ---- CallbackFunction: the link, its button, the Plaid page's report, coming back ----------
# Each example starts from a coherent request of the pool (its id, key, binding cookie, CSRF
# token, a same-origin browser) and bends any number of its parts into hostile ones: near
# misses, wholly hostile requests and the honest ones that must still work.
class Bender:
    def __init__(self, data, bent: set[str]) -> None:
        self._data, self.bent = data, bent

    def __call__(self, part: str, honest, hostile):
        return self._data.draw(hostile, label=part) if part in self.bent else honest


def _bends(*parts: str):
    return st.sets(st.sampled_from(parts))


@pytest.fixture
def outcomes():
    """What the examples of a property answered: both sides must have been reached."""
    seen: dict[str, int] = {}
    yield seen
    assert seen.get("honoured", 0) >= 1 and seen.get("refused", 0) >= 1, seen


def _count(outcomes: dict, answer: dict, honoured: bool) -> None:
    kind = "honoured" if honoured else "refused" if answer["statusCode"] == 400 else "other"
    outcomes[kind] = outcomes.get(kind, 0) + 1


def test_opening_the_link_changes_nothing_and_answers_a_page(
    functions, pool, effects, tried, outcomes
):
    """GET/HEAD of the start link, with any id, key, query, headers and cookies."""

    @PROPERTY
    @given(
        data=st.data(),
        bent=_bends("method", "id", "key", "query", "headers", "cookies"),
        which=st.integers(0, 3),
    )
    def open_link(data, bent, which):
        tried.append(1)
        bend = Bender(data, bent)
        method = bend("method", "GET", st.just("HEAD"))
        request_id = bend("id", pool["requests"][which], _known("requests", pool))
        query = bend("query", {"key": [bend("key", pool["keys"][which], _keys(pool))]}, queries)
        event = _event(
            method,
            f"/reauth/link/{request_id}",
            None,
            bend("headers", {}, headers),
            query,
            False,
            bend("cookies", [], _cookies(pool)),
        )
        effects.start()
        answer = functions.callback.handler(event, LambdaContext())
        assert_browser_answer(answer, {200, 400, 410})
        effects.assert_none(answer, token=True)  # a link scanner changes nothing
        _count(outcomes, answer, answer["statusCode"] == 200)

    open_link()


def test_the_start_button_binds_a_browser_or_refuses_and_changes_nothing(
    functions, pool, effects, tried, outcomes
):
    """POST of the link (the start button, or "try again" with the binding cookie): any form,
    content type, origin, Sec-Fetch-Site, headers and cookies."""
    fields = st.sampled_from(["key", "Key", "k", "key[]", ""]) | st.text(max_size=6)
    forms = st.one_of(
        st.none(),
        st.just(""),
        st.dictionaries(fields, st.lists(_keys(pool), min_size=1, max_size=2), max_size=3).map(
            lambda form: urlencode(form, doseq=True)
        ),
        _keys(pool).map(lambda k: urlencode({"key": k})),
        weird_text,
        json_values.map(json.dumps),
        st.integers(16 * 1024 - 10, 17 * 1024).map(lambda n: "key=" + "k" * n),
    )

    @PROPERTY
    @given(
        data=st.data(),
        bent=_bends(
            "id",
            "key",
            "form",
            "content_type",
            "origin",
            "fetch_site",
            "headers",
            "cookies",
            "base64",
        ),
        which=st.integers(0, 3),
        try_again=st.booleans(),
    )
    def start(data, bent, which, try_again):
        tried.append(1)
        bend = Bender(data, bent)
        request_id = bend("id", pool["requests"][which], _known("requests", pool))
        key = bend("key", pool["keys"][which], _keys(pool))
        cookie = pool["cookie_of"].get(pool["requests"][which])
        honest_form, honest_cookies = urlencode({"key": key}), []
        if try_again and cookie:  # the result page's button: no key, the binding cookie
            honest_form, honest_cookies = "", [cookie]
        sent = _browser_headers(
            bend("headers", {}, headers),
            bend("origin", ORIGIN, origins),
            bend("fetch_site", "same-origin", fetch_sites),
            bend("content_type", FORM, content_types),
        )
        event = _event(
            "POST",
            f"/reauth/link/{request_id}",
            bend("form", honest_form, forms),
            sent,
            None,
            "base64" in bent,
            bend("cookies", honest_cookies, _cookies(pool)),
        )
        effects.start()
        answer = functions.callback.handler(event, LambdaContext())
        assert_browser_answer(answer, {200, 400, 410, 429})
        cookie_set = header(answer, "set-cookie")
        if answer["statusCode"] == 200 and cookie_set:
            assert cookie_set.startswith("reauth_binding=")
            bound = read_binding([cookie_set.split(";", 1)[0]]).request_ids
            assert bound[0] == request_id.lower()
            for attribute in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/v1/reauth/"):
                assert attribute in cookie_set
            page = answer["body"]
            assert 'http-equiv="refresh"' in page or 'id="reauth-config"' in page
        else:
            effects.assert_none(answer)
        _count(outcomes, answer, bool(cookie_set))

    start()


def test_the_plaid_pages_report_is_honoured_only_with_its_binding_and_csrf(
    functions, pool, effects, tried, outcomes
):
    """POST of link/complete: any JSON, CSRF header, content type, origin and cookies."""
    completions = st.one_of(
        st.sampled_from(
            [
                {"outcome": "success"},
                {"outcome": "error", "error": "USER_CANCELLED"},
                {"outcome": "error", "error": "TEMPORARY_ERROR"},
                {"outcome": "error", "error": "AUTHENTICATION_ERROR"},
                {"outcome": "error"},
                {"outcome": "success", "error": "USER_CANCELLED"},
            ]
        ),
        st.fixed_dictionaries(
            {},
            optional={
                "outcome": st.sampled_from(["success", "error"]) | json_values,
                "error": st.sampled_from(["USER_CANCELLED", "INVALID_LINK_TOKEN"]) | json_values,
                "token": json_values,
            },
        ),
        json_values,
    ).map(json.dumps)
    honest_bodies = st.sampled_from(
        [
            {"outcome": "success"},
            {"outcome": "error", "error": "USER_CANCELLED"},
            {"outcome": "error", "error": "AUTHENTICATION_ERROR"},
        ]
    ).map(json.dumps)
    plaid_request = pool["requests"][1]

    @PROPERTY
    @given(
        data=st.data(),
        bent=_bends(
            "id",
            "body",
            "csrf",
            "content_type",
            "origin",
            "fetch_site",
            "headers",
            "cookies",
            "base64",
        ),
        honest_body=honest_bodies,
    )
    def complete(data, bent, honest_body):
        tried.append(1)
        bend = Bender(data, bent)
        request_id = bend("id", plaid_request, _known("requests", pool))
        csrf = bend("csrf", pool["csrf"], st.none() | well_formed_tokens | weird_text)
        sent = _browser_headers(
            bend("headers", {}, headers),
            bend("origin", ORIGIN, origins),
            bend("fetch_site", "same-origin", fetch_sites),
            bend("content_type", "application/json", content_types),
            csrf,
        )
        event = _event(
            "POST",
            f"/reauth/link/{request_id}/complete",
            bend("body", honest_body, completions | bodies()),
            sent,
            None,
            "base64" in bent,
            bend("cookies", [pool["cookie_of"][plaid_request]], _cookies(pool)),
        )
        effects.start()
        answer = functions.callback.handler(event, LambdaContext())
        assert_browser_answer(answer, {200, 400})
        if answer["statusCode"] == 200:
            assert sent.get("X-Reauth-CSRF") == pool["csrf"]  # only its page knows it
        else:
            effects.assert_none(answer)
        _count(outcomes, answer, answer["statusCode"] == 200)

    complete()


def test_callback_answers_a_redirect_home_or_the_generic_page(
    functions, pool, effects, tried, outcomes
):
    """Dwolla's redirect back: any query, cookies and headers."""
    errors = st.sampled_from(["USER_CANCELLED", "AUTHENTICATION_ERROR", "TEMPORARY_ERROR"])

    @PROPERTY
    @given(
        data=st.data(),
        bent=_bends("query", "cookies", "headers"),
        which=st.integers(0, 2),
        honest_query=st.sampled_from(["exchange", "error"]),
    )
    def callback(data, bent, which, honest_query):
        tried.append(1)
        bend = Bender(data, bent)
        if honest_query == "exchange":
            honest = {"exchange": [pool["exchanges"][which]]}
        else:
            honest = {"error": [data.draw(errors)]}
        hostile_queries = (
            queries
            | _known("exchanges", pool).map(lambda e: {"exchange": [e]})
            | (errors | weird_text).map(lambda e: {"error": [e]})
            | st.none()
        )
        event = _event(
            "GET",
            "/reauth/callback",
            None,
            bend("headers", {}, headers),
            bend("query", honest, hostile_queries),
            False,
            bend("cookies", [pool["cookie_of"][pool["requests"][which]]], _cookies(pool)),
        )
        effects.start()
        answer = functions.callback.handler(event, LambdaContext())
        assert_browser_answer(answer, {303, 400})
        if answer["statusCode"] != 303:
            effects.assert_none(answer)
        _count(outcomes, answer, answer["statusCode"] == 303)

    callback()


def test_result_page_answers_the_outcome_or_the_generic_page(functions, pool, effects, tried):
    @PROPERTY
    @given(
        query=queries
        | st.fixed_dictionaries(
            {
                "status": st.sampled_from(["reauthorized", "verifying", "attempt_failed"])
                | weird_text,
            },
            optional={
                "session": _known("requests", pool),
                "reason": st.sampled_from(
                    ["USER_CANCELLED", "AUTHENTICATION_ERROR", "NOT_REPAIRED"]
                )
                | weird_text,
                "recoverable": st.sampled_from(["true", "false"]) | weird_text,
            },
        ).map(lambda q: {k: [v] for k, v in q.items()}),
        cookies=_cookies(pool),
    )
    def done(query, cookies):
        tried.append(1)
        event = _event("GET", "/reauth/done", None, {}, query, False, cookies)
        effects.start()
        answer = functions.callback.handler(event, LambdaContext())
        assert_browser_answer(answer, {200, 400})
        effects.assert_none(answer)

    done()


def test_webhooks_answer_an_outcome_or_the_json_error_shape(functions, pool, effects, tried):
    payloads = (
        json_values.map(json.dumps)
        | st.fixed_dictionaries(
            {"id": st.uuids().map(str) | json_values},
            optional={
                "topic": st.sampled_from(["customer_exchange_reauth_required"]) | json_values,
                "created": st.sampled_from(
                    [iso(utcnow()), "2020-01-01T00:00:00.000Z", iso(utcnow())[:19], "yesterday"]
                )
                | json_values,
                "_links": json_values
                | st.fixed_dictionaries(
                    {},
                    optional={
                        "resource": _known("exchanges", pool).map(
                            lambda e: {"href": f"https://api.dwolla.com/exchanges/{e}"}
                        )
                        | json_values,
                        "customer": json_values,
                    },
                ),
            },
        ).map(json.dumps)
        | weird_text
    )

    @PROPERTY
    @given(
        raw=payloads,
        signed=st.sampled_from(["right", "wrong", "missing", "upper", "junk"]),
        junk=st.text(min_size=1, max_size=70),
    )
    def deliver(raw, signed, junk):
        tried.append(1)
        signature = sign(raw)
        headers_ = {"Content-Type": "application/json"}
        if signed != "missing":
            headers_["X-Request-Signature-SHA-256"] = {
                "right": signature,
                "upper": signature.upper(),
                "wrong": hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
                "junk": junk,
            }[signed]
        event = rest_event("POST", "/webhooks/dwolla", headers=headers_)
        event["body"] = raw
        effects.start()
        raw_answer = functions.callback.handler(event, LambdaContext())
        answer = assert_api_answer(raw_answer, {200})
        if signed in ("wrong", "missing", "junk"):
            assert answer["code"] == "InvalidSignature"
        if raw_answer["statusCode"] >= 400 or answer["outcome"] in (
            "duplicate",
            "ignored",
            "stale",
        ):
            effects.assert_none(raw_answer)
        else:
            assert answer["outcome"] == "recorded"

    deliver()


def test_the_pool_is_what_the_properties_think_it_is(pool, api, functions):
    """The known values hit: each request's own link opens, the bound browser's cookies are
    honoured (the properties' success branches are reachable)."""
    states = [api.session(r)[1]["status"] for r in pool["requests"]]
    assert states == ["pending", "pending", "reauthorized", "superseded"]
    assert len(pool["cookies"]) == 1  # one binding cookie, naming the three started
    for request_id, key in zip(pool["requests"], pool["keys"], strict=True):
        event = rest_event("GET", f"/reauth/link/{request_id}", query={"key": key})
        assert functions.callback.handler(event, LambdaContext())["statusCode"] in (200, 410)
    event = rest_event(
        "GET",
        "/reauth/callback",
        query={"error": "USER_CANCELLED"},
        cookies=[pool["cookies"][0]],
    )
    assert functions.callback.handler(event, LambdaContext())["statusCode"] == 303
