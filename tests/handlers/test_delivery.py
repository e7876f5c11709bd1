"""The link delivered: the first message at create, reminders on the schedule, silenced by
every close, at most one message per slot, the contact never leaving the request's item.

SES (v2) and SNS are moto's, in process: moto records what they sent (its SES backend keeps an
email's subject and HTML body, its SNS backend every SMS). The service's clock is frozen at a
chosen instant (quiet hours depend on the hour), then moved by the test.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime

import pytest

from tests.support.apigw import LambdaContext, eventbridge_event, scheduled_event
from tests.support.clock import FrozenClock
from tests.support.constants import PUBLIC_BASE_URL
from tests.support.functions import new_container, serve
from tests.support.table import table_items

SENDER = "no-reply@acme.example"
ACCOUNT, REGION = "123456789012", "us-east-1"
# Tuesday 10 March 2026, 14:00 UTC: 10:00 in New York (EDT), 23:00 in Tokyo (quiet hours).
START = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
NEW_YORK = {"email": "ada@example.com", "phone": "+12125550123", "firstName": "Ada",
            "locale": "en-US", "timeZone": "America/New_York"}  # fmt: skip
TOKYO = {"email": "ken@example.jp", "phone": "+819012345678", "timeZone": "Asia/Tokyo"}
PERSONAL = ("ada@example.com", "+12125550123", "Ada", "ken@example.jp", "+819012345678")


@pytest.fixture
def channels(functions, monkeypatch):
    """Email (SES v2, the sender verified) and SMS (SNS) on, the clock frozen at START."""
    ses = functions.session.client("sesv2")
    ses.create_email_identity(EmailIdentity=SENDER)
    monkeypatch.setenv("EMAIL_SENDER", SENDER)
    monkeypatch.setenv("SMS_ENABLED", "true")
    new_container()
    clock = FrozenClock(START)
    serve(clock=clock.now)
    return clock


def _emails() -> list:
    from moto.ses.models import ses_backends

    return list(ses_backends[ACCOUNT][REGION].sent_messages)


def _sms() -> list[tuple[str, str]]:
    from moto.sns.models import sns_backends

    return list(sns_backends[ACCOUNT][REGION].sms_messages.values())


def _sweep(functions) -> dict:
    return functions.api.handler(scheduled_event(), LambdaContext())


def _create(api, dwolla, contact, partner="mx"):
    exchange = dwolla.seed_exchange(partner)
    status, session, _ = api.create(exchange["id"], {"contact": contact})
    assert status == 201
    return exchange, session


def _item(functions, session_id: str) -> dict:
    return next(i for i in table_items(functions) if i["pk"]["S"] == f"REQUEST#{session_id}")


def _of(published_events, *types) -> list[dict]:
    return [e for e in published_events if e["detail-type"] in types]


# ---- the first message ---------------------------------------------------------------------
def test_the_first_message_goes_by_email_and_sms_at_create(
    functions, api, dwolla, channels, published
):
    _, session = _create(api, dwolla, NEW_YORK)

    [email] = _emails()
    assert email.destinations == {"ToAddresses": ["ada@example.com"]}
    assert email.source == f'"Acme Pay" <{SENDER}>'
    assert email.subject == "Acme Pay: reconnect your bank account"
    html = email.body
    assert "Hi Ada," in html and "Acme Pay can no longer reach your bank account" in html
    assert session["startUrl"].replace("&", "&amp;") in html or session["startUrl"] in html
    assert "Tuesday, March 17, 2026 at 10:00 AM (EDT)" in html  # the deadline, New York time
    [(phone, text)] = _sms()
    assert phone == "+12125550123"
    assert text.startswith("Acme Pay: ") and text.endswith(session["startUrl"])
    sent = _of(published(), "Reauth Link Sent")
    assert sorted((e["detail"]["channel"], e["detail"]["slot"]) for e in sent) == [
        ("email", 0),
        ("sms", 0),
    ]
    assert [m["M"]["channel"]["S"] for m in _item(functions, session["id"])["messages"]["L"]] == [
        "email",
        "sms",
    ]


def test_the_sms_fits_one_gsm7_segment_with_the_link(functions, api, dwolla, channels):
    from reauth.messages import sms_segments, sms_units

    _, session = _create(api, dwolla, {"phone": "+12125550123"})

    [(_, text)] = _sms()
    gsm, units = sms_units(text)
    assert PUBLIC_BASE_URL in text and session["startUrl"] in text
    assert gsm and units <= 160 and sms_segments(text) == 1


def test_an_event_made_request_carries_its_contact_too(functions, dwolla, channels):
    exchange = dwolla.seed_exchange("mx")
    detail = {"exchangeId": exchange["id"], "contact": {"email": "ada@example.com"}}

    result = functions.api.handler(
        eventbridge_event("Exchange Reauth Requested", detail), LambdaContext()
    )

    assert result["sessionId"] and len(_emails()) == 1 and _sms() == []


def test_without_a_contact_nothing_is_sent_and_nothing_is_indexed(functions, api, dwolla, channels):
    exchange = dwolla.seed_exchange("mx")
    _, session, _ = api.create(exchange["id"])
    channels.advance(days=1, minutes=5)
    _sweep(functions)

    assert _emails() == [] and _sms() == []
    assert "gsi2pk" not in _item(functions, session["id"])


@pytest.mark.parametrize(
    "contact",
    [
        "ada@example.com",
        {},
        {"firstName": "Ada"},  # no address
        {"email": "not-an-address"},
        {"email": "ada@example.com", "phone": "2125550123"},  # not E.164
        {"phone": "+1 212 555 0123"},
        {"email": "ada@example.com", "timeZone": "Mars/Olympus_Mons"},
        {"email": "ada@example.com", "timeZone": "../../etc/passwd"},
        {"email": "ada@example.com", "locale": "english please"},
        {"email": "ada@example.com", "firstName": "x" * 61},
        {"email": "ada@example.com", "nickname": "A"},
        {"email": 42},
    ],
)
def test_an_invalid_contact_is_refused_before_anything_happens(api, dwolla, channels, contact):
    exchange = dwolla.seed_exchange("mx")
    dwolla.clear_requests()

    status, body, _ = api.create(exchange["id"], {"contact": contact})

    assert (status, body["code"]) == (400, "InvalidContact")
    assert "ada@example.com" not in json.dumps(body) and "Mars" not in json.dumps(body)
    assert dwolla.requests() == [] and _emails() == []


def test_an_event_with_an_invalid_contact_is_refused(functions, dwolla, channels):
    exchange = dwolla.seed_exchange("mx")
    detail = {"exchangeId": exchange["id"], "contact": {"phone": "12"}}

    result = functions.api.handler(
        eventbridge_event("Exchange Reauth Requested", detail), LambdaContext()
    )

    assert result == {"refused": "InvalidContact"}


# ---- reminders -----------------------------------------------------------------------------
def test_a_reminder_is_sent_when_due_and_not_before(functions, api, dwolla, channels, published):
    _create(api, dwolla, NEW_YORK)
    published()
    channels.advance(hours=23, minutes=59)
    _sweep(functions)
    assert len(_emails()) == 1  # the first message only

    channels.advance(minutes=2)
    result = _sweep(functions)

    assert (result["messagesSent"], len(_emails()), len(_sms())) == (2, 2, 2)
    assert _emails()[-1].subject.startswith("Reminder from Acme Pay")
    sent = _of(published(), "Reauth Link Sent")
    assert sorted((e["detail"]["channel"], e["detail"]["slot"]) for e in sent) == [
        ("email", 1),
        ("sms", 1),
    ]
    channels.advance(days=5)  # one day before the deadline
    assert _sweep(functions)["messagesSent"] == 2
    channels.advance(days=1)
    assert _sweep(functions)["messagesSent"] == 0  # no slot left; the request expired


def test_quiet_hours_hold_a_reminder_until_morning_in_the_contacts_time_zone(
    functions, api, dwolla, channels
):
    _, new_york = _create(api, dwolla, {**NEW_YORK, "phone": None})
    _, tokyo = _create(api, dwolla, {**TOKYO, "phone": None})
    assert len(_emails()) == 2  # the first message is not held: it answers the platform's call

    channels.advance(days=1, minutes=1)  # 10:01 in New York, 23:01 in Tokyo
    _sweep(functions)
    assert [e.destinations["ToAddresses"] for e in _emails()[2:]] == [["ada@example.com"]]

    channels.advance(hours=8, minutes=58)  # 07:59 in Tokyo
    _sweep(functions)
    assert len(_emails()) == 3
    channels.advance(minutes=2)  # 08:01 in Tokyo
    _sweep(functions)
    assert [e.destinations["ToAddresses"] for e in _emails()[3:]] == [["ken@example.jp"]]
    assert _item(functions, new_york["id"])["remindSlot"]["N"] == "2"
    assert _item(functions, tokyo["id"])["remindSlot"]["N"] == "2"


def test_quiet_hours_off_sends_at_the_due_minute(functions, api, dwolla, monkeypatch):
    functions.session.client("sesv2").create_email_identity(EmailIdentity=SENDER)
    monkeypatch.setenv("EMAIL_SENDER", SENDER)
    monkeypatch.setenv("QUIET_HOURS", "off")
    monkeypatch.setenv("REMINDER_SCHEDULE", "2m")
    new_container()
    clock = FrozenClock(START)
    serve(clock=clock.now)
    _create(api, dwolla, TOKYO)  # 23:00 in Tokyo
    clock.advance(minutes=2)

    assert _sweep(functions)["messagesSent"] == 1
    assert len(_emails()) == 2


def test_one_message_per_slot_when_two_runs_overlap_or_a_run_is_retried(
    functions, api, dwolla, channels, published, monkeypatch
):
    from reauth import runtime

    _create(api, dwolla, NEW_YORK)
    published()
    channels.advance(days=1, minutes=1)
    repo = runtime.service().ctx.repo
    seen = repo.reminders_due(channels.now(), 100)  # what both runs read from the index
    with monkeypatch.context() as patch:
        patch.setattr(repo, "reminders_due", lambda now, limit: list(seen))
        first = _sweep(functions)
        second = _sweep(functions)  # read the index before the first run claimed the slot
    retried = _sweep(functions)

    assert (first["messagesSent"], second["messagesSent"], retried["messagesSent"]) == (2, 0, 0)
    assert len(_emails()) == 2 and len(_sms()) == 2
    assert len(_of(published(), "Reauth Link Sent")) == 2


# ---- silenced by every close, the contact forgotten --------------------------------------------
def _closed_request_is_silent(functions, session_id: str, clock: FrozenClock) -> None:
    item = _item(functions, session_id)
    assert not {"contact", "gsi2pk", "gsi2sk", "remindSlot"} & set(item)
    before = (len(_emails()), len(_sms()))
    clock.advance(days=3)
    _sweep(functions)
    assert (len(_emails()), len(_sms())) == before


def test_reauthorized_here_silences_the_reminders_and_forgets_the_contact(
    functions, api, dwolla, channels
):
    _, session = _create(api, dwolla, NEW_YORK, partner="plaid")
    dwolla.complete_exchange_session(session["attempts"][0]["id"])

    status, body, _ = api.complete(session["id"], {})

    assert (status, body["status"]) == (200, "reauthorized")
    _closed_request_is_silent(functions, session["id"], channels)


def test_reauthorized_elsewhere_silences_the_reminders(functions, api, dwolla, channels):
    _, session = _create(api, dwolla, NEW_YORK)
    dwolla.complete_exchange_session(session["attempts"][0]["id"])  # fixed in another app
    channels.advance(minutes=16)

    assert api.session(session["id"])[1]["status"] == "reauthorized_elsewhere"
    _closed_request_is_silent(functions, session["id"], channels)


def test_a_superseded_request_is_silenced_and_the_new_one_speaks(functions, api, dwolla, channels):
    exchange, old = _create(api, dwolla, NEW_YORK)
    _, new, _ = api.create(exchange["id"], {"contact": TOKYO})

    assert api.session(old["id"])[1]["status"] == "superseded"
    assert not {"contact", "gsi2pk"} & set(_item(functions, old["id"]))
    channels.advance(days=2)
    _sweep(functions)
    reminded = {e.destinations["ToAddresses"][0] for e in _emails()[2:]}
    assert reminded == {"ken@example.jp"}


def test_expiry_silences_the_reminders(functions, api, dwolla, channels):
    _, session = _create(api, dwolla, NEW_YORK)
    channels.advance(days=7, minutes=1)

    assert _sweep(functions)["expired"] == 1
    assert api.session(session["id"])[1]["status"] == "expired"
    _closed_request_is_silent(functions, session["id"], channels)


def test_a_platform_cancel_silences_the_reminders_and_forgets_the_contact(
    functions, api, dwolla, channels
):
    _, session = _create(api, dwolla, NEW_YORK)
    status, body, _ = api.cancel(session["id"])

    assert (status, body["status"]) == (200, "cancelled")
    _closed_request_is_silent(functions, session["id"], channels)


# ---- failures ------------------------------------------------------------------------------
def test_a_refused_email_is_told_and_the_request_stays_open(
    functions, api, dwolla, monkeypatch, published
):
    monkeypatch.setenv("EMAIL_SENDER", "unverified@nowhere.example")  # not an SES identity
    monkeypatch.setenv("SMS_ENABLED", "true")
    new_container()
    serve(clock=FrozenClock(START).now)

    _, session = _create(api, dwolla, NEW_YORK)

    events = published()
    [failed] = _of(events, "Reauth Delivery Failed")
    assert failed["detail"]["channel"] == "email" and failed["detail"]["slot"] == 0
    assert failed["detail"]["reason"] == "MessageRejected"
    assert [e["detail"]["channel"] for e in _of(events, "Reauth Link Sent")] == ["sms"]
    assert api.session(session["id"])[1]["status"] == "pending"


def test_a_first_message_that_crashed_before_its_claim_is_sent_by_the_schedule(
    functions, api, dwolla, channels, monkeypatch
):
    from reauth import runtime

    def crash(*args, **kwargs):
        raise RuntimeError("the container died")

    with monkeypatch.context() as patch:
        patch.setattr(runtime.service().ctx.repo, "claim_slot", crash)
        status, _, _ = api.create(dwolla.seed_exchange("mx")["id"], {"contact": NEW_YORK})
    assert status == 201 and _emails() == []  # the create answered all the same

    assert _sweep(functions)["messagesSent"] == 2
    assert len(_emails()) == 1 and len(_sms()) == 1


# ---- personal data -------------------------------------------------------------------------
def test_the_contact_is_never_logged_nor_in_an_event_nor_in_an_answer(
    functions, api, dwolla, channels, published, caplog, capsys
):
    caplog.set_level(logging.DEBUG)  # and Powertools' JSON lines on stdout, below
    exchange, session = _create(api, dwolla, NEW_YORK)
    answers = [api.session(session["id"])[1]]
    channels.advance(days=1, minutes=1)
    _sweep(functions)
    _, newer, _ = api.create(exchange["id"], {"contact": NEW_YORK})
    answers.append(newer)
    answers.append(api.create(str(uuid.uuid4()), {"contact": {**NEW_YORK, "phone": "555"}})[1])

    seen = (
        json.dumps([answers, published()])
        + "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
        + capsys.readouterr().out
    )
    assert '"LinkSent"' in seen  # the stdout was read (the metrics are printed there)
    for value in PERSONAL[:3]:
        assert value not in seen


def test_a_request_past_its_deadline_not_yet_closed_leaves_the_reminders_index(
    functions, api, dwolla, channels
):
    sessions = [_create(api, dwolla, NEW_YORK)[1] for _ in range(2)]
    channels.advance(days=7, minutes=1)
    serve(clock=channels.now, sweep_batch_size=1)  # the expiry sweep closes one per run

    result = _sweep(functions)

    assert (result["expired"], result["messagesSent"]) == (1, 0)
    items = [_item(functions, s["id"]) for s in sessions]
    assert sorted(i["status"]["S"] for i in items) == ["expired", "pending"]
    assert not any("gsi2pk" in i for i in items)  # nothing sent, nothing left to send
    assert len(_emails()) == 2  # the first messages only


# ---- the funnel's metrics ------------------------------------------------------------------
def _metric_lines(output: str, name: str) -> list[dict]:
    lines = [json.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]
    return [line for line in lines if name in line]


def _counted(output: str, name: str) -> dict[str, int]:
    """A metric's total per Channel, from the handlers' EMF lines."""
    totals: dict[str, int] = {}
    for line in _metric_lines(output, name):
        value = line[name]
        totals[line["Channel"]] = totals.get(line["Channel"], 0) + int(
            sum(value) if isinstance(value, list) else value
        )
    return totals


def test_a_request_counts_once_as_reached_by_its_first_channel_and_every_message_as_sent(
    functions, api, dwolla, channels, capsys
):
    """RequestsReached (the completion rate's per-channel denominator) counts requests, by the
    channel of their first message; LinkSent counts messages, reminders included."""
    _create(api, dwolla, NEW_YORK)
    _create(api, dwolla, {"phone": "+12125550124"})
    channels.advance(days=1, minutes=1)
    _sweep(functions)

    out = capsys.readouterr().out
    # The emailed-and-texted request counts under email (its first channel), once.
    assert _counted(out, "RequestsReached") == {"email": 1, "sms": 1}
    assert _counted(out, "LinkSent") == {"email": 2, "sms": 4}  # reminders included
