"""Secrets never leave: the whole journey and every error path, logging at DEBUG everywhere.

The functions (ApiFunction, CallbackFunction, and RelayFunction delivering the outbox to the bus)
run as Lambda runs them at its most verbose: the root logger at DEBUG (what
ApplicationLogLevel=DEBUG does) and Powertools at DEBUG (LOG_LEVEL). Every log record emitted
while a handler runs is kept, formatted as CloudWatch would get it plus everything the record
carries (message, arguments, extras, traceback). Then:

  nowhere (logs, stdout, events, answers, raised exceptions)
      the Dwolla key, secret, their Basic encoding, the webhook secret, the link secret, every
      access token the Dwolla sandbox issued; every browser binding token, except in the
      Set-Cookie header that sets it
  only where they belong, by design
      a request's link key: the platform's answers about that request (create, read, complete),
          its "Reauth Session Created" event's startUrl (the only copy for an event-made
          request) and the start page its own link opens (the form posts the key back), or its
          closed page (expired or cancelled: the "Send me a new link" form posts it back)
      an attempt's Plaid Link token: the platform's answers about its request, and the Plaid page
          answering the start button that bound a browser to that attempt
      an attempt's bank URL: the platform's answers, and the "taking you to your bank" page
          answering the start button that bound a browser to that attempt
      a CSRF token: the Plaid page answering the start button that set its binding cookie

The secrets are harvested from everything handed out (answers, Set-Cookie, events) and from the
ground truth: every request and attempt in the table, every session the sandbox made, so a key
or token the flows never showed is still watched.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import traceback
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from reauth.model import iso
from reauth.security import csrf_attempt, link_key, new_secret
from tests.support.apigw import LambdaContext, eventbridge_event, rest_event, scheduled_event
from tests.support.constants import (
    CALLBACK_URL,
    DWOLLA_KEY,
    DWOLLA_SECRET,
    LINK_SECRET,
    PUBLIC_BASE_URL,
    RETURN_URL,
    WEBHOOK_SECRET,
)
from tests.support.flow import Browser, bank_url, header, location, plaid_config
from tests.support.functions import serve
from tests.support.table import table_items
from tests.support.webhooks import sign, webhook_event

WRONG_KEY, WRONG_SECRET = "wrong-key-31f0c2", "wrong-secret-8be77d91"
ALWAYS_SECRET = {
    "dwolla key": DWOLLA_KEY,
    "dwolla secret": DWOLLA_SECRET,
    "basic credentials": base64.b64encode(f"{DWOLLA_KEY}:{DWOLLA_SECRET}".encode()).decode(),
    "webhook secret": WEBHOOK_SECRET,
    "link secret": LINK_SECRET,
    "wrong key": WRONG_KEY,
    "wrong secret": WRONG_SECRET,
}
IGNORED_LOGGERS = ("moto", "local", "tests")  # the test's own infrastructure, not the service
LINK_PATH = re.compile(r"/reauth/link/(?P<id>[0-9a-f-]{36})")


# Every secret that may ever have signed a start link in these scenarios (the link secret is
# its own secret: no Dwolla credential ever signs one).
LINK_SECRETS = (LINK_SECRET.encode(),)


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


@dataclass(frozen=True)
class Answered:
    """One answer of a function, with the request it answered."""

    function: str  # "api" or "callback"
    method: str
    path: str  # without the stage
    answer: dict

    @property
    def status(self) -> int:
        return self.answer["statusCode"]

    @property
    def body(self) -> str:
        return self.answer.get("body") or ""

    @property
    def set_cookie(self) -> str:
        return header(self.answer, "set-cookie") or ""

    def text(self) -> str:
        """Everything the answer says but the Set-Cookie header."""
        headers = {}
        for name, value in (self.answer.get("headers") or {}).items():
            if name.lower() != "set-cookie":
                headers[name] = value
        for name, values in (self.answer.get("multiValueHeaders") or {}).items():
            if name.lower() != "set-cookie":
                headers[f"multi:{name}"] = values
        return json.dumps(headers) + self.body

    def about(self) -> str | None:
        """The request a platform answer is about (its body's id)."""
        if self.function != "api" or not 200 <= self.status < 300:
            return None
        body = json.loads(self.body)
        return body.get("id") if isinstance(body, dict) else None

    def link_request(self) -> str | None:
        """The request whose link (or its button) this browser answer is for."""
        match = LINK_PATH.fullmatch(self.path)
        return match["id"] if self.function == "callback" and match else None

    def bound_attempt(self) -> tuple[str | None, str] | None:
        """(attempt id, binding token) of the binding cookie this answer sets, if any: the
        attempt as the Plaid page's CSRF token names it (None on other pages)."""
        value = self.set_cookie.split(";", 1)[0].partition("=")[2]
        token = value.partition(".")[0]
        if not token:
            return None
        attempt = None
        if PLAID_PAGE in self.body:
            attempt = csrf_attempt(token, plaid_config(self.answer)["csrf"])
        return attempt, token

    def is_start_page(self, request_id: str) -> bool:
        """The page of this request's own link whose form posts its key back: the start page,
        or an expired or cancelled link's "Send me a new link" (410), as opening the link (or
        posting its key) answers."""
        opened = self.method in ("GET", "HEAD") and self.status == 200
        closed = self.status == 410 and f"/reauth/link/{request_id}/renew" in self.body
        return (
            self.link_request() == request_id and (opened or closed) and 'name="key"' in self.body
        )

    def is_handoff_page(self, request_id: str, attempt_id: str, marker: str) -> bool:
        """The start button's answer for this request that bound the browser to this attempt:
        the Plaid page (marker: its config block) or the bank page (its meta refresh)."""
        bound = self.bound_attempt()
        return (
            self.method == "POST"
            and self.link_request() == request_id
            and self.status == 200
            and bound is not None
            and bound[0] in (attempt_id, None if marker == BANK_PAGE else attempt_id)
            and marker in self.body
        )


PLAID_PAGE = 'id="reauth-config"'
BANK_PAGE = 'http-equiv="refresh"'


@dataclass(frozen=True)
class Secret:
    """A value to watch and where it may appear. kind: always, binding, key, plaid, bank, csrf."""

    label: str
    value: str
    kind: str
    request_id: str | None = None
    attempt_id: str | None = None

    def allowed_in(self, answered: Answered) -> bool:
        if self.kind == "key":
            return answered.about() == self.request_id or answered.is_start_page(self.request_id)
        if self.kind in ("plaid", "bank"):
            marker = PLAID_PAGE if self.kind == "plaid" else BANK_PAGE
            return answered.about() == self.request_id or answered.is_handoff_page(
                self.request_id, self.attempt_id, marker
            )
        if self.kind == "csrf":
            bound = answered.bound_attempt()
            return (
                bound is not None
                and csrf_attempt(bound[1], self.value) is not None
                and answered.status == 200
                and PLAID_PAGE in answered.body
            )
        return False  # always, binding (its Set-Cookie is checked apart)


class Kit:
    """Drives both functions, keeps every answer, event and exception, and the secrets handed
    out on the way (binding tokens, CSRF tokens); the rest is read from the table and Dwolla."""

    def __init__(self, functions, dwolla, sandbox, published, capture, clock) -> None:
        self.functions, self.dwolla, self.sandbox, self.clock = functions, dwolla, sandbox, clock
        self._published, self.capture = published, capture
        self.answers: list[Answered] = []
        self.raised: list[str] = []
        self.events: list[dict] = []
        self.binding_tokens: set[str] = set()
        self.csrf_tokens: set[str] = set()
        self.seen = {"key": set(), "plaid": set(), "bank": set()}  # handed out (the figure)

    # -- calling the functions --
    def invoke(self, function: str, event: dict):
        module = self.functions.api if function == "api" else self.functions.callback
        self.capture.active = True
        try:
            answer = module.handler(event, LambdaContext())
        except Exception as exc:
            self.raised.append("".join(traceback.format_exception(exc)))
            raise
        finally:
            self.capture.active = False
        if isinstance(answer, dict) and "statusCode" in answer:
            self._keep(Answered(function, event["httpMethod"], event["path"], answer))
        return answer

    def api(self, method: str, path: str, body=None, headers=None) -> tuple[int, dict]:
        answer = self.invoke("api", rest_event(method, path, body=body, headers=headers))
        return answer["statusCode"], json.loads(answer["body"])

    def create(self, exchange_id: str, body=None, key: str | None = None):
        headers = {"Idempotency-Key": key} if key else None
        return self.api("POST", f"/exchanges/{exchange_id}/reauth-sessions", body, headers)

    def read(self, request_id: str) -> dict:
        status, body = self.api("GET", f"/reauth-sessions/{request_id}")
        assert status == 200, body
        return body

    def browser(self) -> Browser:
        kit = self

        class Watched(Browser):
            def call(self, method, url, *, body=None, headers=None, origin=True):
                kit.capture.active = True
                try:
                    answer = super().call(method, url, body=body, headers=headers, origin=origin)
                except Exception as exc:
                    kit.raised.append("".join(traceback.format_exception(exc)))
                    raise
                finally:
                    kit.capture.active = False
                path = urlsplit(url).path.removeprefix("/v1")
                kit._keep(Answered("callback", method, path, answer))
                return answer

        return Watched(self.functions.callback)

    def event(self, detail_type: str, detail: dict, event_id: str | None = None):
        return self.invoke("api", eventbridge_event(detail_type, detail, event_id=event_id))

    def sweep(self) -> dict:
        return self.invoke("api", scheduled_event())

    def webhook(self, raw: str, secret: str = WEBHOOK_SECRET, signature: str | None = None):
        return self.invoke("callback", webhook_event(raw, secret, signature))

    def drain(self) -> None:
        """Relay the outbox (RelayFunction, watched like the others), then read the bus. A new
        pump each time: it delivers the whole outbox again (duplicates change nothing here),
        and it also sees what moto wrote after a cancelled transaction, which an older pump's
        stream iterators do not."""
        from local.relay import StreamPump, load_handler
        from tests.support.constants import ROOT

        pump = StreamPump(
            self.functions.session, self.functions.resources.table_name, load_handler(ROOT)
        )
        self.capture.active = True
        try:
            pump.pump()
        except Exception as exc:
            self.raised.append("".join(traceback.format_exception(exc)))
            raise
        finally:
            self.capture.active = False
        self.events.extend(self._published())

    def _keep(self, answered: Answered) -> None:
        self.answers.append(answered)
        bound = answered.bound_attempt()
        if bound:
            self.binding_tokens.add(bound[1])
        if answered.function == "callback" and PLAID_PAGE in answered.body:
            config = plaid_config(answered.answer)
            self.csrf_tokens.add(config["csrf"])
            self.seen["plaid"].add(config["token"])
        if answered.function == "callback" and BANK_PAGE in answered.body:
            self.seen["bank"].add(bank_url(answered.answer))
        if answered.about():
            body = json.loads(answered.body)
            if body.get("startUrl"):
                self.seen["key"].add(body["startUrl"].rpartition("key=")[2])
            handoff = body.get("handoff") or {}
            self.seen["plaid" if handoff.get("token") else "bank"].add(
                handoff.get("token") or handoff.get("url")
            )

    # -- the secrets: what was handed out, and the ground truth --
    def secrets(self) -> list[Secret]:
        found = [Secret(label, value, "always") for label, value in ALWAYS_SECRET.items()]
        found += [Secret(f"access token {t[:6]}", t, "always") for t in self.sandbox.state.tokens]
        found += [Secret(f"binding token {t[:6]}", t, "binding") for t in self.binding_tokens]
        found += [Secret(f"csrf token {t[:6]}", t, "csrf") for t in self.csrf_tokens]
        sessions = {s.id: s for s in self.sandbox.state.sessions.values()}
        for item in table_items(self.functions):
            if not item["pk"]["S"].startswith("REQUEST#"):
                continue
            rid = item["requestId"]["S"]
            for secret in LINK_SECRETS:
                key = link_key(secret, rid)
                found.append(Secret(f"link key {key[:6]}", key, "key", rid))
            for aid, attempt in item["attempts"]["M"].items():
                fields = attempt["M"]
                token = fields.get("handoffToken", {}).get("S")
                url = fields.get("handoffUrl", {}).get("S")
                if token:
                    found.append(Secret(f"plaid token {token[:16]}", token, "plaid", rid, aid))
                if url:
                    found.append(Secret(f"bank url {url[-12:]}", url, "bank", rid, aid))
                sessions.pop(aid, None)
        for session in sessions.values():  # made at Dwolla, never stored: watched everywhere
            if session.plaid_token:
                found.append(
                    Secret(f"unstored plaid token {session.id[:8]}", session.plaid_token, "always")
                )
        return found

    # -- the verdict --
    def assert_no_secret_left(self, stdout: str) -> None:
        self.drain()
        secrets = self.secrets()

        def scan(where: str, text: str, allowed=lambda secret: False) -> None:
            for secret in secrets:
                if secret.value in text and not allowed(secret):
                    raise AssertionError(f"{secret.label} leaked into {where}")

        logs = "\n".join(self.capture.texts)
        assert self.capture.records > 0, "nothing was logged: the capture is not working"
        scan("logs", logs)
        scan("stdout", stdout)
        scan("raised", "\n".join(self.raised))
        for event in self.events:
            detail = dict(event["detail"])
            if event["detail-type"] == "Reauth Session Created":
                # By design: how the platform gets the link. It is the link, nothing more.
                start_url = detail.pop("startUrl")
                rid = detail["sessionId"]
                expected = (
                    f"{PUBLIC_BASE_URL}/reauth/link/{rid}?key={link_key(LINK_SECRETS[0], rid)}"
                )
                assert start_url == expected, start_url
            scan(f"event {event['detail-type']}", json.dumps({**event, "detail": detail}))
        for answered in self.answers:
            where = f"a {answered.status} answer to {answered.method} {answered.path}"
            scan(where, answered.text(), lambda secret, a=answered: secret.allowed_in(a))
            bound = answered.bound_attempt()
            scan(
                f"the Set-Cookie of {where}",
                answered.set_cookie,
                lambda secret, b=bound: secret.kind == "binding" and b and secret.value == b[1],
            )


@pytest.fixture
def kit(functions, dwolla, sandbox, published, clock):
    root = logging.getLogger()
    powertools = logging.getLogger("dwolla-reauth")
    package = logging.getLogger("reauth")  # Powertools' copy: it does not propagate to the root
    capture = Capture(functions.api.logger.registered_formatter)
    saved = {logger: logger.level for logger in (root, powertools, package)}
    # At DEBUG whatever configured them first: Powertools sets its logger's level once per
    # process, so a handler module another test loaded without POWERTOOLS_LOG_LEVEL=DEBUG would
    # otherwise leave them at INFO and the watch blind to DEBUG records.
    for logger in saved:
        logger.setLevel(logging.DEBUG)
    root.addHandler(capture)
    powertools.addHandler(capture)
    package.addHandler(capture)
    published()  # what setting up published is not under test
    yield Kit(functions, dwolla, sandbox, published, capture, clock)
    root.removeHandler(capture)
    powertools.removeHandler(capture)
    package.removeHandler(capture)
    for logger, level in saved.items():
        logger.setLevel(level)


def _action(start_url: str) -> str:
    return start_url.split("?", 1)[0]


def _service():
    from reauth import runtime

    return runtime.service()


# ---- the scenarios: the whole journey and every error path -----------------------------------
def redirect_success(kit: Kit) -> None:
    exchange = kit.dwolla.seed_exchange("mx")
    status, request = kit.create(exchange["id"], {"returnUrl": RETURN_URL}, key="k-success")
    assert status == 201
    status, again = kit.create(exchange["id"], {"returnUrl": RETURN_URL}, key="k-success")
    assert (status, again["startUrl"]) == (200, request["startUrl"])  # the same link
    browser = kit.browser()
    assert browser.get(request["startUrl"])["statusCode"] == 200  # the start page
    assert browser.call("HEAD", request["startUrl"])["statusCode"] == 200  # a link scanner
    started = browser.click_start(request["startUrl"])
    assert started["statusCode"] == 200
    back = browser.visit_bank(bank_url(started))
    landed = browser.get(back)
    assert location(landed) == f"{RETURN_URL}?status=reauthorized&session={request['id']}"
    assert browser.get(back)["statusCode"] == 303  # a reload
    assert browser.get(request["startUrl"])["statusCode"] == 200  # "already done"
    assert browser.click_start(request["startUrl"])["statusCode"] == 200
    assert kit.read(request["id"])["status"] == "reauthorized"
    kit.api("GET", f"/exchanges/{exchange['id']}/reauth-status")
    browser.get(f"{PUBLIC_BASE_URL}/reauth/done?status=reauthorized&session={request['id']}")


def cancel_then_retry(kit: Kit) -> None:
    exchange = kit.dwolla.seed_exchange("mx")
    _, request = kit.create(exchange["id"])
    browser = kit.browser()
    answer = browser.click_start(request["startUrl"])
    for outcome in ("USER_CANCELLED", "AUTHENTICATION_ERROR", "TEMPORARY_ERROR", None):
        back = browser.visit_bank(bank_url(answer), outcome=outcome)
        landed = browser.get(back)
        assert landed["statusCode"] == 303
        result = browser.get(location(landed))
        assert result["statusCode"] == 200
        if outcome is not None:
            answer = browser.try_again(_action(request["startUrl"]))  # a fresh Dwolla session
            assert answer["statusCode"] == 200
    body = kit.read(request["id"])
    assert body["status"] == "reauthorized" and len(body["attempts"]) == 4


def plaid_flow(kit: Kit) -> None:
    exchange = kit.dwolla.seed_exchange("plaid")
    _, request = kit.create(exchange["id"], key="k-plaid")
    kit.create(exchange["id"], key="k-plaid")
    browser = kit.browser()
    assert browser.get(request["startUrl"])["statusCode"] == 200  # no token on the start page
    page = browser.click_start(request["startUrl"])
    answer = browser.report_plaid(page, {"outcome": "error", "error": "USER_CANCELLED"})
    browser.get(json.loads(answer["body"])["location"])
    page = browser.try_again(_action(request["startUrl"]))  # attempt #2, a new Plaid token
    kit.dwolla.complete_exchange_session(plaid_config(page)["token"])
    answer = browser.report_plaid(page, {"outcome": "success"})
    assert answer["statusCode"] == 200
    browser.get(json.loads(answer["body"])["location"])
    assert browser.report_plaid(page, {"outcome": "success"})["statusCode"] == 200  # a repeat
    assert kit.read(request["id"])["status"] == "reauthorized"


def platform_run_plaid(kit: Kit) -> None:
    """The platform runs Link itself and reports to the IAM `/complete`."""
    exchange = kit.dwolla.seed_exchange("plaid")
    _, request = kit.create(exchange["id"], key="k-token")
    kit.create(exchange["id"], key="k-token")
    token = kit.read(request["id"])["handoff"]["token"]
    kit.dwolla.complete_exchange_session(token)
    path = f"/reauth-sessions/{request['id']}/complete"
    assert kit.api("POST", path, {})[1]["status"] == "reauthorized"
    assert kit.api("POST", path, {"error": "USER_CANCELLED"})[1]["status"] == "reauthorized"
    other = kit.dwolla.seed_exchange("plaid")
    _, failed = kit.create(other["id"])
    path = f"/reauth-sessions/{failed['id']}/complete"
    kit.api("POST", path, {"error": "AUTHENTICATION_ERROR"})
    kit.api("POST", path, {})  # claimed, but the bank was never visited: not repaired


def verifying(kit: Kit) -> None:
    """Dwolla cannot answer (finding the funding source, then the balance check): verifying,
    checked again on read and on the schedule, until it answers."""
    exchange = kit.dwolla.seed_exchange("mx")
    _, request = kit.create(exchange["id"], {"returnUrl": RETURN_URL})
    browser = kit.browser()
    back = browser.visit_bank(bank_url(browser.click_start(request["startUrl"])))
    kit.dwolla.inject_fault("/customers/*/funding-sources", method="GET", times=100, status=403)
    landed = browser.get(back)
    assert location(landed) == f"{RETURN_URL}?status=verifying&session={request['id']}"
    assert browser.get(back)["statusCode"] == 303  # a reload: checks again, still verifying
    assert browser.get(request["startUrl"])["statusCode"] == 200  # "almost done"
    browser.get(f"{PUBLIC_BASE_URL}/reauth/done?status=verifying&session={request['id']}")
    assert kit.read(request["id"])["status"] == "verifying"
    for fault in (
        {"path": "/exchanges/*", "status": 503},
        {"path": "/funding-sources/*/balance", "status": 503},
        {"path": "/funding-sources/*/balance", "status": 429, "retryAfter": 0},
        {"path": "/funding-sources/*/balance", "drop": True},
    ):
        kit.dwolla.clear_faults()
        kit.dwolla.inject_fault(method="GET", times=100, **fault)
        kit.clock.advance(minutes=2)
        kit.sweep()
        kit.clock.advance(minutes=2)
        assert kit.read(request["id"])["status"] == "verifying"
    kit.dwolla.clear_faults()
    kit.clock.advance(minutes=2)
    assert kit.read(request["id"])["status"] == "reauthorized"
    assert browser.get(back)["statusCode"] == 303


def not_repaired(kit: Kit) -> None:
    """A success claimed without the bank leg: Dwolla's balance check still says
    UpdateCredentials, the attempt ends unverified, the customer tries again."""
    exchange = kit.dwolla.seed_exchange("mx")
    _, request = kit.create(exchange["id"])
    browser = kit.browser()
    started = browser.click_start(request["startUrl"])
    landed = browser.get(f"{CALLBACK_URL}?exchange={exchange['id']}")
    assert "NOT_REPAIRED" in location(landed)
    browser.get(location(landed))
    retried = browser.try_again(_action(request["startUrl"]))
    assert bank_url(retried) != bank_url(started)


def repaired_elsewhere(kit: Kit) -> None:
    """Dwolla shows the exchange repaired though nobody finished the request: found on a read
    (every 15 minutes) and before a click would make a fresh Dwolla session."""
    for found_by in ("read", "click"):
        _, request = kit.create(kit.dwolla.seed_exchange("mx")["id"])
        browser = kit.browser()
        browser.click_start(request["startUrl"])  # the next click needs a fresh session
        kit.dwolla.complete_exchange_session(request["attempts"][0]["id"])
        if found_by == "read":
            kit.clock.advance(minutes=16)
        else:
            assert browser.click_start(request["startUrl"])["statusCode"] == 200
        assert kit.read(request["id"])["status"] == "reauthorized_elsewhere"
        assert browser.get(request["startUrl"])["statusCode"] == 200  # "already done"


def forged_requests(kit: Kit) -> None:
    exchange = kit.dwolla.seed_exchange("mx")
    _, request = kit.create(exchange["id"])
    _, other = kit.create(kit.dwolla.seed_exchange("mx")["id"])
    start, action = request["startUrl"], _action(request["startUrl"])
    key = start.rpartition("key=")[2]
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    thief = kit.browser()
    wrong = f"{action}?key={key[::-1]}"
    assert thief.get(wrong)["statusCode"] == 400
    assert thief.call("HEAD", wrong)["statusCode"] == 400
    assert thief.click_start(wrong)["statusCode"] == 400
    assert thief.click_start(f"{_action(other['startUrl'])}?key={key}")["statusCode"] == 400
    assert thief.try_again(action)["statusCode"] == 400  # no key, no binding
    cross_site = {**form, "Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    assert thief.call("POST", action, body=f"key={key}", headers=cross_site)["statusCode"] == 400
    thief.call("POST", action, body=f"key={key}&key={key}", headers=form)
    thief.call("POST", action, body=json.dumps({"key": key}), headers={"Content-Type": "text/x"})
    customer = kit.browser()
    back = customer.visit_bank(bank_url(customer.click_start(start)))
    assert thief.get(back)["statusCode"] == 400  # no cookie
    ((name, value),) = customer.jar.items()
    token, _, bound_ids = value.partition(".")
    for forged in (f"{token[::-1]}.{bound_ids}", f"{new_secret()}.{bound_ids}", f"x.{bound_ids}"):
        thief.jar = {name: forged}
        assert thief.get(back)["statusCode"] == 400
    thief.jar = {name: f"{token}.{other['id'].replace('-', '')}"}  # another request named
    assert thief.get(back)["statusCode"] == 400
    thief.jar = dict(customer.jar)
    for query in (
        f"exchange={uuid.uuid4()}",
        "error=access_denied",
        f"error=USER_CANCELLED&exchange={exchange['id']}",
        f"error={key}",
        f"exchange={exchange['id']}&exchange={exchange['id']}",
    ):
        assert thief.get(f"{CALLBACK_URL}?{query}")["statusCode"] == 400
    done = f"{PUBLIC_BASE_URL}/reauth/done"
    thief.get(f"{done}?status=attempt_failed&session={request['id']}&reason={key}")
    thief.get(f"{done}?status={key}&session={token}")
    # The Plaid page's report: no binding, a wrong CSRF token, another origin.
    plaid = kit.dwolla.seed_exchange("plaid")
    _, token_request = kit.create(plaid["id"])
    page = customer.click_start(token_request["startUrl"])
    complete = plaid_config(page)["completeUrl"]
    thief.jar = dict(customer.jar)
    assert thief.report_plaid(page, {"outcome": "success"}, csrf="x" * 43)["statusCode"] == 400
    thief.jar = {}
    assert thief.report_plaid(page, {"outcome": "success"})["statusCode"] == 400
    thief.jar = dict(customer.jar)
    evil = {"Origin": "https://evil.example", "X-Reauth-CSRF": plaid_config(page)["csrf"]}
    assert (
        thief.call("POST", complete, body={"outcome": "success"}, headers=evil)["statusCode"] == 400
    )
    thief.report_plaid(page, {"outcome": "error", "error": key})
    thief.report_plaid(page, {"outcome": "success", "token": plaid_config(page)["token"]})
    assert customer.get(back)["statusCode"] == 303  # the customer still gets through


def api_errors(kit: Kit) -> None:
    exchange = kit.dwolla.seed_exchange("mx")
    kit.create("not-a-uuid")
    kit.create(exchange["id"], {"returnUrl": "https://evil.example/"})
    kit.create(exchange["id"], {"customerId": "bob"})
    kit.create(exchange["id"], key="x" * 300)
    path = f"/exchanges/{exchange['id']}/reauth-sessions"
    kit.api("POST", path, "{not json", {"Content-Type": "application/json"})
    kit.api("POST", path, "x", {"Content-Type": "text/plain"})
    kit.api("POST", path, {"x": "y" * 20000})
    _, request = kit.create(exchange["id"], {"returnUrl": RETURN_URL}, key="k-reuse")
    kit.create(exchange["id"], {"returnUrl": None}, key="k-reuse")
    kit.api("POST", f"/reauth-sessions/{request['id']}/complete", {})  # HandoffNotToken
    kit.api("POST", f"/reauth-sessions/{request['id']}/complete", {"error": "NOPE"})
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
    request_id = str(uuid.uuid4())
    key = link_key(LINK_SECRET.encode(), request_id)
    kit.browser().click_start(f"{PUBLIC_BASE_URL}/reauth/link/{request_id}?key={key}")


def dwolla_token_expires(kit: Kit) -> None:
    exchange = kit.dwolla.seed_exchange("mx")
    _, first = kit.create(exchange["id"])
    kit.dwolla.expire_tokens()
    status, request = kit.create(exchange["id"])
    assert status == 201
    browser = kit.browser()
    browser.visit_bank(bank_url(browser.click_start(request["startUrl"])), "USER_CANCELLED")
    kit.dwolla.expire_tokens()
    assert browser.try_again(_action(request["startUrl"]))["statusCode"] == 200  # a new session
    assert browser.click_start(first["startUrl"])["statusCode"] == 410  # superseded


def dwolla_faults(kit: Kit) -> None:
    import urllib3

    serve(clock=kit.clock.now, dwolla_timeout=urllib3.Timeout(connect=1, read=0.2))
    exchange = kit.dwolla.seed_exchange("mx")
    faults = ({"status": 503}, {"status": 429, "retryAfter": 0}, {"drop": True}, {"status": 403})
    for fault in faults:
        kit.dwolla.inject_fault("/exchanges/*/exchange-sessions", method="POST", times=10, **fault)
        kit.create(exchange["id"], key="k-fault")
        kit.dwolla.clear_faults()
    kit.dwolla.inject_fault("/exchange-sessions/*", method="GET", times=10, delay=0.4)
    kit.create(exchange["id"], key="k-fault")
    kit.dwolla.clear_faults()
    kit.dwolla.inject_fault("/token", method="POST", times=10, status=500)
    kit.dwolla.expire_tokens()  # the next call mints a token: that fails now
    kit.create(exchange["id"], key="k-fault")
    kit.dwolla.clear_faults()
    # A click that needs a fresh Dwolla session while Dwolla fails: the "try later" page.
    _, request = kit.create(exchange["id"], key="k-fault")
    browser = kit.browser()
    browser.visit_bank(bank_url(browser.click_start(request["startUrl"])), "TEMPORARY_ERROR")
    for fault in faults:
        kit.dwolla.inject_fault("/exchanges/*/exchange-sessions", method="POST", times=10, **fault)
        assert browser.try_again(_action(request["startUrl"]))["statusCode"] >= 500
        kit.dwolla.clear_faults()
    kit.dwolla.set_redirect_urls("https://elsewhere.example/cb")
    kit.create(exchange["id"])
    browser.try_again(_action(request["startUrl"]))
    kit.dwolla.set_open_banking_scope(False)
    kit.create(exchange["id"])
    browser.try_again(_action(request["startUrl"]))


def eventbridge_requests(kit: Kit) -> None:
    exchange = kit.dwolla.seed_exchange("mx")
    event_id = str(uuid.uuid4())
    detail = {"exchangeId": exchange["id"], "returnUrl": RETURN_URL}
    kit.event("Exchange Reauth Requested", detail, event_id)
    kit.event("Exchange Reauth Requested", detail, event_id)  # a redelivery
    kit.drain()
    (created,) = [e for e in kit.events if e["detail-type"] == "Reauth Session Created"][-1:]
    browser = kit.browser()
    browser.get(created["detail"]["startUrl"])
    browser.click_start(created["detail"]["startUrl"])
    kit.event("Exchange Reauth Requested", {"exchangeId": "nope"})
    kit.event("Dwolla UpdateCredentials", {"code": "UpdateCredentials", "_links": True})
    kit.dwolla.inject_fault("/exchanges/*/exchange-sessions", method="POST", times=10, status=503)
    with pytest.raises(Exception, match="Dwolla"):
        kit.event("Exchange Reauth Requested", {"exchangeId": exchange["id"]})


def webhooks(kit: Kit) -> None:
    """Dwolla's webhooks (recorded, redelivered, forged, stale, malformed) and the schedule's
    catch-up of Dwolla's events."""
    exchange = kit.dwolla.seed_exchange("mx")
    exchange_id = str(uuid.uuid4())
    delivery = {
        "id": str(uuid.uuid4()),
        "topic": "customer_exchange_reauth_required",
        "created": iso(kit.clock.now()),
        "_links": {"resource": {"href": f"https://api.dwolla.com/exchanges/{exchange_id}"}},
    }
    raw = json.dumps(delivery)
    kit.webhook(raw)
    kit.webhook(raw)
    kit.webhook(raw, secret="not-the-secret")
    kit.webhook(raw, signature="")
    kit.webhook(raw.replace(exchange_id, str(uuid.uuid4())), signature=sign(raw))
    kit.webhook(
        json.dumps({**delivery, "id": str(uuid.uuid4()), "created": "2020-01-01T00:00:00Z"})
    )
    kit.webhook(json.dumps({**delivery, "id": str(uuid.uuid4()), "created": None}))
    kit.webhook("{not json")
    kit.webhook(json.dumps({"id": "x", "topic": "customer_created"}))
    kit.dwolla.require_reauth(exchange["id"])  # news no webhook brought: the catch-up reads it
    kit.sweep()
    kit.dwolla.inject_fault("/events", method="GET", times=10, status=503)
    kit.dwolla.require_reauth(exchange["id"])
    kit.sweep()


def expiry_sweep(kit: Kit) -> None:
    """Past the deadline: the sweep closes a pending request never taken to the bank and, a
    day later, a verifying one Dwolla never answered for; their links and bindings then only
    show "expired"."""
    _, pending = kit.create(kit.dwolla.seed_exchange("mx")["id"])
    _, waiting = kit.create(kit.dwolla.seed_exchange("mx")["id"])
    browser = kit.browser()
    back = browser.visit_bank(bank_url(browser.click_start(waiting["startUrl"])))
    kit.dwolla.inject_fault("/funding-sources/*/balance", method="GET", times=1000, status=503)
    browser.get(back)
    kit.clock.advance(days=9)
    assert kit.sweep()["expired"] >= 1
    assert kit.read(pending["id"])["status"] == "expired"
    assert kit.read(waiting["id"])["status"] == "expired"
    assert browser.get(pending["startUrl"])["statusCode"] == 410
    assert browser.click_start(pending["startUrl"])["statusCode"] == 410
    assert browser.try_again(_action(waiting["startUrl"]))["statusCode"] == 410
    late = browser.get(back)  # the bank's late return: the "closed" result, not a refusal
    assert late["statusCode"] == 303 and "status=expired" in location(late)
    kit.drain()
    assert "Reauth Session Expired" in {event["detail-type"] for event in kit.events}


def platform_cancels(kit: Kit) -> None:
    """The platform cancels a request; its link's closed page offers "Send me a new link",
    pressed (the platform is told), again (already told), with a forged key, cross-site."""
    _, request = kit.create(kit.dwolla.seed_exchange("mx")["id"])
    assert kit.api("POST", f"/reauth-sessions/{request['id']}/cancel")[0] == 200
    assert kit.api("POST", f"/reauth-sessions/{request['id']}/cancel")[0] == 200
    browser = kit.browser()
    page = browser.get(request["startUrl"])
    assert page["statusCode"] == 410
    assert browser.click_start(request["startUrl"])["statusCode"] == 410
    assert browser.ask_for_new_link(page)["statusCode"] == 200
    assert browser.ask_for_new_link(page)["statusCode"] == 200
    assert browser.ask_for_new_link(page, key="A" * 43)["statusCode"] == 400
    cross_site = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    assert browser.ask_for_new_link(page, headers=cross_site)["statusCode"] == 400
    kit.drain()
    told = {event["detail-type"] for event in kit.events}
    assert {"Reauth Request Cancelled", "Reauth Link Requested"} <= told


def unexpected_crash(kit: Kit) -> None:
    exchange = kit.dwolla.seed_exchange("plaid")
    _, request = kit.create(exchange["id"])
    browser = kit.browser()
    page = browser.click_start(request["startUrl"])
    repository = _service().ctx.repo

    def broken(request_id):
        raise RuntimeError(f"simulated failure reading {request_id}")

    repository.get_request = broken
    try:
        kit.api("GET", f"/reauth-sessions/{request['id']}")
        kit.api("POST", f"/reauth-sessions/{request['id']}/complete", {})
        assert browser.get(request["startUrl"])["statusCode"] == 503
        assert browser.call("HEAD", request["startUrl"])["statusCode"] == 503
        assert browser.click_start(request["startUrl"])["statusCode"] == 503
        assert browser.try_again(_action(request["startUrl"]))["statusCode"] == 503
        assert browser.report_plaid(page, {"outcome": "success"})["statusCode"] == 503
        assert browser.get(f"{CALLBACK_URL}?exchange={exchange['id']}")["statusCode"] == 503
    finally:
        del repository.get_request


def broken_secret(kit: Kit) -> None:
    secrets = kit.functions.session.client("secretsmanager")
    secrets.put_secret_value(
        SecretId=kit.functions.resources.secret_id,
        SecretString=json.dumps({"key": WRONG_KEY, "webhookSecret": WRONG_SECRET}),
    )
    secrets.put_secret_value(
        SecretId=kit.functions.resources.link_secret_id, SecretString="too-short"
    )
    kit.dwolla.expire_tokens()  # the next call mints a token, with the wrong key
    exchange = kit.dwolla.seed_exchange("mx")
    assert kit.create(exchange["id"])[0] == 500
    request_id = str(uuid.uuid4())
    browser = kit.browser()
    assert (
        browser.get(f"{PUBLIC_BASE_URL}/reauth/link/{request_id}?key={'k' * 43}")["statusCode"]
        == 503
    )


SCENARIOS = [
    redirect_success,
    cancel_then_retry,
    plaid_flow,
    platform_run_plaid,
    verifying,
    not_repaired,
    repaired_elsewhere,
    forged_requests,
    api_errors,
    dwolla_rejects_the_credentials,
    dwolla_token_expires,
    dwolla_faults,
    eventbridge_requests,
    webhooks,
    expiry_sweep,
    platform_cancels,
    unexpected_crash,
    broken_secret,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
def test_no_secret_leaves_through_logs_events_answers_or_errors(kit, capsys, scenario):
    scenario(kit)
    out, err = capsys.readouterr()
    kit.assert_no_secret_left(out + err)


def test_the_whole_journey_in_one_container_leaks_nothing(kit, capsys):
    for scenario in SCENARIOS:
        if scenario not in (dwolla_rejects_the_credentials, broken_secret, expiry_sweep):
            scenario(kit)
            kit.dwolla.clear_faults()
            kit.dwolla.set_redirect_urls(CALLBACK_URL)
            kit.dwolla.set_open_banking_scope(True)
    out, err = capsys.readouterr()
    kit.assert_no_secret_left(out + err)
    # They were handed out, so the watch had something to look for.
    assert kit.binding_tokens and kit.csrf_tokens
    assert all(kit.seen.values()), kit.seen
    relayed = {event["detail-type"] for event in kit.events}
    assert relayed >= {
        "Reauth Session Created",
        "Reauth Attempt Failed",
        "Exchange Reauthorized",
        "Exchange Reauth Required",
    }, relayed


# ---- the watch itself ------------------------------------------------------------------------
def _leak_a_dwolla_secret(kit: Kit, monkeypatch) -> None:
    from reauth import lifecycle

    original = lifecycle.Lifecycle.get_request

    def leaky(self, request_id):
        logging.getLogger("reauth.lifecycle").debug("in use", extra={"secret": DWOLLA_SECRET})
        return original(self, request_id)

    monkeypatch.setattr(lifecycle.Lifecycle, "get_request", leaky)
    kit.api("GET", f"/reauth-sessions/{uuid.uuid4()}")


def _log_the_link_key(kit: Kit, monkeypatch) -> None:
    from reauth import journey

    original = journey.BrowserJourney.open_link

    def leaky(self, request_id, key, browser, **options):
        logging.getLogger("reauth.journey").info("link opened", extra={"key": key})
        return original(self, request_id, key, browser, **options)

    monkeypatch.setattr(journey.BrowserJourney, "open_link", leaky)
    _, request = kit.create(kit.dwolla.seed_exchange("mx")["id"])
    kit.browser().get(request["startUrl"])


def _put_the_plaid_token_in_an_event(kit: Kit, monkeypatch) -> None:
    from reauth import verifying as verifying_module

    original = verifying_module.request_detail

    def leaky(request, **extra):  # in a field whose schema allows any string: the contract
        # (docs/events/) refuses a field it does not know, so only the watch can see this one
        token = request.current_attempt.handoff_token
        return {**original(request, **extra), "customerId": token}

    monkeypatch.setattr(verifying_module, "request_detail", leaky)
    _, request = kit.create(kit.dwolla.seed_exchange("plaid")["id"])
    browser = kit.browser()
    page = browser.click_start(request["startUrl"])
    browser.report_plaid(page, {"outcome": "error", "error": "USER_CANCELLED"})


def _show_the_key_on_the_bank_page(kit: Kit, monkeypatch) -> None:
    from reauth import pages

    original = pages.to_bank_page
    _, request = kit.create(kit.dwolla.seed_exchange("mx")["id"])
    key = request["startUrl"].rpartition("key=")[2]

    def leaky(*, platform, bank_url, locale=None):
        page = original(platform=platform, bank_url=bank_url, locale=locale)
        return pages.Page(page.status, page.html + f"<!-- {key} -->", page.csp)

    monkeypatch.setattr(pages, "to_bank_page", leaky)
    kit.browser().click_start(request["startUrl"])


def _echo_the_binding_token(kit: Kit, monkeypatch) -> None:
    from reauth import web

    original = web.html_page

    def leaky(page, headers=None):
        cookie = (headers or {}).get("Set-Cookie", "")
        return original(type(page)(page.status, page.html + cookie, page.csp), headers)

    monkeypatch.setattr(web, "html_page", leaky)
    _, request = kit.create(kit.dwolla.seed_exchange("plaid")["id"])
    kit.browser().click_start(request["startUrl"])


LEAKS = {
    _leak_a_dwolla_secret: "dwolla secret leaked into logs",
    _log_the_link_key: "link key .* leaked into logs",
    _put_the_plaid_token_in_an_event: "plaid token .* leaked into event Reauth Attempt Failed",
    _show_the_key_on_the_bank_page: "link key .* leaked into a 200 answer to POST /reauth/link/",
    _echo_the_binding_token: "binding token .* leaked into a 200 answer to POST /reauth/link/",
}


@pytest.mark.parametrize("leak", LEAKS, ids=[leak.__name__.lstrip("_") for leak in LEAKS])
def test_the_watch_sees_a_leak(kit, capsys, monkeypatch, leak):
    """The check can fail: a service that put a secret where it does not belong is caught,
    also a secret that is allowed somewhere else."""
    leak(kit, monkeypatch)
    out, err = capsys.readouterr()
    with pytest.raises(AssertionError, match=LEAKS[leak]):
        kit.assert_no_secret_left(out + err)


def test_botocore_logs_the_secret_at_debug_unless_the_runtime_holds_it_at_info(kit, capsys):
    """Why runtime holds botocore at INFO: with it at DEBUG, GetSecretValue's answer is logged."""
    from reauth import runtime

    runtime.boto_session()  # the runtime's own setting, made once per container
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
