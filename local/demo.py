"""`make demo`: one whole re-authentication, locally, for real.

The functions run under `sam local start-api` / `sam local invoke` in Docker; Dwolla is the local
sandbox, AWS is moto server. The demo plays the platform backend (HTTP calls to the API, events
on the bus) and the customer, in a real (headless) Chromium: the email and the text message the
service sends (read back from moto's SES and SNS), the link from the email, its button, the
bank, back; Plaid Link through the same kind of link; a cancel and a retry; a refused forgery;
a reminder the schedule sends a minute later to a customer still waiting, and not to one who
reconnected meanwhile. Then it shows what the platform sees: the API's answers, the DynamoDB
records and the events published. It exits 0 only when every step did what it should.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests

from local import mailbox
from local import stack as local_stack
from local.browser import launch_chromium
from local.platform_receiver import PlatformReceiver, doc_snippet
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


class Customer:
    """The customer's browser: Debian's Chromium, headless, at a phone's size (local/browser.py).
    It opens links and clicks buttons; everything else (redirects, the bank's pages, Plaid
    Link's window, the page's report) is the browser's own doing."""

    def __init__(self, browser, **options) -> None:
        self.context = browser.new_context(viewport={"width": 390, "height": 844}, **options)
        self.context.set_default_timeout(90_000)  # sam local start-api may start a container
        self.page = self.context.new_page()

    def open(self, url: str) -> str:
        self.page.goto(url)
        return self.heading()

    def click(self, name: str, until: str) -> str:
        """Click a button and wait until the browser has arrived at a URL matching `until`."""
        self.page.get_by_role("button", name=name).click()
        self.page.wait_for_url(until)
        self.page.wait_for_load_state()
        return self.heading()

    def heading(self) -> str:
        return self.page.locator("h1").inner_text()

    def close(self) -> None:
        self.context.close()


def _short(url: str) -> str:
    """A URL for the screen, with the link's key masked (it is the customer's secret)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    if "key" in query:
        return f"{parts.scheme}://{parts.netloc}{parts.path}?key=…"
    return url


def _json(data) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


def _redact(item: dict) -> dict:
    """A DynamoDB item for the screen: values unwrapped, digests and tokens masked."""
    shown = {}
    for name, value in sorted(item.items()):
        raw = next(iter(value.values()))
        if name == "attempts":
            raw = {aid: sorted(a["M"]) for aid, a in raw.items()}  # which fields, not values
        shown[name] = raw
    return shown


def _contact(name: str) -> dict:
    """A customer's contact details: an address and a number of their own for each run."""
    tag = uuid.uuid4().hex[:8]
    return {
        "email": f"{name.lower()}.{tag}@customer.example",
        "phone": f"+1415555{int(tag, 16) % 10000:04d}",
        "firstName": name,
        "timeZone": "America/New_York",
    }


def _masked(text: str) -> str:
    """A message for the screen, with the link's key masked (it is the customer's secret)."""
    return re.sub(r"key=[^\s\"&<]+", "key=…", text)


def _messages_to(s: Steps, stack: local_stack.Stack, contact: dict, count: int = 1, what: str = ""):
    """The emails and text messages the customer received (moto server keeps them), shown."""
    emails = mailbox.emails(stack.moto_url, to=contact["email"])
    texts = mailbox.text_messages(stack.moto_url, phone=contact["phone"])
    for email in emails:
        body = re.sub(r"<[^>]+>", " ", email.body)
        s.show(f"email from {email.sender} to {contact['email']}: “{email.subject}”")
        s.show(f"    {_masked(' '.join(body.split()))[:300]}")
    for text in texts:
        s.show(f"SMS to {contact['phone']} ({len(text.text)} chars): {_masked(text.text)}")
    plural = "s" if count > 1 else ""
    s.check(
        len(emails) == count and len(texts) == count,
        what or f"{count} email{plural} and {count} text message{plural} to the customer",
    )
    return emails[-1], texts[-1]


def _create(stack: local_stack.Stack, exchange_id: str, body: dict | None = None, **kw):
    return requests.post(
        f"{stack.api_url}/exchanges/{exchange_id}/reauth-sessions", json=body, timeout=60, **kw
    )


def _request(stack: local_stack.Stack, request_id: str) -> dict:
    return requests.get(f"{stack.api_url}/reauth-sessions/{request_id}", timeout=60).json()


def run_flow(s: Steps, stack: local_stack.Stack, browser) -> str:
    """The main journey; returns its request's id."""
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

    s.step("The platform asks this service to re-authenticate the exchange (IAM route)")
    key = f"demo-{uuid.uuid4()}"
    s.show(f"POST {api}/exchanges/{exchange_id}/reauth-sessions   Idempotency-Key: {key}")
    contact = _contact("Ana")
    ask = {"returnUrl": stack.return_url, "customerId": str(uuid.uuid4()), "contact": contact}
    s.show(f"contact: {_json(contact)}")
    created = _create(stack, exchange_id, ask, headers={"Idempotency-Key": key})
    session = created.json()
    s.show(_json({**session, "startUrl": _short(session.get("startUrl") or "")}))
    s.check(created.status_code == 201, "201 Created")
    s.check(created.headers.get("Location") == f"{api}/reauth-sessions/{session['id']}", "Location")
    s.check(session["status"] == "pending" and session["handoff"]["type"] == "redirect", "pending")
    again = _create(stack, exchange_id, ask, headers={"Idempotency-Key": key})
    s.check(
        again.status_code == 200 and again.json()["startUrl"] == session["startUrl"],
        "a retry with the same Idempotency-Key answers the same request and the same link (200)",
    )
    start_url = session["startUrl"]

    s.step("The service emails and texts the customer the link (SES v2 and SNS, on moto server)")
    email, text = _messages_to(s, stack, contact)
    s.check(
        email.links()[0] == start_url and text.links() == [start_url],
        "both carry the request's link, and the retry sent nothing more",
    )
    start_url = email.links()[0]

    s.step("A mail scanner fetches the link in the email first (GET and HEAD, with redirects)")
    for method in ("HEAD", "GET"):
        answer = requests.request(method, start_url, timeout=60, allow_redirects=True)
        s.show(f"{method} {_short(start_url)}  →  {answer.status_code}")
    attempt = _request(stack, session["id"])["attempts"][0]
    s.check(attempt["startedAt"] is None, "nothing changed: the attempt was not started")

    s.step("The customer opens the link from the email (headless Chromium, phone-sized)")
    customer = Customer(browser)
    s.show(f"open {_short(start_url)}  →  “{customer.open(start_url)}”")
    s.check(customer.page.get_by_role("button").count() == 1, "the start page: one button")

    s.step("The customer taps the button: the bank (the sandbox plays it) says yes")
    heading = customer.click("Continue to your bank", f"{stack.return_url}*")
    s.show(f"… bank … callback … {_short(customer.page.url)}: “{heading}”")
    s.check(
        customer.page.url == f"{stack.return_url}?status=reauthorized&session={session['id']}",
        "back at the return URL with status=reauthorized",
    )
    s.check("working again" in customer.page.content(), "the return page says so")
    customer.close()

    s.step("What the platform sees: the request and the exchange, from the API")
    got = _request(stack, session["id"])
    status = requests.get(f"{api}/exchanges/{exchange_id}/reauth-status", timeout=60).json()
    s.show(f"GET /reauth-sessions/{session['id']}\n{_json({**got, 'startUrl': None})}")
    s.show(f"GET /exchanges/{exchange_id}/reauth-status\n{_json(status)}")
    s.check(got["status"] == "reauthorized", "request reauthorized")
    s.check(got["verification"]["result"] == "confirmed", "confirmed by Dwolla's balance check")
    s.check(status["status"] == "reauthorized", "exchange reauthorized")

    s.step("The DynamoDB records")
    db = aws.client("dynamodb")
    for pk in (f"REQUEST#{session['id']}", f"EXCHANGE#{exchange_id}"):
        item = db.get_item(
            TableName=resources.table_name, Key={"pk": {"S": pk}, "sk": {"S": pk.split("#")[0]}}
        ).get("Item")
        s.show(f"{pk}\n{_json(_redact(item or {}))}")
        s.check(item is not None, f"{pk.split('#')[0].lower()} record stored")

    s.step("The EventBridge events published (read through a rule → SQS tap)")
    events = _wait_for_events(aws, resources.tap_queue_url, 4, session["id"])
    for event in events:
        detail = dict(event["detail"])
        if detail.get("startUrl"):
            detail["startUrl"] = _short(detail["startUrl"])
        s.show(f"{event['detail-type']}: {json.dumps(detail, ensure_ascii=False)}")
    kinds = [e["detail-type"] for e in events]
    sent = sorted(e["detail"]["channel"] for e in events if e["detail-type"] == "Reauth Link Sent")
    s.check(
        _numbered(events)
        and kinds[0] == "Reauth Session Created"
        and kinds[-1] == "Exchange Reauthorized"
        and sent == ["email", "sms"],
        "Reauth Session Created, Reauth Link Sent (email, sms), Exchange Reauthorized (1 to 4)",
    )
    s.check(
        not any(contact["email"] in json.dumps(e) for e in events),
        "no event carries the customer's address or number",
    )

    s.step("Dwolla's balance check works again")
    balance = dwolla.balance_error(funding_source)
    s.show(_json(balance))
    s.check("code" not in balance, "no UpdateCredentials any more")
    return str(session["id"])


class Verifying:
    """A customer back from the bank while Dwolla cannot answer: the page says "Almost done" and
    keeps checking on its own; the schedule's re-check (a minute later, with the reminders) ends
    it, and the page, left open meanwhile, turns into the result by itself."""

    def __init__(self, s: Steps, stack: local_stack.Stack, browser) -> None:
        s.step("A customer is back from the bank while Dwolla cannot answer the balance check")
        self.dwolla = dwolla = stack.dwolla()
        exchange = dwolla.seed_exchange("mx")
        self.session = _create(stack, exchange["id"]).json()
        self.customer = Customer(browser)
        self.customer.open(self.session["startUrl"])
        dwolla.inject_fault("/funding-sources/*/balance", method="GET", times=50, status=503)
        try:
            heading = self.customer.click("Continue to your bank", "**/reauth/done*verifying*")
        finally:
            dwolla.clear_faults()
        self.back_at = time.monotonic()
        status = self.customer.page.get_by_role("status").inner_text()
        s.show(f"Dwolla answers 503 → “{heading}” · “{status}” (the page checks on its own)")
        s.check(_request_status(stack, self.session["id"]) == "verifying", "verifying, not lost")

    def finished(self, s: Steps, stack: local_stack.Stack) -> None:
        page = self.customer.page
        page.wait_for_url("**/reauth/done*status=reauthorized*", timeout=30_000)
        heading = page.locator("h1").inner_text()
        s.show(f"the page left open since: “{heading}” (no click, no reload)")
        s.check(heading == "Your bank is connected again", "the verifying page finished by itself")
        self.customer.close()


def _request_status(stack: local_stack.Stack, request_id: str) -> str:
    """The request's status from the table (not the API: its read would re-check with Dwolla)."""
    item = (
        stack.aws()
        .client("dynamodb")
        .get_item(
            TableName=stack.local_resources().table_name,
            Key={"pk": {"S": f"REQUEST#{request_id}"}, "sk": {"S": "REQUEST"}},
        )
    )
    return item["Item"]["status"]["S"]


class Reminders:
    """Two customers told at the same moment, whose first reminder falls due a minute later
    (the local stack's REMINDER_SCHEDULE): one reconnects before it, one does not."""

    def __init__(self, s: Steps, stack: local_stack.Stack) -> None:
        s.step("Two more customers are told (reminders locally: 1 minute after the first message)")
        dwolla = stack.dwolla()
        self.done_early = dwolla.seed_exchange("mx")
        self.waiting = dwolla.seed_exchange("mx")
        self.contacts = {"done_early": _contact("Bo"), "waiting": _contact("Cy")}
        self.sessions = {}
        for name, exchange in (("done_early", self.done_early), ("waiting", self.waiting)):
            body = {"returnUrl": stack.return_url, "contact": self.contacts[name]}
            self.sessions[name] = _create(stack, exchange["id"], body).json()
            s.show(f"request {self.sessions[name]['id']}: emailed and texted {name}")
        self.told_at = time.monotonic()


def run_reminders(
    s: Steps, stack: local_stack.Stack, browser, reminders: Reminders, verifying: Verifying
) -> None:
    s.step("One of them reconnects before the reminder is due, from the link in the text message")
    contact = reminders.contacts["done_early"]
    _, text = _messages_to(s, stack, contact)
    customer = Customer(browser)
    customer.open(text.links()[0])
    customer.click("Continue to your bank", f"{stack.return_url}*")
    customer.close()
    early = _request(stack, reminders.sessions["done_early"]["id"])
    s.check(early["status"] == "reauthorized", "reauthorized: its reminders are silenced")

    s.step("A minute later the schedule runs (sam local invoke ApiFunction, the Scheduled Event)")
    due = max(reminders.told_at, verifying.back_at) + 62  # the reminder; the re-check (1 min)
    time.sleep(max(0.0, due - time.monotonic()))
    command = _invoke_command(stack, ROOT / "events" / "schedule-expiry-sweep.json")
    swept = _invoke(command, stack)
    s.show(f"→ {json.dumps(swept)}")
    s.check(swept.get("messagesSent") == 2, "the schedule sent 2 messages: one reminder, 2 ways")
    email, _ = _messages_to(s, stack, reminders.contacts["waiting"], count=2)
    s.check(email.subject.startswith("Reminder"), "the one still waiting got the reminder")
    _messages_to(s, stack, contact, what="the one who reconnected got nothing more")
    again = _invoke(command, stack)
    s.check(again.get("messagesSent") == 0, "the schedule run again sends nothing twice")
    verifying.finished(s, stack)

    s.step("The platform cancels the other request (POST /reauth-sessions/{id}/cancel, IAM)")
    aws, resources = stack.aws(), stack.local_resources()
    drain_events(aws, resources.tap_queue_url)
    waiting = reminders.sessions["waiting"]
    answer = requests.post(f"{stack.api_url}/reauth-sessions/{waiting['id']}/cancel", timeout=60)
    s.show(f"→ {answer.status_code} status={answer.json().get('status')}")
    s.check(answer.status_code == 200 and answer.json()["status"] == "cancelled", "cancelled")
    events = _wait_for_events(aws, resources.tap_queue_url, 1, waiting["id"], timeout=10)
    s.check(
        [e["detail-type"] for e in events] == ["Reauth Request Cancelled"],
        "one event: Reauth Request Cancelled",
    )
    customer = Customer(browser)
    heading = customer.open(email.links()[0])
    s.show(f"the customer opens the reminder's link → “{heading}”")
    s.check(heading == "This request was cancelled", "a clear closed page, no dead end:")
    heading = customer.click("Send me a new link", "**/renew")
    s.show(f"“Send me a new link” → “{heading}”")
    customer.close()
    events = _wait_for_events(aws, resources.tap_queue_url, 1, waiting["id"], timeout=10)
    s.check(
        [e["detail-type"] for e in events] == ["Reauth Link Requested"],
        "the platform is told: Reauth Link Requested",
    )
    last = _invoke(command, stack)
    s.check(last.get("messagesSent") == 0, "no reminder for a cancelled request")


def run_plaid(s: Steps, stack: local_stack.Stack, browser) -> None:
    s.step("Plaid: the same kind of link opens Plaid Link (the sandbox's stand-in) in update mode")
    exchange_id = local_stack.EXCHANGES["plaid"]
    session = _create(stack, exchange_id, {"returnUrl": stack.return_url}).json()
    s.show(f"handoff: {session['handoff']['type']}   startUrl: {_short(session['startUrl'])}")
    customer = Customer(browser)
    customer.open(session["startUrl"])
    heading = customer.click("Continue to your bank", f"{stack.return_url}*")
    s.show(f"… Plaid Link … the page reports onSuccess … “{heading}”")
    s.check("status=reauthorized" in customer.page.url, "back at the return URL, reauthorized")
    customer.close()
    got = _request(stack, session["id"])
    s.check(got["status"] == "reauthorized", "request reauthorized (Dwolla confirmed)")


def run_plaid_oauth(s: Steps, stack: local_stack.Stack, browser) -> None:
    s.step("An OAuth bank through Plaid: Link leaves for the bank's site and comes back")
    dwolla = stack.dwolla()
    exchange = dwolla.seed_exchange("plaid", plaidBank="oauth")
    session = _create(stack, exchange["id"], {"returnUrl": stack.return_url}).json()
    sent = [x.get("redirectUrl") for x in dwolla.exchange_sessions()][-1:]
    s.show(f"the exchange session's redirect-url: {sent[0] if sent else None}")
    s.check(sent == [stack.plaid_redirect_url], "created with the deployment's PlaidRedirectUrl")
    customer = Customer(browser)
    customer.open(session["startUrl"])
    heading = customer.click("Continue to your bank", f"{stack.sandbox_url}/_plaid/oauth-bank*")
    s.show(f"Plaid Link → the bank's own site: “{heading}”")
    visited: list[str] = []
    customer.page.on("framenavigated", lambda frame: visited.append(frame.url))
    customer.page.get_by_role("link").first.click()
    customer.page.wait_for_url(f"{stack.return_url}*")
    back = f"{stack.plaid_redirect_url}?oauth_state_id="
    s.check(any(url.startswith(back) for url in visited), "the bank sent the browser back")
    s.show(
        f"back at {urlsplit(stack.plaid_redirect_url).path}?oauth_state_id=… → the Plaid page "
        "re-opens Link (same token, receivedRedirectUri) → Link finishes"
    )
    s.check("status=reauthorized" in customer.page.url, "back at the return URL, reauthorized")
    customer.close()
    got = _request(stack, session["id"])
    s.check(
        got["status"] == "reauthorized" and len(got["attempts"]) == 1,
        "reauthorized on the same attempt (no second Dwolla session)",
    )


def run_spanish(s: Steps, stack: local_stack.Stack, browser) -> None:
    s.step('A customer who reads Spanish: contact.locale "es" (the browser says English)')
    exchange = stack.dwolla().seed_exchange("mx")
    contact = {**_contact("Ana"), "locale": "es"}
    session = _create(stack, exchange["id"], {"contact": contact}).json()
    email, text = _messages_to(s, stack, contact)
    s.check(email.subject.endswith("vuelve a conectar tu cuenta bancaria"), "the email in Spanish")
    customer = Customer(browser, locale="en-US")
    heading = customer.open(text.links()[0])
    lang = customer.page.locator("html").get_attribute("lang")
    s.show(f"the link from the text message → <html lang={lang}> “{heading}”")
    s.check(lang == "es" and heading == "Vuelve a conectar tu banco", "the page in Spanish")
    heading = customer.click("Continuar a tu banco", "**/reauth/done*")
    s.show(f"bank → the service's own result page ({_short(customer.page.url)}) → “{heading}”")
    customer.close()
    s.check(heading == "Tu banco está conectado de nuevo", "the result in Spanish too")
    s.check(_request(stack, session["id"])["status"] == "reauthorized", "reauthorized")


INSTAGRAM_ON_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Instagram 334.0.4.32.98 (iPhone15,2; iOS 17_5; en_US; en-US)"
)


def run_in_app(s: Steps, stack: local_stack.Stack, browser) -> None:
    s.step("A customer opens the link inside an app's browser (Instagram's User-Agent)")
    exchange = stack.dwolla().seed_exchange("mx")
    session = _create(stack, exchange["id"], {"returnUrl": stack.return_url}).json()
    customer = Customer(browser, user_agent=INSTAGRAM_ON_IPHONE)
    customer.context.grant_permissions(["clipboard-read", "clipboard-write"])
    heading = customer.open(session["startUrl"])
    s.show(f"→ “{heading}”: banks often refuse logins inside apps")
    s.check(heading == "Open this page in your browser", "the page says how to open the browser")
    customer.page.get_by_role("button", name="Copy link").click()
    copied = customer.page.evaluate("navigator.clipboard.readText()")
    s.check(
        copied == session["startUrl"], "“Copy link” puts the customer's own link on the clipboard"
    )
    heading = customer.click("Continue here anyway", f"{stack.return_url}*")
    s.show(f"“Continue here anyway” → bank → “{heading}”")
    customer.close()
    s.check(
        _request(stack, session["id"])["status"] == "reauthorized", "going on anyway still works"
    )


def run_cancelled(s: Steps, stack: local_stack.Stack, browser) -> None:
    s.step("The customer cancels at the bank, then tries again with the same link")
    dwolla = stack.dwolla()
    exchange = dwolla.seed_exchange("mx", providerOutcome="USER_CANCELLED")
    aws, resources = stack.aws(), stack.local_resources()
    drain_events(aws, resources.tap_queue_url)
    session = _create(stack, exchange["id"]).json()
    customer = Customer(browser)
    customer.open(session["startUrl"])
    heading = customer.click("Continue to your bank", "**/reauth/done*")
    s.show(f"the bank reports USER_CANCELLED → “{heading}”")
    got = _request(stack, session["id"])
    s.show(f"request: status={got['status']}, attempts={[a['state'] for a in got['attempts']]}")
    s.check(got["status"] == "pending", "the request stays open")
    s.check(got["attempts"][0]["reason"] == "USER_CANCELLED", "the attempt failed: USER_CANCELLED")
    dwolla.set_outcome(exchange, "success")
    heading = customer.click("Try again", "**/reauth/done*status=reauthorized*")
    s.show(f"“Try again” → bank → “{heading}”")
    customer.close()
    got = _request(stack, session["id"])
    s.show(f"request: status={got['status']}, attempts={[a['state'] for a in got['attempts']]}")
    s.check(got["status"] == "reauthorized", "reauthorized on the second attempt")
    events = _wait_for_events(aws, resources.tap_queue_url, 3, session["id"])
    kinds = [e["detail-type"] for e in events]
    s.show(f"events, by sequence: {[(e['detail']['sequence'], e['detail-type']) for e in events]}")
    s.check(
        _numbered(events)
        and kinds == ["Reauth Session Created", "Reauth Attempt Failed", "Exchange Reauthorized"],
        "Reauth Attempt Failed, then Exchange Reauthorized (by sequence, not by arrival)",
    )


def run_forgery(s: Steps, stack: local_stack.Stack, browser) -> None:
    from playwright.sync_api import Error as PlaywrightError

    s.step("A forgery: the bound browser claims success without visiting the bank")
    dwolla = stack.dwolla()
    aws, resources = stack.aws(), stack.local_resources()
    drain_events(aws, resources.tap_queue_url)
    exchange = dwolla.seed_exchange("mx")
    session = _create(stack, exchange["id"]).json()
    customer = Customer(browser)
    customer.open(session["startUrl"])
    customer.page.route(re.compile(r".*/_provider/.*"), lambda route: route.abort())
    with customer.page.expect_request(re.compile(r".*/_provider/.*")):
        customer.page.get_by_role("button").click()  # bound, but the bank page never loads
    forged = f"{stack.callback_url}?exchange={exchange['id']}"
    heading = ""
    for _ in range(3):  # the aborted bank page's error page may still be on its way in
        try:
            heading = customer.open(forged)
            break
        except PlaywrightError as interrupted:
            if "interrupted" not in str(interrupted):
                raise
            customer.page.wait_for_timeout(500)
    s.show(f"open {forged} by hand → “{heading}”")
    customer.close()
    got = _request(stack, session["id"])
    balance = dwolla.balance_error(exchange["fundingSourceId"])
    s.show(f"request: status={got['status']}; Dwolla's balance: {balance.get('code')}")
    s.check(got["status"] == "pending", "refused: not reauthorized on the browser's word")
    s.check(balance.get("code") == "UpdateCredentials", "Dwolla agrees: still UpdateCredentials")
    events = _wait_for_events(aws, resources.tap_queue_url, 2, session["id"])
    kinds = [e["detail-type"] for e in events]
    s.show(f"events, by sequence: {kinds}")
    s.check(
        _numbered(events) and kinds == ["Reauth Session Created", "Reauth Attempt Failed"],
        "the claim ended the attempt (NOT_REPAIRED); no Exchange Reauthorized",
    )


def run_eventbridge(s: Steps, stack: local_stack.Stack) -> None:
    s.step("An EventBridge-triggered request: the platform forwards Dwolla's UpdateCredentials")
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
    command = _invoke_command(stack, Path(handle.name))
    s.show("sam local invoke ApiFunction -e <that event> " + " ".join(command[6:]))
    result = _invoke(command, stack)
    s.show(f"→ {json.dumps(result)}")
    s.check(bool(result.get("sessionId")), "ApiFunction (in Docker) created a request")
    got = requests.get(f"{stack.api_url}/reauth-sessions/{result['sessionId']}", timeout=60).json()
    s.show(f"GET /reauth-sessions/{got['id']}")
    s.show(f"    status={got['status']}, handoff={got['handoff']['type']}")
    s.check(got["exchangeId"] == exchange["id"] and got["status"] == "pending", "pending")
    events = _wait_for_events(aws, resources.tap_queue_url, 1, result["sessionId"])
    s.show(f"event: {events[0]['detail-type'] if events else None}")
    s.check(
        [e["detail-type"] for e in events] == ["Reauth Session Created"]
        and events[0]["detail"]["trigger"] == "event",
        "Reauth Session Created (trigger: event)",
    )
    again = _invoke(command, stack)
    s.check(again.get("sessionId") == result["sessionId"], "a redelivery makes no second request")
    Path(handle.name).unlink()


def run_platform_webhooks(s: Steps, stack: local_stack.Stack, receiver, request_id: str) -> None:
    s.step("A platform off AWS: the same events POSTed to its URL, signed (PlatformWebhookUrl)")
    secret_id = (stack.platform_webhook or {})["secret_id"]
    secret = stack.aws().client("secretsmanager").get_secret_value(SecretId=secret_id)
    verify, seen = doc_snippet()["verify"], set()

    def of_the_request(hooks) -> list[dict]:  # the journey's, as the platform reads them
        bodies = [json.loads(hook.body) for hook in hooks]
        return [b for b in bodies if b["detail"].get("sessionId") == request_id]

    got = receiver.wait_for(lambda hooks: len(of_the_request(hooks)) >= 4, timeout=60)
    received = [verify(secret["SecretString"], r.headers, r.body, seen) for r in got]
    first = got[0].headers
    s.show(f"POST {receiver.url}  X-Reauth-Timestamp: {first.get('X-Reauth-Timestamp')}")
    s.show(f"    X-Reauth-Signature-SHA-256: {first.get('X-Reauth-Signature-SHA-256', '')[:16]}…")
    journey = sorted(of_the_request(got), key=lambda b: b["detail"]["sequence"])
    s.show("the journey's: " + ", ".join(b["type"] for b in journey))
    s.check(
        all(event is not None for event in received),
        f"{len(got)} webhooks so far, each verified by the receiver code in "
        "docs/platform-webhooks.md",
    )
    s.check(
        [b["type"] for b in journey][:1] == ["Reauth Session Created"]
        and [b["type"] for b in journey][-1:] == ["Exchange Reauthorized"],
        "the platform heard of the request and of the repaired exchange without AWS",
    )


def run_dwolla_webhook(s: Steps, stack: local_stack.Stack) -> None:
    s.step("Dwolla's own news: its webhook subscription delivers customer_exchange_reauth_required")
    status, said = local_stack.subscribe_webhooks(stack, "check")
    for line in said.strip().splitlines():
        s.show(line)
    s.check(status == 0, "make dwolla-webhooks ACTION=check: this stack's subscription is active")
    exchange = stack.dwolla().seed_exchange("mx", fundingSourceId=str(uuid.uuid4()))
    aws, resources = stack.aws(), stack.local_resources()
    stack.dwolla().require_reauth(exchange["id"])
    s.show(f"the sandbox POSTs a signed webhook to {stack.api_url}/webhooks/dwolla")
    found: list[dict] = []
    deadline = time.monotonic() + 60
    while not found and time.monotonic() < deadline:
        found = [
            e
            for e in drain_events(aws, resources.tap_queue_url, wait_seconds=1)
            if e["detail-type"] == "Exchange Reauth Required"
            and e["detail"].get("exchangeId") == exchange["id"]
        ]
    s.show(f"event: {json.dumps(found[0]['detail']) if found else None}")
    s.check(bool(found), "the service verified it and told the platform: Exchange Reauth Required")


def _invoke_command(stack: local_stack.Stack, event_file: Path) -> list[str]:
    """`sam local invoke ApiFunction -e <event_file>` against the local stack."""
    return [
        str(local_stack.SAM),
        "local",
        "invoke",
        "ApiFunction",
        "-e",
        str(event_file),
        *local_stack.sam_local_args(stack),
    ]


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


def _wait_for_events(
    aws, queue_url: str, count: int, session_id: str, timeout: float = 15.0
) -> list[dict]:
    """`count` distinct events of request `session_id` off the bus, as a consumer reads them:
    deduped on `eventId` (the relay delivers at least once), another request's ignored (an
    earlier step's may still be on its way) and ordered by `sequence`, never by arrival
    (neither EventBridge nor SQS promises an order)."""
    found: dict[str, dict] = {}
    deadline = time.monotonic() + timeout
    while len(found) < count and time.monotonic() < deadline:
        for event in drain_events(aws, queue_url, wait_seconds=1):
            if event["detail"].get("sessionId") == session_id:
                found.setdefault(event["detail"]["eventId"], event)
    return sorted(found.values(), key=lambda e: e["detail"]["sequence"])


def _numbered(events: list[dict]) -> bool:
    """One request's events numbered 1, 2, 3 … with no gap (what `sequence` promises)."""
    return [e["detail"]["sequence"] for e in events] == list(range(1, len(events) + 1))


def main() -> int:
    from playwright.sync_api import Error as PlaywrightError

    s = Steps()
    started = time.monotonic()
    print(f"{BOLD}dwolla-reauth demo{RESET}: the whole re-authentication flow, locally, for real")
    s.step("Bringing the local stack up (moto server, Dwolla sandbox, sam local start-api)")
    existing = local_stack.Stack.load()
    if existing and local_stack._alive(existing):
        raise SystemExit("a local stack is already up: run `make down` first")
    receiver = PlatformReceiver().__enter__()  # the platform's backend off AWS
    os.environ["PLATFORM_WEBHOOK_URL"] = receiver.url
    stack = local_stack.up(log=s.show)
    s.show(f"API {stack.api_url} · Dwolla sandbox {stack.sandbox_url} · moto {stack.moto_url}")
    try:
        reminders = Reminders(s, stack)
        with launch_chromium() as browser:
            verifying = Verifying(s, stack, browser)
            journey = run_flow(s, stack, browser)
            run_platform_webhooks(s, stack, receiver, journey)
            run_plaid(s, stack, browser)
            run_plaid_oauth(s, stack, browser)
            run_spanish(s, stack, browser)
            run_in_app(s, stack, browser)
            run_cancelled(s, stack, browser)
            run_forgery(s, stack, browser)
            run_eventbridge(s, stack)
            run_dwolla_webhook(s, stack)
            run_reminders(s, stack, browser, reminders, verifying)
    except (DemoFailed, requests.RequestException, KeyError, PlaywrightError) as failure:
        print(f"\n{RED}Demo failed: {failure!r}{RESET}  (logs: {stack.logs})")
        return 1
    finally:
        s.step("Stopping the local stack")
        local_stack.down(stack, log=s.show)
        receiver.__exit__(None, None, None)
    print(
        f"\n{GREEN}{BOLD}All {s.checks} checks passed{RESET} in {s.number} steps "
        f"({time.monotonic() - started:.0f} s)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
