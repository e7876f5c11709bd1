"""Property-based tests (hypothesis) over every entry point's inputs.

Whatever arrives (path ids, bodies, headers, query strings, cookies, events, webhooks), the
functions never answer 5xx or raise: API callers get either a success or the JSON error shape
`{"code", "message", "requestId"}` with a documented code (errors.ErrorCode) and its status;
browsers get a redirect, the return page or the one generic refusal page.

Deterministic for CI: derandomize=True, no example database. EXAMPLES per property is the figure.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reauth import web
from reauth.errors import ErrorCode
from tests.conftest import OTHER_RETURN_URL, PUBLIC_BASE_URL, RETURN_URL, WEBHOOK_SECRET
from tests.support.apigw import LambdaContext, eventbridge_event, rest_event
from tests.support.flow import header

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
REFUSED_BODY = web.refused_page().body


# ---- strategies ----------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
weird_text = st.text(max_size=80) | st.sampled_from(
    ["", " ", "null", "{}", "[]", "..", "%00", "\x00", "\r\n", "a" * 300, "\u202e", "' OR 1=1 --"]
)
ids = st.uuids().map(str) | weird_text | st.uuids().map(lambda u: str(u).upper())


def bodies(field_values=json_values):
    """Request bodies: absent, text, JSON of any shape, objects with the fields a route reads."""
    objects = st.fixed_dictionaries(
        {},
        optional={
            "customerId": st.uuids().map(str) | field_values,
            "returnUrl": st.sampled_from([RETURN_URL, OTHER_RETURN_URL]) | field_values,
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
        ["Content-Type", "content-type", "Idempotency-Key", "Cookie", "X-Request-Signature-SHA-256"]
    )
    | st.text(min_size=1, max_size=20),
    st.sampled_from(["application/json", "text/plain", "application/json; charset=utf-8"])
    | weird_text,
    max_size=4,
)
queries = st.dictionaries(
    st.sampled_from(["key", "exchange", "error", "status", "session"]) | st.text(max_size=10),
    st.lists(weird_text | st.uuids().map(str), min_size=1, max_size=3),
    max_size=4,
)


def _event(method, path, body, headers_, query=None, base64_body=False):
    event = rest_event(method, path, headers=headers_, query=query)
    if body is not None and base64_body:
        event["body"] = base64.b64encode(body.encode("utf-8", "surrogatepass")).decode()
        event["isBase64Encoded"] = True
    else:
        event["body"] = body
    return event


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


def assert_browser_answer(answer: dict, allowed_locations: tuple[str, ...]) -> None:
    status = answer["statusCode"]
    assert status in (200, 302, 400), (status, answer["body"])
    if status == 400:
        assert answer["body"] == REFUSED_BODY
    if status == 302:
        where = header(answer, "location")
        assert where.startswith(allowed_locations), where


@pytest.fixture
def pool(functions, api, dwolla):
    """Real exchanges and sessions, so that some generated ids hit something."""
    mx, plaid = dwolla.seed_exchange("mx"), dwolla.seed_exchange("plaid")
    _, redirect_session, _ = api.create(mx["id"], {"returnUrl": RETURN_URL})
    _, token_session, _ = api.create(plaid["id"])
    return {
        "exchanges": [mx["id"], plaid["id"]],
        "sessions": [redirect_session["id"], token_session["id"]],
        "start_key": redirect_session["startUrl"].split("key=", 1)[1],
        "provider": dwolla.base_url,
    }


@pytest.fixture
def tried():
    """Counts the examples a property ran; at least EXAMPLES must have run (the figure)."""
    calls: list[int] = []
    yield calls
    assert len(calls) >= EXAMPLES, f"only {len(calls)} examples ran"


def _known(kind: str, pool: dict):
    return st.sampled_from(pool[kind]) | ids


# ---- ApiFunction ----------
def test_create_never_fails_badly(functions, pool, tried):
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
        answer = assert_api_answer(functions.api.handler(event, LambdaContext()), {200, 201})
        if "id" in answer:
            assert answer["status"] == "pending"

    create()


@pytest.mark.parametrize(
    ("method", "template", "kind", "success"),
    [
        ("GET", "/reauth-sessions/{}", "sessions", {200}),
        ("POST", "/reauth-sessions/{}/complete", "sessions", {200}),
        ("GET", "/exchanges/{}/reauth-status", "exchanges", {200}),
    ],
    ids=["get-session", "complete", "exchange-status"],
)
def test_session_and_status_routes_never_fail_badly(
    functions, pool, method, template, kind, success, tried
):
    @PROPERTY
    @given(id_=_known(kind, pool), body=bodies(), headers_=headers, base64_body=st.booleans())
    def call(id_, body, headers_, base64_body):
        tried.append(1)
        event = _event(method, template.format(id_), body, headers_, None, base64_body)
        assert_api_answer(functions.api.handler(event, LambdaContext()), success)

    call()


def test_unknown_routes_and_methods_answer_the_json_error_shape(functions, tried):
    @PROPERTY
    @given(
        method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
        path=st.text(max_size=60).map(lambda p: "/" + p.lstrip("/")),
        body=bodies(),
    )
    def call(method, path, body):
        tried.append(1)
        event = _event(method, path, body, {})
        answer = functions.api.handler(event, LambdaContext())
        assert answer["statusCode"] < 500
        body_ = json.loads(answer["body"])
        if answer["statusCode"] >= 400:
            assert body_["code"] in STATUS_OF

    call()


def test_eventbridge_requests_are_created_or_refused_with_a_documented_code(functions, pool, tried):
    detail_types = st.sampled_from(
        ["Exchange Reauth Requested", "Dwolla UpdateCredentials"]
    ) | st.text(max_size=30)
    details = json_values | st.fixed_dictionaries(
        {},
        optional={
            "exchangeId": _known("exchanges", pool) | json_values,
            "customerId": st.uuids().map(str) | json_values,
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
        result = functions.api.handler(event, LambdaContext())
        if "refused" in result:
            assert STATUS_OF[result["refused"]] < 500
        else:
            assert set(result) == {"sessionId", "replayed"}

    deliver()


# ---- CallbackFunction ----------
def test_start_link_answers_a_redirect_to_the_bank_or_the_generic_page(functions, pool, tried):
    keys = st.sampled_from([pool["start_key"]]) | weird_text

    @PROPERTY
    @given(
        session_id=_known("sessions", pool),
        query=queries | keys.map(lambda k: {"key": [k]}),
        headers_=headers,
    )
    def start(session_id, query, headers_):
        tried.append(1)
        event = rest_event(
            "GET", f"/reauth-sessions/{session_id}/start", query=query, headers=headers_
        )
        assert_browser_answer(
            functions.callback.handler(event, LambdaContext()), (pool["provider"],)
        )

    start()


def test_callback_answers_a_redirect_home_or_the_generic_page(functions, pool, tried):
    cookies = st.lists(
        weird_text.map(lambda v: f"reauth_binding={v}")
        | _known("sessions", pool).flatmap(
            lambda s: weird_text.map(lambda t: f"reauth_binding={s}.{t}")
        )
        | weird_text,
        max_size=3,
    )

    @PROPERTY
    @given(
        query=queries
        | _known("exchanges", pool).map(lambda e: {"exchange": [e]})
        | weird_text.map(lambda e: {"error": [e]}),
        cookies_=cookies,
    )
    def callback(query, cookies_):
        tried.append(1)
        event = rest_event("GET", "/reauth/callback", query=query, cookies=cookies_ or None)
        assert_browser_answer(
            functions.callback.handler(event, LambdaContext()),
            (RETURN_URL, OTHER_RETURN_URL, f"{PUBLIC_BASE_URL}/reauth/done"),
        )

    callback()


def test_return_page_answers_the_outcome_or_the_generic_page(functions, tried):
    @PROPERTY
    @given(query=queries)
    def done(query):
        tried.append(1)
        event = rest_event("GET", "/reauth/done", query=query)
        answer = functions.callback.handler(event, LambdaContext())
        assert_browser_answer(answer, ())
        assert answer["statusCode"] != 302

    done()


def test_webhooks_answer_an_outcome_or_the_json_error_shape(functions, pool, tried):
    payloads = (
        json_values.map(json.dumps)
        | st.fixed_dictionaries(
            {"id": st.uuids().map(str) | json_values},
            optional={
                "topic": st.sampled_from(["customer_exchange_reauth_required"]) | json_values,
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
        signature = hmac.new(WEBHOOK_SECRET.encode(), raw.encode(), hashlib.sha256).hexdigest()
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
        answer = assert_api_answer(functions.callback.handler(event, LambdaContext()), {200})
        if signed in ("wrong", "missing", "junk"):
            assert answer["code"] == "InvalidSignature"
        elif answer.get("outcome"):
            assert answer["outcome"] in ("recorded", "duplicate", "ignored")

    deliver()
