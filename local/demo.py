"""`make demo`: one whole re-authentication, locally, for real.

The functions run under `sam local start-api` / `sam local invoke` in Docker; Dwolla is the local
sandbox, AWS is moto server. The demo plays the platform backend (HTTP calls to the API, events
on the bus) and the customer's browser (start link → bank page → callback → return page), then
shows what the platform sees: the API's answers, the DynamoDB records and the events published.
It exits 0 only when every step did what it should.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import uuid
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests
from requests.cookies import extract_cookies_to_jar, get_cookie_header

from local import stack as local_stack
from local.provision import drain_events, put_platform_event, subscribe_to_requests

ROOT = Path(__file__).resolve().parent.parent
BOLD, GREEN, RED, DIM, RESET = "\033[1m", "\033[32m", "\033[31m", "\033[2m", "\033[0m"
if not sys.stdout.isatty():
    BOLD = GREEN = RED = DIM = RESET = ""


class DemoFailed(Exception):
    pass


class Steps:
    def __init__(self) -> None:
        self.number = 0
        self.checks = 0

    def step(self, title: str) -> None:
        self.number += 1
        print(f"\n{BOLD}==> {self.number}. {title}{RESET}")

    def show(self, text: str) -> None:
        for line in text.splitlines():
            print(f"    {line}")

    def check(self, ok: bool, what: str) -> None:
        self.checks += 1
        if not ok:
            print(f"    {RED}✗ {what}{RESET}")
            raise DemoFailed(what)
        print(f"    {GREEN}✓{RESET} {what}")


class LoopbackIsSecure(DefaultCookiePolicy):
    """Browsers treat http://127.0.0.1 and localhost as secure contexts and send Secure cookies
    there; Python's cookie jar does not. This policy does what a browser does."""

    def return_ok_secure(self, cookie, request) -> bool:
        host = urlsplit(request.get_full_url()).hostname
        return host in ("127.0.0.1", "localhost") or super().return_ok_secure(cookie, request)


class Browser:
    """The customer's browser: keeps cookies, follows redirects one hop at a time.
    (Its own jar: a requests.Session copies cookies into a jar with the default policy.)"""

    def __init__(self) -> None:
        self.jar = CookieJar(policy=LoopbackIsSecure())

    def open(self, url: str) -> requests.Response:
        request = requests.Request("GET", url).prepare()
        cookie = get_cookie_header(self.jar, request)
        if cookie:
            request.headers["Cookie"] = cookie
        with requests.Session() as http:
            response = http.send(request, allow_redirects=False, timeout=60)
        extract_cookies_to_jar(self.jar, request, response.raw)
        return response


def _short(url: str) -> str:
    """A URL for the screen, with the start key masked (it is a one-time secret)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if "key" in query:
        return f"{parts.scheme}://{parts.netloc}{parts.path}?key=…"
    return url


def _json(data) -> str:
    return json.dumps(data, indent=2, sort_keys=False)


def _redact(item: dict) -> dict:
    """A DynamoDB item for the screen: values unwrapped, digests and tokens masked."""
    shown = {}
    for name, value in sorted(item.items()):
        raw = next(iter(value.values()))
        if name in ("startKeyHash", "bindingHash", "handoffToken"):
            raw = "…(masked)"
        shown[name] = raw
    return shown


def run_flow(s: Steps, stack: local_stack.Stack) -> None:
    api = stack.api_url
    exchange_id = local_stack.EXCHANGES["mx"]
    funding_source = local_stack.FUNDING_SOURCES["mx"]
    dwolla = stack.dwolla()
    aws = stack.aws()
    resources = stack.local_resources()
    drain_events(aws, resources.tap_queue_url)  # start from an empty tap

    s.step("The platform checks a balance at Dwolla and is told to re-authenticate")
    body = dwolla.balance_error(funding_source)
    s.show(_json(body))
    s.check(body.get("code") == "UpdateCredentials", "Dwolla answers 400 UpdateCredentials")

    s.step("The platform asks this service for a re-authentication session (IAM route)")
    key = f"demo-{uuid.uuid4()}"
    s.show(f"POST {api}/exchanges/{exchange_id}/reauth-sessions   Idempotency-Key: {key}")
    created = requests.post(
        f"{api}/exchanges/{exchange_id}/reauth-sessions",
        json={"returnUrl": stack.return_url, "customerId": str(uuid.uuid4())},
        headers={"Idempotency-Key": key},
        timeout=60,
    )
    session = created.json()
    s.show(
        _json({**session, "startUrl": _short(session.get("startUrl") or "")}).replace(
            "\\u2026", "…"
        )
    )
    s.check(created.status_code == 201, "201 Created")
    s.check(created.headers.get("Location") == f"/reauth-sessions/{session['id']}", "Location")
    s.check(session["status"] == "pending" and session["handoff"]["type"] == "redirect", "pending")
    again = requests.post(
        f"{api}/exchanges/{exchange_id}/reauth-sessions",
        json={"returnUrl": stack.return_url, "customerId": session["customerId"]},
        headers={"Idempotency-Key": key},
        timeout=60,
    )
    s.check(
        again.status_code == 200 and again.json()["id"] == session["id"],
        "a retry with the same Idempotency-Key returns the same session (200)",
    )
    start_url = again.json()["startUrl"]  # the replay handed out a fresh link

    s.step("The customer opens the start link")
    browser = Browser()
    started = browser.open(start_url)
    s.show(f"GET {_short(start_url)}  →  {started.status_code}")
    s.show(f"    Location: {started.headers.get('Location')}")
    cookie = started.headers.get("Set-Cookie", "")
    attributes = [part.strip() for part in cookie.split(";")[1:]]
    s.show(f"Set-Cookie: reauth_binding=…; {'; '.join(attributes)}")
    s.check(started.status_code == 302, "302 to the bank's page")
    s.check(all(a in cookie for a in ("HttpOnly", "Secure", "SameSite=Lax")), "binding cookie set")

    s.step("At the bank (the sandbox plays it): the login succeeds")
    bank = browser.open(started.headers["Location"])
    back = bank.headers.get("Location", "")
    s.show(f"GET {started.headers['Location']}  →  {bank.status_code}  Location: {back}")
    s.check(back == f"{stack.callback_url}?exchange={exchange_id}", "back to the callback")

    s.step("The callback checks the browser's binding and Dwolla's exchange, then returns")
    landed = browser.open(back)
    done_url = landed.headers.get("Location", "")
    s.show(f"GET {back}  →  {landed.status_code}  Location: {done_url}")
    s.check(landed.status_code == 302, "302 to the return URL")
    s.check(
        done_url == f"{stack.return_url}?status=reauthorized&session={session['id']}",
        "status=reauthorized",
    )
    page = browser.open(done_url)
    s.show(f"GET {done_url}  →  {page.status_code}: “{_page_text(page.text)}”")
    s.check(page.status_code == 200 and "working again" in page.text, "the return page")
    reload = browser.open(back)
    s.check(reload.headers.get("Location") == done_url, "a reload of the callback: the same answer")

    s.step("What the platform sees: the session and the exchange, from the API")
    got = requests.get(f"{api}/reauth-sessions/{session['id']}", timeout=60).json()
    status = requests.get(f"{api}/exchanges/{exchange_id}/reauth-status", timeout=60).json()
    s.show(f"GET /reauth-sessions/{session['id']}\n{_json(got)}")
    s.show(f"GET /exchanges/{exchange_id}/reauth-status\n{_json(status)}")
    s.check(got["status"] == "reauthorized", "session reauthorized")
    s.check(status["status"] == "reauthorized", "exchange reauthorized")

    s.step("The DynamoDB records")
    db = aws.client("dynamodb")
    for pk in (f"SESSION#{session['id']}", f"EXCHANGE#{exchange_id}"):
        item = db.get_item(
            TableName=resources.table_name, Key={"pk": {"S": pk}, "sk": {"S": pk.split("#")[0]}}
        ).get("Item")
        s.show(f"{pk}\n{_json(_redact(item or {}))}")
        s.check(item is not None, f"{pk.split('#')[0].lower()} record stored")

    s.step("The EventBridge events published (read through a rule → SQS tap)")
    events = _wait_for_events(aws, resources.tap_queue_url, 2)
    for event in events:
        detail = dict(event["detail"])
        if detail.get("startUrl"):
            detail["startUrl"] = _short(detail["startUrl"])
        s.show(f"{event['detail-type']}: {json.dumps(detail, ensure_ascii=False)}")
    kinds = [e["detail-type"] for e in events]
    s.check(
        kinds == ["Reauth Session Created", "Exchange Reauthorized"],
        "Reauth Session Created, then Exchange Reauthorized (once, despite the reload)",
    )

    s.step("Dwolla's balance check works again")
    balance = dwolla.balance_error(funding_source)
    s.show(_json(balance))
    s.check("code" not in balance, "no UpdateCredentials any more")


def run_cancelled(s: Steps, stack: local_stack.Stack) -> None:
    s.step("A failed attempt: the customer cancels at the bank (USER_CANCELLED)")
    dwolla = stack.dwolla()
    exchange = dwolla.seed_exchange("mx", providerOutcome="USER_CANCELLED")
    aws, resources = stack.aws(), stack.local_resources()
    session = requests.post(
        f"{stack.api_url}/exchanges/{exchange['id']}/reauth-sessions", timeout=60
    ).json()
    browser = Browser()
    started = browser.open(session["startUrl"])
    back = browser.open(started.headers["Location"]).headers.get("Location", "")
    landed = browser.open(back)
    s.show(f"bank → {back}\ncallback → {landed.headers.get('Location')}")
    got = requests.get(f"{stack.api_url}/reauth-sessions/{session['id']}", timeout=60).json()
    s.show(f"session: status={got['status']} failureReason={got.get('failureReason')}")
    s.check(back == f"{stack.callback_url}?error=USER_CANCELLED", "the bank reports the cancel")
    s.check(
        got["status"] == "failed" and got.get("failureReason") == "USER_CANCELLED",
        "session failed, reason USER_CANCELLED",
    )
    kinds = [e["detail-type"] for e in _wait_for_events(aws, resources.tap_queue_url, 2)]
    s.show(f"events: {kinds}")
    s.check(kinds == ["Reauth Session Created", "Reauth Session Failed"], "Reauth Session Failed")


def run_eventbridge(s: Steps, stack: local_stack.Stack) -> None:
    s.step("An EventBridge-triggered session: the platform forwards Dwolla's UpdateCredentials")
    dwolla = stack.dwolla()
    exchange = dwolla.seed_exchange("plaid", fundingSourceId=str(uuid.uuid4()))
    aws, resources = stack.aws(), stack.local_resources()
    queue = subscribe_to_requests(aws, resources, f"{resources.table_name}-demo-requests")
    detail = dwolla.balance_error(exchange["fundingSourceId"])
    put_platform_event(aws, resources, "Dwolla UpdateCredentials", detail)
    delivered = drain_events(aws, queue, wait_seconds=5)
    s.show(f"put on bus {resources.event_bus_name}: detail-type “Dwolla UpdateCredentials”")
    s.check(len(delivered) == 1, "the template's rule matches it")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(delivered[0], handle)
    command = [
        str(local_stack.SAM),
        "local",
        "invoke",
        "ApiFunction",
        "-e",
        handle.name,
        *local_stack.sam_local_args(stack),
    ]
    s.show("sam local invoke ApiFunction -e <that event> " + " ".join(command[6:]))
    result = _invoke(command, stack)
    s.show(f"→ {json.dumps(result)}")
    s.check(bool(result.get("sessionId")), "ApiFunction (in Docker) created a session")
    got = requests.get(f"{stack.api_url}/reauth-sessions/{result['sessionId']}", timeout=60).json()
    s.show(f"GET /reauth-sessions/{got['id']}")
    s.show(f"    status={got['status']}, handoff={got['handoff']['type']}")
    s.check(got["exchangeId"] == exchange["id"] and got["status"] == "pending", "pending")
    events = _wait_for_events(aws, resources.tap_queue_url, 1)
    s.show(f"event: {events[0]['detail-type'] if events else None}")
    s.check(
        [e["detail-type"] for e in events] == ["Reauth Session Created"]
        and events[0]["detail"]["trigger"] == "event",
        "Reauth Session Created (trigger: event)",
    )
    again = _invoke(command, stack)
    s.check(again.get("sessionId") == result["sessionId"], "a redelivery makes no second session")
    Path(handle.name).unlink()


def _invoke(command: list[str], stack: local_stack.Stack) -> dict:
    """sam local invoke, retried once (the very first invoke on a machine can fail once)."""
    for attempt in (1, 2):
        answer = subprocess.run(
            command,
            cwd=ROOT,
            env=local_stack.sam_environment(stack),
            capture_output=True,
            text=True,
        )
        lines = [line for line in answer.stdout.strip().splitlines() if line.startswith("{")]
        if answer.returncode == 0 and lines:
            return json.loads(lines[-1])
        if attempt == 2:
            raise DemoFailed(f"sam local invoke failed:\n{answer.stderr[-2000:]}")
    return {}


def _wait_for_events(aws, queue_url: str, count: int, timeout: float = 15.0) -> list[dict]:
    found: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(found) < count and time.monotonic() < deadline:
        found += drain_events(aws, queue_url, wait_seconds=1)
    return sorted(found, key=lambda e: e["time"])


def _page_text(html: str) -> str:
    start = html.find("<p>")
    return html[start + 3 : html.find("</p>", start)] if start >= 0 else html[:80]


def main() -> int:
    s = Steps()
    started = time.monotonic()
    print(f"{BOLD}dwolla-reauth demo{RESET}: the whole re-authentication flow, locally, for real")
    s.step("Bringing the local stack up (moto server, Dwolla sandbox, sam local start-api)")
    existing = local_stack.Stack.load()
    if existing and local_stack._alive(existing):
        raise SystemExit("a local stack is already up: run `make down` first")
    stack = local_stack.up(log=s.show)
    s.show(f"API {stack.api_url} · Dwolla sandbox {stack.sandbox_url} · moto {stack.moto_url}")
    try:
        run_flow(s, stack)
        run_cancelled(s, stack)
        run_eventbridge(s, stack)
    except (DemoFailed, requests.RequestException, KeyError) as failure:
        print(f"\n{RED}Demo failed: {failure!r}{RESET}  (logs: {stack.logs})")
        return 1
    finally:
        s.step("Stopping the local stack")
        local_stack.down(stack, log=s.show)
    print(
        f"\n{GREEN}{BOLD}All {s.checks} checks passed{RESET} in {s.number} steps "
        f"({time.monotonic() - started:.0f} s)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
