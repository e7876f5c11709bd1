"""Hostile input: forged callbacks, abused start links, open-redirect attempts, bad allow-lists.

Every refusal must change nothing (the table is byte-for-byte the same, no event is published,
no cookie is set) and say nothing: browsers get the one generic page, API callers the JSON error
shape with a documented code. The case tables are module-level; their lengths are the figures.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid

import pytest

from reauth import web
from reauth.config import Config, ConfigError
from tests.conftest import CALLBACK_URL, OTHER_RETURN_URL, RETURN_URL, WEBHOOK_SECRET
from tests.support.apigw import LambdaContext, eventbridge_event, query_of, rest_event
from tests.support.flow import Browser, header, location

REFUSED_BODY = web.refused_page().body


# ---- the scene: two customers mid-flow ----------
class Scene:
    """Customer A and customer B, each with a redirect session bound to their own browser and
    back from the bank (Dwolla's exchange active), the callback URL in hand."""

    def __init__(self, functions, api, dwolla, published) -> None:
        self.functions, self.api, self.dwolla, self.published = functions, api, dwolla, published
        self.a = self._customer()
        self.b = self._customer()
        published()

    def _customer(self) -> dict:
        exchange = self.dwolla.seed_exchange("mx")
        _, session, _ = self.api.create(exchange["id"], {"returnUrl": RETURN_URL})
        browser = Browser(self.functions.callback)
        started = browser.get(session["startUrl"])
        back = browser.visit_bank(location(started))
        (cookie,) = browser.cookies
        session_id, token = cookie.split("=", 1)[1].split(".", 1)
        assert session_id == session["id"]
        return {
            "exchange": exchange["id"],
            "session": session,
            "browser": browser,
            "cookie": cookie,
            "token": token,
            "back": query_of(back),
        }

    def callback(self, cookies: list[str] | None, query: dict | None) -> dict:
        event = rest_event("GET", "/reauth/callback", query=query, cookies=cookies or None)
        return self.functions.callback.handler(event, LambdaContext())

    def start(self, session_id: str, query: dict | None) -> dict:
        event = rest_event("GET", f"/reauth-sessions/{session_id}/start", query=query)
        return self.functions.callback.handler(event, LambdaContext())

    def table(self) -> list[str]:
        db = self.functions.session.client("dynamodb")
        items = db.scan(TableName=self.functions.resources.table_name)["Items"]
        return sorted(json.dumps(item, sort_keys=True) for item in items)


@pytest.fixture
def scene(functions, api, dwolla, published) -> Scene:
    return Scene(functions, api, dwolla, published)


def assert_refused_and_nothing_changed(scene: Scene, answer: dict, before: list[str]) -> None:
    assert answer["statusCode"] == 400
    assert answer["body"] == REFUSED_BODY  # generic: no reason, no echo of the input
    assert header(answer, "set-cookie") is None
    assert header(answer, "cache-control") == "no-store"
    assert header(answer, "location") is None
    assert scene.table() == before
    assert scene.published() == []


def _binding(session_id: str, token: str) -> str:
    return f"reauth_binding={session_id}.{token}"


def _flip(token: str) -> str:
    return token[:-1] + ("A" if token[-1] != "A" else "B")


# ---- callback forgery ----------
# (case id, how to build (cookies, query) from the scene)
FORGED_CALLBACKS = [
    ("no-cookie", lambda s: ([], s.a["back"])),
    ("cookie-of-another-session", lambda s: ([s.b["cookie"]], s.a["back"])),
    ("session-id-swapped", lambda s: ([_binding(s.a["session"]["id"], s.b["token"])], s.a["back"])),
    ("token-one-char-tampered", lambda s: ([_flip(s.a["cookie"])], s.a["back"])),
    ("token-truncated", lambda s: ([s.a["cookie"][:-24]], s.a["back"])),
    ("token-extended", lambda s: ([s.a["cookie"] + "A" * 100], s.a["back"])),
    ("token-bad-alphabet", lambda s: ([s.a["cookie"][:-3] + "%2F"], s.a["back"])),
    ("no-dot", lambda s: ([s.a["cookie"].replace(".", "")], s.a["back"])),
    ("session-not-uuid", lambda s: ([_binding("abc", s.a["token"])], s.a["back"])),
    ("unknown-session", lambda s: ([_binding(str(uuid.uuid4()), s.a["token"])], s.a["back"])),
    ("two-binding-cookies", lambda s: ([s.a["cookie"], s.b["cookie"]], s.a["back"])),
    ("same-cookie-twice", lambda s: ([f"{s.a['cookie']}; {s.a['cookie']}"], s.a["back"])),
    (
        "cookie-name-case",
        lambda s: (["REAUTH_BINDING=" + s.a["cookie"].split("=", 1)[1]], s.a["back"]),
    ),
    ("cookie-name-prefix", lambda s: (["x" + s.a["cookie"]], s.a["back"])),
    ("empty-cookie", lambda s: (["reauth_binding="], s.a["back"])),
    ("unicode-cookie", lambda s: (["reauth_binding=\u00e9\u2028.\u0000"], s.a["back"])),
    ("exchange-of-another-customer", lambda s: ([s.a["cookie"]], s.b["back"])),
    ("exchange-random", lambda s: ([s.a["cookie"]], {"exchange": [str(uuid.uuid4())]})),
    ("exchange-not-uuid", lambda s: ([s.a["cookie"]], {"exchange": ["abc"]})),
    ("exchange-script", lambda s: ([s.a["cookie"]], {"exchange": ["<script>alert(1)</script>"]})),
    ("exchange-nul", lambda s: ([s.a["cookie"]], {"exchange": [s.a["exchange"] + "\x00"]})),
    ("exchange-twice", lambda s: ([s.a["cookie"]], {"exchange": [s.a["exchange"]] * 2})),
    (
        "exchange-and-error",
        lambda s: ([s.a["cookie"]], {**s.a["back"], "error": ["USER_CANCELLED"]}),
    ),
    ("no-query", lambda s: ([s.a["cookie"]], None)),
    ("empty-exchange", lambda s: ([s.a["cookie"]], {"exchange": [""]})),
    ("error-unknown", lambda s: ([s.a["cookie"]], {"error": ["access_denied"]})),
    ("error-empty", lambda s: ([s.a["cookie"]], {"error": [""]})),
    ("error-lowercase", lambda s: ([s.a["cookie"]], {"error": ["user_cancelled"]})),
    ("error-padded", lambda s: ([s.a["cookie"]], {"error": ["USER_CANCELLED "]})),
    ("error-newline", lambda s: ([s.a["cookie"]], {"error": ["USER_CANCELLED\r\nX: y"]})),
    ("error-fullwidth", lambda s: ([s.a["cookie"]], {"error": ["\uff35SER_CANCELLED"]})),
    ("error-twice", lambda s: ([s.a["cookie"]], {"error": ["USER_CANCELLED", "TEMPORARY_ERROR"]})),
    ("error-oversized", lambda s: ([s.a["cookie"]], {"error": ["USER_CANCELLED" * 300]})),
    ("exchange-oversized", lambda s: ([s.a["cookie"]], {"exchange": [s.a["exchange"] * 300]})),
    ("many-params", lambda s: ([s.a["cookie"]], {f"p{i}": ["x" * 100] for i in range(500)})),
    ("oversized-cookie-header", lambda s: (["junk=" + "x" * 8000], s.a["back"])),
]


@pytest.mark.parametrize(
    "forge", [case[1] for case in FORGED_CALLBACKS], ids=[case[0] for case in FORGED_CALLBACKS]
)
def test_forged_callback_changes_nothing_and_says_nothing(scene, forge):
    cookies, query = forge(scene)
    before = scene.table()

    answer = scene.callback(cookies, query)

    assert_refused_and_nothing_changed(scene, answer, before)
    # The real customer is unaffected: their own callback still completes.
    landed = scene.callback([scene.a["cookie"]], scene.a["back"])
    assert landed["statusCode"] == 302
    assert location(landed).startswith(f"{RETURN_URL}?status=reauthorized")


# (case id, what happens first, what the attacker then sends)
AFTER_THE_FACT = [
    ("replay-other-outcome-after-success", "complete", {"error": ["USER_CANCELLED"]}),
    ("replay-other-exchange-after-success", "complete", "exchange-of-b"),
    ("expired-session", "expire", "own"),
    ("superseded-session", "supersede", "own"),
    ("expired-session-error", "expire", {"error": ["USER_CANCELLED"]}),
    ("superseded-session-error", "supersede", {"error": ["TEMPORARY_ERROR"]}),
]


@pytest.mark.parametrize(
    ("first", "query"),
    [case[1:] for case in AFTER_THE_FACT],
    ids=[case[0] for case in AFTER_THE_FACT],
)
def test_callback_for_a_session_that_is_over_changes_nothing(scene, clock, first, query):
    if first == "complete":
        assert scene.callback([scene.a["cookie"]], scene.a["back"])["statusCode"] == 302
    elif first == "expire":
        clock.advance(minutes=31)
    else:
        scene.api.create(scene.a["exchange"])
    scene.published()
    if isinstance(query, str):
        query = {"own": scene.a["back"], "exchange-of-b": scene.b["back"]}[query]
    before = scene.table()

    answer = scene.callback([scene.a["cookie"]], query)

    assert_refused_and_nothing_changed(scene, answer, before)


def test_a_reload_after_completion_repeats_the_answer_and_changes_nothing(scene):
    first = scene.callback([scene.a["cookie"]], scene.a["back"])
    scene.published()
    before = scene.table()

    again = scene.callback([scene.a["cookie"]], scene.a["back"])

    assert location(again) == location(first)
    assert scene.table() == before
    assert scene.published() == []


# ---- the start link ----------
def _start_key(session: dict) -> str:
    return query_of(session["startUrl"])["key"][0]


# (case id, what happens first, how to build (session id, query))
ABUSED_START_LINKS = [
    ("wrong-key", None, lambda s, n: (n["id"], {"key": ["A" * 43]})),
    ("key-one-char-off", None, lambda s, n: (n["id"], {"key": [_flip(_start_key(n))]})),
    ("key-of-another-session", None, lambda s, n: (n["id"], {"key": [_start_key(s.a["session"])]})),
    ("missing-key", None, lambda s, n: (n["id"], None)),
    ("empty-key", None, lambda s, n: (n["id"], {"key": [""]})),
    ("two-keys", None, lambda s, n: (n["id"], {"key": [_start_key(n)] * 2})),
    ("oversized-key", None, lambda s, n: (n["id"], {"key": [_start_key(n) * 50]})),
    ("key-bad-alphabet", None, lambda s, n: (n["id"], {"key": [_start_key(n)[:-1] + "/"]})),
    ("session-not-uuid", None, lambda s, n: ("not-a-uuid", {"key": [_start_key(n)]})),
    ("unknown-session", None, lambda s, n: (str(uuid.uuid4()), {"key": [_start_key(n)]})),
    ("session-of-another-key", None, lambda s, n: (s.a["session"]["id"], {"key": [_start_key(n)]})),
    ("reused-key", "use", lambda s, n: (n["id"], {"key": [_start_key(n)]})),
    ("expired-session", "expire", lambda s, n: (n["id"], {"key": [_start_key(n)]})),
    ("superseded-session", "supersede", lambda s, n: (n["id"], {"key": [_start_key(n)]})),
    ("rotated-by-replay", "replay", lambda s, n: (n["id"], {"key": [_start_key(n)]})),
]


@pytest.mark.parametrize(
    ("first", "link"),
    [case[1:] for case in ABUSED_START_LINKS],
    ids=[case[0] for case in ABUSED_START_LINKS],
)
def test_abused_start_link_changes_nothing(scene, clock, first, link):
    exchange = scene.dwolla.seed_exchange("mx")
    key = {"Idempotency-Key": "start-link-case"}
    _, fresh, _ = scene.api.create(exchange["id"], None, key)
    if first == "use":
        assert Browser(scene.functions.callback).get(fresh["startUrl"])["statusCode"] == 302
    elif first == "expire":
        clock.advance(minutes=31)
    elif first == "supersede":
        scene.api.create(exchange["id"])
    elif first == "replay":
        scene.api.create(exchange["id"], None, key)  # hands out a new link, retires this one
    scene.published()
    session_id, query = link(scene, fresh)
    before = scene.table()

    answer = scene.start(session_id, query)

    assert_refused_and_nothing_changed(scene, answer, before)


def test_token_handoff_sessions_have_no_start_link(scene):
    exchange = scene.dwolla.seed_exchange("plaid")
    _, session, _ = scene.api.create(exchange["id"])
    scene.published()
    before = scene.table()

    answer = scene.start(session["id"], {"key": ["A" * 43]})

    assert session["startUrl"] is None
    assert_refused_and_nothing_changed(scene, answer, before)


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
    db = functions.session.client("dynamodb")
    assert db.scan(TableName=functions.resources.table_name)["Items"] == []
    assert published() == []


@pytest.mark.parametrize("allowed", [RETURN_URL, OTHER_RETURN_URL])
def test_an_allowed_return_url_is_where_the_customer_lands_exactly(scene, allowed):
    exchange = scene.dwolla.seed_exchange("mx")
    _, session, _ = scene.api.create(exchange["id"], {"returnUrl": allowed})
    browser = Browser(scene.functions.callback)
    back = browser.visit_bank(location(browser.get(session["startUrl"])))

    landed = browser.get(back)

    separator = "&" if "?" in allowed else "?"
    expected = f"{allowed}{separator}status=reauthorized&session={session['id']}"
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
def _webhook_body(exchange_id: str) -> str:
    return json.dumps(
        {
            "id": str(uuid.uuid4()),
            "topic": "customer_exchange_reauth_required",
            "_links": {"resource": {"href": f"https://api.dwolla.com/exchanges/{exchange_id}"}},
        }
    )


def _sign(raw: str, secret: str = WEBHOOK_SECRET) -> str:
    return hmac.new(secret.encode(), raw.encode(), hashlib.sha256).hexdigest()


# (case id, how to build (body sent, headers) from the body Dwolla signed)
FORGED_WEBHOOKS = [
    ("no-signature", lambda raw: (raw, {})),
    ("empty-signature", lambda raw: (raw, {"X-Request-Signature-SHA-256": ""})),
    ("blank-signature", lambda raw: (raw, {"X-Request-Signature-SHA-256": "   "})),
    ("non-hex-signature", lambda raw: (raw, {"X-Request-Signature-SHA-256": "zz" * 32})),
    (
        "prefixed-signature",
        lambda raw: (raw, {"X-Request-Signature-SHA-256": "sha256=" + _sign(raw)}),
    ),
    ("truncated-signature", lambda raw: (raw, {"X-Request-Signature-SHA-256": _sign(raw)[:32]})),
    ("extended-signature", lambda raw: (raw, {"X-Request-Signature-SHA-256": _sign(raw) + "00"})),
    (
        "base64-signature",
        lambda raw: (
            raw,
            {"X-Request-Signature-SHA-256": base64.b64encode(bytes.fromhex(_sign(raw))).decode()},
        ),
    ),
    ("other-secret", lambda raw: (raw, {"X-Request-Signature-SHA-256": _sign(raw, "guess")})),
    ("empty-body-signature", lambda raw: (raw, {"X-Request-Signature-SHA-256": _sign("")})),
    ("other-header", lambda raw: (raw, {"X-Request-Signature": _sign(raw)})),
    (
        "body-tampered-after-signing",
        lambda raw: (
            raw.replace("exchanges/", "exchanges/0"),
            {"X-Request-Signature-SHA-256": _sign(raw)},
        ),
    ),
    (
        "exchange-swapped-after-signing",
        lambda raw: (_webhook_body(str(uuid.uuid4())), {"X-Request-Signature-SHA-256": _sign(raw)}),
    ),
    ("whitespace-appended", lambda raw: (raw + " ", {"X-Request-Signature-SHA-256": _sign(raw)})),
    (
        "re-serialized",
        lambda raw: (
            json.dumps(json.loads(raw), indent=1),
            {"X-Request-Signature-SHA-256": _sign(raw)},
        ),
    ),
    ("unicode-signature", lambda raw: (raw, {"X-Request-Signature-SHA-256": "\u0661" * 64})),
]


@pytest.mark.parametrize(
    "forge", [case[1] for case in FORGED_WEBHOOKS], ids=[case[0] for case in FORGED_WEBHOOKS]
)
def test_forged_webhook_is_401_and_changes_nothing(functions, published, forge):
    exchange_id = str(uuid.uuid4())
    body, headers = forge(_webhook_body(exchange_id))
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
    db = functions.session.client("dynamodb")
    assert db.scan(TableName=functions.resources.table_name)["Items"] == []
    assert published() == []


def test_a_redelivered_webhook_is_acknowledged_once(functions, published):
    raw = _webhook_body(str(uuid.uuid4()))
    event = rest_event(
        "POST",
        "/webhooks/dwolla",
        body=raw,
        headers={"Content-Type": "application/json", "X-Request-Signature-SHA-256": _sign(raw)},
    )
    outcomes = [
        json.loads(functions.callback.handler(event, LambdaContext())["body"]) for _ in range(3)
    ]
    assert outcomes == [{"outcome": "recorded"}] + [{"outcome": "duplicate"}] * 2
    assert [e["detail-type"] for e in published()] == ["Exchange Reauth Required"]
