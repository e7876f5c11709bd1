"""The link delivered, end to end: ApiFunction under `sam local` in Docker sends it through moto
server's SES v2 and SNS (the local stack turns both channels on), the messages are read back the
way the demo reads them (local/mailbox.py: moto's /moto-api/data.json), and the customer opens
the link from the message in Chromium. Reminders are sent by the schedule, itself run with
`sam local invoke`.

Time is an input here too: instead of waiting for the local stack's first reminder (a minute
after the first message), a test moves the request's due time in the reminders index back, as
the passing of that minute would have (the index's `gsi2sk`, the only field the schedule reads
to find due reminders); the claim's own conditions (open, before the deadline, slot not taken)
are untouched.
"""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest

from local import mailbox
from local.stack import ROOT
from tests.support.browser_fixtures import browser, phone  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("clean")]
SWEEP = ROOT / "events" / "schedule-expiry-sweep.json"
START_BUTTON = "Continue to your bank"
TIMEOUT_MS = 60_000


def _contact(name: str) -> dict:
    tag = uuid.uuid4().hex[:8]
    return {
        "email": f"{name}.{tag}@customer.example",
        "phone": f"+1415555{int(tag, 16) % 10000:04d}",
        "firstName": name.title(),
        "timeZone": "America/Chicago",
    }


def _inbox(stack, contact: dict) -> tuple[list[mailbox.Email], list[mailbox.TextMessage]]:
    return (
        mailbox.emails(stack.moto_url, to=contact["email"]),
        mailbox.text_messages(stack.moto_url, phone=contact["phone"]),
    )


def _new_request(api, dwolla, stack, contact: dict) -> dict:
    exchange = dwolla.seed_exchange("mx")
    answer = api.create(exchange["id"], {"returnUrl": stack.return_url, "contact": contact})
    assert answer.status_code == 201, answer.text
    return answer.json()


def _reconnect_in_chromium(phone, link: str, stack) -> str:  # noqa: F811
    page = phone.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(link)
    page.get_by_role("button", name=START_BUTTON).click()
    page.wait_for_url(re.compile(re.escape(stack.return_url)))
    url = page.url
    page.close()
    return url


def test_the_link_emailed_and_texted_reauthorizes_in_the_browser(
    stack,
    api,
    dwolla,
    published,
    phone,  # noqa: F811
):
    contact = _contact("ana")
    session = _new_request(api, dwolla, stack, contact)

    [email], [text] = _inbox(stack, contact)
    assert email.sender.endswith("<reauth@acme-pay.example>")
    assert email.subject == "Acme Pay: reconnect your bank account"
    assert "Hi Ana," in email.body
    assert email.links() == [session["startUrl"]]
    assert text.links() == [session["startUrl"]] and len(text.text) <= 160

    url = _reconnect_in_chromium(phone, email.links()[0], stack)
    assert url == f"{stack.return_url}?status=reauthorized&session={session['id']}"
    assert api.session(session["id"]).json()["status"] == "reauthorized"

    events = [
        e
        for e in published(expect="Exchange Reauthorized", timeout=30)
        if e["detail"].get("sessionId") == session["id"]
    ]
    sent = [e["detail"] for e in events if e["detail-type"] == "Reauth Link Sent"]
    assert sorted((d["channel"], d["slot"]) for d in sent) == [("email", 0), ("sms", 0)]
    raw = json.dumps(events)
    assert contact["email"] not in raw and contact["phone"] not in raw


def _make_due(aws, stack, request_id: str) -> None:
    """The minute to the first reminder, passed: the reminders index's due time moved back."""
    aws.client("dynamodb").update_item(
        TableName=stack.resources["table_name"],
        Key={"pk": {"S": f"REQUEST#{request_id}"}, "sk": {"S": "REQUEST"}},
        UpdateExpression="SET gsi2sk = :due",
        ConditionExpression="attribute_exists(gsi2sk)",
        ExpressionAttributeValues={":due": {"N": str(int(time.time()) - 60)}},
    )


def test_a_due_reminder_is_sent_once_and_never_to_a_customer_who_reconnected(
    stack,
    api,
    dwolla,
    aws,
    sam_invoke,
    phone,  # noqa: F811
):
    waiting, reconnected = _contact("cy"), _contact("bo")
    waiting_session = _new_request(api, dwolla, stack, waiting)
    done_session = _new_request(api, dwolla, stack, reconnected)
    _make_due(aws, stack, waiting_session["id"])
    _make_due(aws, stack, done_session["id"])
    [text] = _inbox(stack, reconnected)[1]
    _reconnect_in_chromium(phone, text.links()[0], stack)  # from the SMS this time

    swept = sam_invoke("ApiFunction", SWEEP).result
    assert swept["messagesSent"] >= 2, swept  # another test's due request may be in this run
    emails, texts = _inbox(stack, waiting)
    assert [e.subject for e in emails] == [
        "Acme Pay: reconnect your bank account",
        "Reminder from Acme Pay: reconnect your bank account",
    ]
    assert len(texts) == 2 and texts[1].links() == [waiting_session["startUrl"]]
    assert [len(m) for m in _inbox(stack, reconnected)] == [1, 1]  # silenced by the success

    sam_invoke("ApiFunction", SWEEP)  # a second run (or a retried one) sends no slot twice
    assert [len(m) for m in _inbox(stack, waiting)] == [2, 2]
    got = api.session(waiting_session["id"]).json()
    assert got["status"] == "pending"


def test_a_cancelled_link_is_a_clear_closed_page_that_asks_for_a_new_link(
    stack,
    api,
    dwolla,
    published,
    sam_invoke,
    aws,
    phone,  # noqa: F811
):
    contact = _contact("dee")
    session = _new_request(api, dwolla, stack, contact)
    _make_due(aws, stack, session["id"])
    cancelled = api.call("POST", f"/reauth-sessions/{session['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"

    [email], _ = _inbox(stack, contact)
    page = phone.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    answer = page.goto(email.links()[0])
    assert answer.status == 410
    assert page.locator("h1").inner_text() == "This request was cancelled"
    page.get_by_role("button", name="Send me a new link").click()
    page.wait_for_url(re.compile(r"/renew$"))
    assert page.locator("h1").inner_text() == "We've asked for a new link"
    page.close()

    events = [
        e
        for e in published(expect="Reauth Link Requested", timeout=30)
        if e["detail"].get("sessionId") == session["id"]
    ]
    kinds = [e["detail-type"] for e in events]
    assert kinds.count("Reauth Request Cancelled") == 1
    assert kinds.count("Reauth Link Requested") == 1
    sam_invoke("ApiFunction", SWEEP)  # its reminder was due: cancelled, it never goes
    assert [len(m) for m in _inbox(stack, contact)] == [1, 1]
