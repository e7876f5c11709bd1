"""Secrets never leave: the whole flow and every error path, logging at DEBUG everywhere.

The functions run as Lambda runs them at its most verbose: the root logger at DEBUG (what
ApplicationLogLevel=DEBUG does) and Powertools at DEBUG (LOG_LEVEL). Every log record emitted
while a handler runs is kept, formatted as CloudWatch would get it plus everything the record
carries (message, arguments, extras, traceback). Then nothing of the following may appear:

  anywhere (logs, stdout, events, answers, raised exceptions)
      the Dwolla key, secret, their Basic encoding, the webhook secret, every access token the
      Dwolla sandbox issued, every browser binding token (except in the Set-Cookie that sets it)
  in logs, events, error answers and raised exceptions
      start keys (they belong in the create answer and, by design, in the "Reauth Session
      Created" event's startUrl, the platform's only way to get one for an event-made session)
      and Plaid Link tokens (they belong in the create and read answers)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import traceback
import uuid

import pytest

from tests.conftest import DWOLLA_KEY, DWOLLA_SECRET, RETURN_URL, WEBHOOK_SECRET
from tests.support.apigw import LambdaContext, eventbridge_event, query_of, rest_event
from tests.support.flow import Browser, header, location

ALWAYS_SECRET = {
    "dwolla key": DWOLLA_KEY,
    "dwolla secret": DWOLLA_SECRET,
    "basic credentials": base64.b64encode(f"{DWOLLA_KEY}:{DWOLLA_SECRET}".encode()).decode(),
    "webhook secret": WEBHOOK_SECRET,
}
WRONG_KEY, WRONG_SECRET = "wrong-key-31f0c2", "wrong-secret-8be77d91"
IGNORED_LOGGERS = ("moto", "local", "tests")  # the test's own infrastructure, not the service


class Capture(logging.Handler):
    """Every record emitted while a handler runs, as CloudWatch gets it and in full."""

    def __init__(self, formatter) -> None:
        super().__init__(level=logging.DEBUG)
        self.active = False
        self.texts: list[str] = []
        self.records = 0
        self._powertools = formatter

    def emit(self, record: logging.LogRecord) -> None:
        if not self.active or record.name.startswith(IGNORED_LOGGERS):
            return
        self.records += 1
        parts = [record.getMessage(), repr(record.args), repr(record.__dict__)]
        try:
            parts.append(self._powertools.format(record))
        except Exception:  # a record Powertools cannot format is still kept in full above
            parts.append(logging.Formatter().format(record))
        if record.exc_info:
            parts.append("".join(traceback.format_exception(*record.exc_info)))
        self.texts.append("\n".join(parts))


class Kit:
    """Drives both functions, keeps every answer, event and exception, and the secrets handed
    out on the way (start keys, binding tokens, Plaid tokens)."""

    def __init__(self, functions, dwolla, sandbox, published, capture) -> None:
        self.functions, self.dwolla, self.sandbox = functions, dwolla, sandbox
        self._published, self.capture = published, capture
        self.answers: list[dict] = []
        self.raised: list[str] = []
        self.events: list[dict] = []
        self.start_keys: set[str] = set()
        self.binding_tokens: set[str] = set()
        self.plaid_tokens: set[str] = set()

    # -- calling the functions --
    def invoke(self, module, event: dict):
        self.capture.active = True
        try:
            answer = module.handler(event, LambdaContext())
        except Exception as exc:
            self.raised.append("".join(traceback.format_exception(exc)))
            raise
        finally:
            self.capture.active = False
        if isinstance(answer, dict) and "statusCode" in answer:
            self.answers.append(answer)
            self._harvest(answer)
        return answer

    def api(self, method: str, path: str, body=None, headers=None) -> tuple[int, dict]:
        answer = self.invoke(
            self.functions.api, rest_event(method, path, body=body, headers=headers)
        )
        return answer["statusCode"], json.loads(answer["body"])

    def create(self, exchange_id: str, body=None, key: str | None = None):
        headers = {"Idempotency-Key": key} if key else None
        return self.api("POST", f"/exchanges/{exchange_id}/reauth-sessions", body, headers)

    def browser(self) -> Browser:
        kit = self

        class Watched(Browser):
            def get(self, url: str) -> dict:
                kit.capture.active = True
                try:
                    answer = super().get(url)
                finally:
                    kit.capture.active = False
                kit.answers.append(answer)
                kit._harvest(answer)
                return answer

        return Watched(self.functions.callback)

    def event(self, detail_type: str, detail: dict, event_id: str | None = None):
        return self.invoke(
            self.functions.api, eventbridge_event(detail_type, detail, event_id=event_id)
        )

    def webhook(self, raw: str, secret: str = WEBHOOK_SECRET, signature: str | None = None):
        signature = signature or hmac.new(secret.encode(), raw.encode(), hashlib.sha256).hexdigest()
        event = rest_event(
            "POST",
            "/webhooks/dwolla",
            body=raw,
            headers={"Content-Type": "application/json", "X-Request-Signature-SHA-256": signature},
        )
        return self.invoke(self.functions.callback, event)

    def drain(self) -> None:
        self.events.extend(self._published())

    def _harvest(self, answer: dict) -> None:
        cookie = header(answer, "set-cookie")
        if cookie:
            self.binding_tokens.add(cookie.split(";", 1)[0].split(".", 1)[1])
        if header(answer, "content-type") != "application/json" or answer["statusCode"] >= 400:
            return
        body = json.loads(answer["body"])
        if body.get("startUrl"):
            self.start_keys.add(query_of(body["startUrl"])["key"][0])
        token = (body.get("handoff") or {}).get("token")
        if token:
            self.plaid_tokens.add(token)

    # -- the verdict --
    def assert_no_secret_left(self, stdout: str) -> None:
        self.drain()
        always = dict(ALWAYS_SECRET)
        always.update({f"access token {t[:6]}": t for t in self.sandbox.state.tokens})
        always.update({f"binding token {t[:6]}": t for t in self.binding_tokens})
        sensitive = {f"start key {k[:6]}": k for k in self.start_keys}
        sensitive.update({f"plaid token {t[:12]}": t for t in self.plaid_tokens})
        sensitive.update({"wrong key": WRONG_KEY, "wrong secret": WRONG_SECRET})

        def scan(where: str, text: str, secrets: dict) -> None:
            for name, secret in secrets.items():
                assert secret not in text, f"{name} leaked into {where}"

        logs = "\n".join(self.capture.texts)
        assert self.capture.records > 0, "nothing was logged: the capture is not working"
        for where, text in (("logs", logs), ("stdout", stdout), ("raised", "\n".join(self.raised))):
            scan(where, text, {**always, **sensitive})
        for event in self.events:
            detail = dict(event["detail"])
            if event["detail-type"] == "Reauth Session Created":
                detail.pop("startUrl", None)  # by design: how the platform gets the link
            scan(
                f"event {event['detail-type']}",
                json.dumps({**event, "detail": detail}),
                {**always, **sensitive},
            )
        for answer in self.answers:
            headers = {
                k: v for k, v in (answer.get("headers") or {}).items() if k.lower() != "set-cookie"
            }
            text = json.dumps(headers) + answer.get("body", "")
            scan(f"a {answer['statusCode']} answer", text, always)
            if answer["statusCode"] >= 400:
                scan(f"a {answer['statusCode']} answer", text, sensitive)


@pytest.fixture
def kit(functions, dwolla, sandbox, published):
    root = logging.getLogger()
    powertools = logging.getLogger("dwolla-reauth")
    capture = Capture(functions.api.logger.registered_formatter)
    saved = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(capture)
    powertools.addHandler(capture)
    published()  # what setting up published is not under test
    yield Kit(functions, dwolla, sandbox, published, capture)
    root.removeHandler(capture)
    powertools.removeHandler(capture)
    root.setLevel(saved)


# ---- the scenarios: the whole flow and every error path --------------------------------------
def redirect_flow_success(kit: Kit) -> None:
    exchange = kit.dwolla.seed_exchange("mx")
    status, session = kit.create(exchange["id"], {"returnUrl": RETURN_URL}, key="k-success")
    assert status == 201
    status, again = kit.create(exchange["id"], {"returnUrl": RETURN_URL}, key="k-success")
    assert status == 200
    browser = kit.browser()
    assert browser.get(session["startUrl"])["statusCode"] == 400  # retired by the replay
    started = browser.get(again["startUrl"])
    back = browser.visit_bank(location(started))
    assert browser.get(back)["statusCode"] == 302
    assert browser.get(back)["statusCode"] == 302  # reload
    kit.api("GET", f"/reauth-sessions/{session['id']}")
    kit.api("GET", f"/exchanges/{exchange['id']}/reauth-status")
    kit.invoke(
        kit.functions.callback, rest_event("GET", "/reauth/done", query={"status": "reauthorized"})
    )


def redirect_flow_cancelled(kit: Kit) -> None:
    exchange = kit.dwolla.seed_exchange("mx")
    _, session = kit.create(exchange["id"])
    browser = kit.browser()
    back = browser.visit_bank(location(browser.get(session["startUrl"])), outcome="USER_CANCELLED")
    assert browser.get(back)["statusCode"] == 302


def token_flow(kit: Kit) -> None:
    exchange = kit.dwolla.seed_exchange("plaid")
    _, session = kit.create(exchange["id"], key="k-token")
    kit.create(exchange["id"], key="k-token")
    kit.api("GET", f"/reauth-sessions/{session['id']}")
    kit.dwolla.complete_exchange_session(session["id"])
    assert kit.api("POST", f"/reauth-sessions/{session['id']}/complete", {})[0] == 200
    assert (
        kit.api("POST", f"/reauth-sessions/{session['id']}/complete", {"error": "USER_CANCELLED"})[
            0
        ]
        == 409
    )
    other = kit.dwolla.seed_exchange("plaid")
    _, failed = kit.create(other["id"])
    kit.api("POST", f"/reauth-sessions/{failed['id']}/complete", {"error": "AUTHENTICATION_ERROR"})


def forged_browser_requests(kit: Kit) -> None:
    exchange = kit.dwolla.seed_exchange("mx")
    _, session = kit.create(exchange["id"])
    key = query_of(session["startUrl"])["key"][0]
    thief = kit.browser()
    thief.get(session["startUrl"].replace(key, key[::-1]))  # wrong key
    customer = kit.browser()
    back = customer.visit_bank(location(customer.get(session["startUrl"])))
    thief.get(session["startUrl"])  # reused key
    thief.get(back)  # no cookie
    token = next(iter(kit.binding_tokens))
    thief.cookies = [f"reauth_binding={session['id']}.{token[::-1]}"]
    thief.get(back)  # tampered cookie
    thief.cookies = list(customer.cookies)
    thief.get(f"{back.split('?')[0]}?exchange={uuid.uuid4()}")  # another exchange
    thief.get(f"{back.split('?')[0]}?error=access_denied")
    thief.get(f"{back.split('?')[0]}?error=USER_CANCELLED&exchange={exchange['id']}")


def api_errors(kit: Kit) -> None:
    exchange = kit.dwolla.seed_exchange("mx")
    kit.create("not-a-uuid")
    kit.create(exchange["id"], {"returnUrl": "https://evil.example/"})
    kit.create(exchange["id"], {"customerId": "bob"})
    kit.create(exchange["id"], key="x" * 300)
    kit.api(
        "POST",
        f"/exchanges/{exchange['id']}/reauth-sessions",
        "{not json",
        {"Content-Type": "application/json"},
    )
    kit.api(
        "POST", f"/exchanges/{exchange['id']}/reauth-sessions", "x", {"Content-Type": "text/plain"}
    )
    kit.api("POST", f"/exchanges/{exchange['id']}/reauth-sessions", {"x": "y" * 20000})
    _, session = kit.create(exchange["id"], {"returnUrl": RETURN_URL}, key="k-reuse")
    kit.create(exchange["id"], {"returnUrl": None}, key="k-reuse")
    kit.api("POST", f"/reauth-sessions/{session['id']}/complete", {})  # HandoffNotToken
    kit.api("POST", f"/reauth-sessions/{session['id']}/complete", {"error": "NOPE"})
    kit.api("GET", f"/reauth-sessions/{uuid.uuid4()}")
    kit.api("GET", f"/exchanges/{uuid.uuid4()}/reauth-status")
    kit.api("DELETE", "/nowhere")


def dwolla_rejects_the_credentials(kit: Kit) -> None:
    secrets = kit.functions.session.client("secretsmanager")
    secrets.put_secret_value(
        SecretId=kit.functions.resources.secret_id,
        SecretString=json.dumps({"key": WRONG_KEY, "secret": WRONG_SECRET, "webhookSecret": "w"}),
    )
    exchange = kit.dwolla.seed_exchange("mx")
    assert kit.create(exchange["id"])[1]["code"] == "DwollaCredentialsInvalid"


def dwolla_token_expires(kit: Kit) -> None:
    exchange = kit.dwolla.seed_exchange("mx")
    kit.create(exchange["id"])
    kit.dwolla.expire_tokens()
    assert kit.create(exchange["id"])[0] == 201


def dwolla_faults(kit: Kit) -> None:
    import urllib3

    from reauth import runtime

    runtime.service()._dwolla._timeout = urllib3.Timeout(connect=1, read=0.2)
    exchange = kit.dwolla.seed_exchange("mx")
    for fault in (
        {"status": 503},
        {"status": 429, "retryAfter": 0},
        {"drop": True},
        {"status": 403},
    ):
        kit.dwolla.inject_fault("/exchanges/*/exchange-sessions", method="POST", times=10, **fault)
        kit.create(exchange["id"], key="k-fault")
        kit.dwolla.clear_faults()
    kit.dwolla.inject_fault("/exchange-sessions/*", method="GET", times=10, delay=0.4)
    kit.create(exchange["id"], key="k-fault")
    kit.dwolla.clear_faults()
    kit.dwolla.inject_fault("/token", method="POST", times=10, status=500)
    runtime.service()._dwolla._token = None
    kit.create(exchange["id"], key="k-fault")
    kit.dwolla.clear_faults()
    kit.dwolla.set_redirect_urls("https://elsewhere.example/cb")
    kit.create(exchange["id"])
    kit.dwolla.set_open_banking_scope(False)
    kit.create(exchange["id"])


def dwolla_fails_at_the_callback(kit: Kit) -> None:
    exchange = kit.dwolla.seed_exchange("mx")
    _, session = kit.create(exchange["id"])
    browser = kit.browser()
    back = browser.visit_bank(location(browser.get(session["startUrl"])))
    kit.dwolla.inject_fault("/exchanges/*", method="GET", times=10, status=503)
    assert browser.get(back)["statusCode"] == 503
    kit.dwolla.clear_faults()
    assert browser.get(back)["statusCode"] == 302


def eventbridge_requests(kit: Kit) -> None:
    exchange = kit.dwolla.seed_exchange("mx")
    event_id = str(uuid.uuid4())
    detail = {"exchangeId": exchange["id"], "returnUrl": RETURN_URL}
    kit.event("Exchange Reauth Requested", detail, event_id)
    kit.event("Exchange Reauth Requested", detail, event_id)  # a redelivery
    kit.event("Exchange Reauth Requested", {"exchangeId": "nope"})
    kit.event("Dwolla UpdateCredentials", {"code": "UpdateCredentials", "_links": True})
    kit.dwolla.inject_fault("/exchanges/*/exchange-sessions", method="POST", times=10, status=503)
    with pytest.raises(Exception, match="Dwolla"):
        kit.event("Exchange Reauth Requested", {"exchangeId": exchange["id"]})


def webhooks(kit: Kit) -> None:
    exchange_id = str(uuid.uuid4())
    raw = json.dumps(
        {
            "id": str(uuid.uuid4()),
            "topic": "customer_exchange_reauth_required",
            "_links": {"resource": {"href": f"https://api.dwolla.com/exchanges/{exchange_id}"}},
        }
    )
    kit.webhook(raw)
    kit.webhook(raw)
    kit.webhook(raw, secret="not-the-secret")
    kit.webhook(raw, signature="")
    kit.webhook(raw.replace(exchange_id, str(uuid.uuid4())), signature=kit_signature(raw))
    kit.webhook("{not json")
    kit.webhook(json.dumps({"id": "x", "topic": "customer_created"}))


def kit_signature(raw: str) -> str:
    return hmac.new(WEBHOOK_SECRET.encode(), raw.encode(), hashlib.sha256).hexdigest()


def expiry_sweep(kit: Kit) -> None:
    from datetime import timedelta

    from reauth import runtime
    from reauth.model import utcnow
    from tests.support.apigw import scheduled_event

    exchange = kit.dwolla.seed_exchange("mx")
    kit.create(exchange["id"])
    runtime.service()._clock = lambda: utcnow() + timedelta(minutes=31)
    kit.invoke(kit.functions.api, scheduled_event())


def unexpected_crash(kit: Kit) -> None:
    from reauth import runtime

    exchange = kit.dwolla.seed_exchange("mx")
    _, session = kit.create(exchange["id"])
    repository = runtime.service()._repo
    original = repository.get_session

    def broken(session_id):
        raise RuntimeError(f"simulated failure reading {session_id}")

    repository.get_session = broken
    try:
        kit.api("GET", f"/reauth-sessions/{session['id']}")
        kit.browser().get(session["startUrl"])
    finally:
        repository.get_session = original


def broken_secret(kit: Kit) -> None:
    from reauth import runtime

    secrets = kit.functions.session.client("secretsmanager")
    secrets.put_secret_value(
        SecretId=kit.functions.resources.secret_id,
        SecretString=json.dumps({"key": WRONG_KEY, "webhookSecret": WRONG_SECRET}),
    )
    runtime.service()._dwolla._token = None
    exchange = kit.dwolla.seed_exchange("mx")
    assert kit.create(exchange["id"])[0] == 500


SCENARIOS = [
    redirect_flow_success,
    redirect_flow_cancelled,
    token_flow,
    forged_browser_requests,
    api_errors,
    dwolla_rejects_the_credentials,
    dwolla_token_expires,
    dwolla_faults,
    dwolla_fails_at_the_callback,
    eventbridge_requests,
    webhooks,
    expiry_sweep,
    unexpected_crash,
    broken_secret,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
def test_no_secret_leaves_through_logs_events_answers_or_errors(kit, capsys, scenario):
    scenario(kit)
    out, err = capsys.readouterr()
    kit.assert_no_secret_left(out + err)


def test_the_whole_flow_in_one_container_leaks_nothing(kit, capsys):
    for scenario in SCENARIOS:
        if scenario not in (dwolla_rejects_the_credentials, broken_secret, expiry_sweep):
            scenario(kit)
            kit.dwolla.clear_faults()
            kit.dwolla.set_redirect_urls("https://reauth.example.test/v1/reauth/callback")
            kit.dwolla.set_open_banking_scope(True)
    out, err = capsys.readouterr()
    kit.assert_no_secret_left(out + err)
    assert kit.start_keys and kit.binding_tokens and kit.plaid_tokens  # they were handed out


def test_the_watch_sees_a_leak(kit, capsys, monkeypatch):
    """The check can fail: a service that logged its secret would be caught."""
    from reauth import service

    original = service.ReauthService.get_session

    def leaky(self, session_id):
        service.logger.debug("credentials in use", extra={"secret": DWOLLA_SECRET})
        return original(self, session_id)

    monkeypatch.setattr(service.ReauthService, "get_session", leaky)
    kit.api("GET", f"/reauth-sessions/{uuid.uuid4()}")
    out, err = capsys.readouterr()
    with pytest.raises(AssertionError, match="dwolla secret leaked into logs"):
        kit.assert_no_secret_left(out + err)


def test_botocore_logs_the_secret_at_debug_unless_the_runtime_holds_it_at_info(kit, capsys):
    """Why runtime holds botocore at INFO: with it at DEBUG, GetSecretValue's answer is logged."""
    from reauth import runtime

    runtime._boto_session()  # the runtime's own setting, made once per container
    assert logging.getLogger("botocore").getEffectiveLevel() == logging.INFO
    logging.getLogger("botocore").setLevel(logging.DEBUG)
    try:
        exchange = kit.dwolla.seed_exchange("mx")
        kit.create(exchange["id"])
        out, err = capsys.readouterr()
        with pytest.raises(AssertionError, match="leaked into logs"):
            kit.assert_no_secret_left(out + err)
    finally:
        logging.getLogger("botocore").setLevel(logging.INFO)
