"""SES's bounces and complaints: a permanent bounce or a complaint about one of the service's
emails stops email for that request (one "Reauth Delivery Failed" event), the slot's SMS goes
now when it had not, and later reminders go by SMS only. Idempotent; nothing for a transient
bounce, a closed or an unknown request; the address is never logged nor in an event.

The SES events are built as EventBridge delivers them (source aws.ses), with the message tags
the service really sent the email with (read off the SendEmail call).
"""

from __future__ import annotations

import json
import logging
import uuid

import pytest

from tests.handlers import test_delivery
from tests.handlers.test_delivery import (
    NEW_YORK,
    _create,
    _emails,
    _item,
    _of,
    _sms,
    _sweep,
)
from tests.support.apigw import LambdaContext
from tests.support.constants import ROOT

ADDRESS = NEW_YORK["email"]
channels = test_delivery.channels  # the fixture: email and SMS on, the clock frozen


@pytest.fixture
def sent_tags(channels):
    """The EmailTags of every email the service sends from now on, in order."""
    from reauth import runtime

    tags: list[list[dict]] = []

    def record(params, **_):
        tags.append(params["EmailTags"])

    runtime.boto_session().events.register("before-parameter-build.sesv2.SendEmail", record)
    return tags


def ses_event(tags: list[dict], kind: str = "Bounce", bounce_type: str = "Permanent") -> dict:
    """SES's event about an email sent with `tags`, as EventBridge delivers it."""
    mail = {
        "timestamp": "2026-03-10T14:00:01.000Z",
        "source": "no-reply@acme.example",
        "messageId": "0100018e2a5c8d1f-example-000000",
        "destination": [ADDRESS],
        "tags": {
            "ses:configuration-set": ["dwolla-reauth-email"],
            **{tag["Name"]: [tag["Value"]] for tag in tags},
        },
    }
    if kind == "Bounce":
        detail_type = "Email Bounced"
        detail = {
            "eventType": "Bounce",
            "bounce": {
                "bounceType": bounce_type,
                "bounceSubType": "General",
                "bouncedRecipients": [{"emailAddress": ADDRESS, "status": "5.1.1"}],
                "timestamp": "2026-03-10T14:00:03.000Z",
            },
            "mail": mail,
        }
    else:
        detail_type = "Email Complained"
        detail = {
            "eventType": "Complaint",
            "complaint": {"complainedRecipients": [{"emailAddress": ADDRESS}]},
            "mail": mail,
        }
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "aws.ses",
        "account": "123456789012",
        "time": "2026-03-10T14:00:04Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


def _feed(functions, event: dict) -> dict:
    return functions.api.handler(event, LambdaContext())


def _sms_fails_once(monkeypatch) -> None:
    """The next SMS is refused (a throttled SNS): its slot's SMS is not sent."""
    from reauth import runtime
    from reauth.messages import DeliveryError

    sms = runtime.service().ctx.senders.sms
    original = sms.send

    def refuse(*args, **kwargs):
        monkeypatch.setattr(sms, "send", original)
        raise DeliveryError("Throttling")

    monkeypatch.setattr(sms, "send", refuse)


# ---- email stopped, the SMS instead ------------------------------------------------------------
@pytest.mark.parametrize(("kind", "reason"), [("Bounce", "Bounced"), ("Complaint", "Complained")])
def test_a_bounce_or_complaint_stops_email_and_the_slots_sms_goes_instead(
    functions, api, dwolla, channels, sent_tags, published, monkeypatch, kind, reason
):
    _sms_fails_once(monkeypatch)
    _, session = _create(api, dwolla, NEW_YORK)
    assert (len(_emails()), len(_sms())) == (1, 0)  # the SMS of slot 0 was refused
    published()

    result = _feed(functions, ses_event(sent_tags[0], kind))

    assert result == {
        "sessionId": session["id"],
        "feedback": "bounced" if kind == "Bounce" else "complained",
        "outcome": "stopped",
        "messagesSent": 1,
    }
    [(phone, text)] = _sms()
    assert phone == NEW_YORK["phone"] and text.endswith(session["startUrl"])
    events = published()
    [failed] = _of(events, "Reauth Delivery Failed")
    assert {k: failed["detail"][k] for k in ("sessionId", "channel", "slot", "reason")} == {
        "sessionId": session["id"],
        "channel": "email",
        "slot": 0,
        "reason": reason,
    }
    assert failed["detail"]["reportedBy"] == "ses"
    [sent] = _of(events, "Reauth Link Sent")
    assert (sent["detail"]["channel"], sent["detail"]["slot"]) == ("sms", 0)
    assert sent["detail"]["sequence"] == failed["detail"]["sequence"] + 1
    assert _item(functions, session["id"])["stoppedChannels"] == {"SS": ["email"]}

    channels.advance(days=1, minutes=1)  # the first reminder: by SMS only
    assert _sweep(functions)["messagesSent"] == 1
    assert (len(_emails()), len(_sms())) == (1, 2)
    [reminder] = _of(published(), "Reauth Link Sent")
    assert (reminder["detail"]["channel"], reminder["detail"]["slot"]) == ("sms", 1)


def test_the_same_news_twice_writes_one_event_and_sends_one_sms(
    functions, api, dwolla, channels, sent_tags, published, monkeypatch
):
    _sms_fails_once(monkeypatch)
    _create(api, dwolla, NEW_YORK)
    published()
    event = ses_event(sent_tags[0])

    first, again = _feed(functions, event), _feed(functions, event)
    complaint = _feed(functions, ses_event(sent_tags[0], "Complaint"))  # the same channel

    assert (first["outcome"], again["outcome"], complaint["outcome"]) == (
        "stopped",
        "already_stopped",
        "already_stopped",
    )
    assert again["messagesSent"] == complaint["messagesSent"] == 0
    assert len(_sms()) == 1
    events = published()
    assert len(_of(events, "Reauth Delivery Failed")) == 1
    assert len(_of(events, "Reauth Link Sent")) == 1


def test_when_the_slots_sms_went_already_only_the_event_is_written(
    functions, api, dwolla, channels, sent_tags, published
):
    _create(api, dwolla, NEW_YORK)  # email and SMS both sent at slot 0
    published()

    result = _feed(functions, ses_event(sent_tags[0]))

    assert (result["outcome"], result["messagesSent"], len(_sms())) == ("stopped", 0, 1)
    events = published()
    assert [e["detail"]["reason"] for e in _of(events, "Reauth Delivery Failed")] == ["Bounced"]
    assert _of(events, "Reauth Link Sent") == []
    channels.advance(days=1, minutes=1)
    _sweep(functions)
    assert (len(_emails()), len(_sms())) == (1, 2)


def test_without_a_phone_only_the_event_is_written_and_nothing_is_sent_again(
    functions, api, dwolla, channels, sent_tags, published
):
    _, session = _create(api, dwolla, {**NEW_YORK, "phone": None})
    published()

    result = _feed(functions, ses_event(sent_tags[0]))

    assert (result["outcome"], result["messagesSent"], _sms()) == ("stopped", 0, [])
    assert len(_of(published(), "Reauth Delivery Failed")) == 1
    channels.advance(days=1, minutes=1)
    assert _sweep(functions)["messagesSent"] == 0
    assert len(_emails()) == 1
    assert "gsi2pk" not in _item(functions, session["id"])  # no channel left: out of the index
    assert api.session(session["id"])[1]["status"] == "pending"  # the link still works


def test_a_reminder_run_that_read_the_request_before_the_bounce_sends_no_email(
    functions, api, dwolla, channels, sent_tags, monkeypatch
):
    from reauth import runtime

    _, session = _create(api, dwolla, NEW_YORK)
    channels.advance(days=1, minutes=1)
    repo = runtime.service().ctx.repo
    before = repo.get_request(session["id"])  # the run's read, before the news
    _feed(functions, ses_event(sent_tags[0]))

    with monkeypatch.context() as patch:
        patch.setattr(repo, "get_request", lambda request_id: before)
        stale = _sweep(functions)  # its claim names email, stopped since: refused

    assert stale["messagesSent"] == 0 and len(_emails()) == 1
    assert _sweep(functions)["messagesSent"] == 1  # the next run reads it again: SMS only
    assert (len(_emails()), len(_sms())) == (1, 2)


# ---- nothing -----------------------------------------------------------------------------------
@pytest.mark.parametrize("bounce_type", ["Transient", "Undetermined"])
def test_a_bounce_that_is_not_permanent_changes_nothing(
    functions, api, dwolla, channels, sent_tags, published, bounce_type
):
    _, session = _create(api, dwolla, NEW_YORK)
    published()
    before = _item(functions, session["id"])

    result = _feed(functions, ses_event(sent_tags[0], bounce_type=bounce_type))

    assert result == {"ignored": "Email Bounced"}
    assert _item(functions, session["id"]) == before and published() == []


def test_news_about_a_closed_request_changes_nothing(
    functions, api, dwolla, channels, sent_tags, published
):
    _, session = _create(api, dwolla, NEW_YORK)
    channels.advance(days=7, minutes=1)
    assert _sweep(functions)["expired"] == 1
    published()
    before = (_item(functions, session["id"]), len(_sms()))

    result = _feed(functions, ses_event(sent_tags[0]))

    assert result["outcome"] == "closed" and result["messagesSent"] == 0
    assert (_item(functions, session["id"]), len(_sms())) == before and published() == []


def test_news_about_an_unknown_request_or_an_untagged_email_changes_nothing(
    functions, channels, published
):
    unknown = ses_event([{"Name": "reauth-request", "Value": str(uuid.uuid4())}])
    untagged = ses_event([])

    assert _feed(functions, unknown)["outcome"] == "unknown"
    assert _feed(functions, untagged) == {"ignored": "Email Bounced"}
    assert published() == [] and _sms() == []


# ---- personal data -----------------------------------------------------------------------------
def test_the_address_is_never_logged_nor_in_an_event_nor_in_the_answer(
    functions, api, dwolla, channels, sent_tags, published, monkeypatch, caplog, capsys
):
    caplog.set_level(logging.DEBUG)
    _sms_fails_once(monkeypatch)
    _create(api, dwolla, NEW_YORK)
    answers = [_feed(functions, ses_event(sent_tags[0])), _feed(functions, ses_event(sent_tags[0]))]
    answers.append(_feed(functions, ses_event(sent_tags[0], bounce_type="Transient")))

    seen = (
        json.dumps([answers, published()])
        + "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
        + capsys.readouterr().out
    )
    assert '"DeliveryFailed"' in seen  # the metrics on stdout were read
    for value in (ADDRESS, NEW_YORK["phone"], NEW_YORK["firstName"]):
        assert value not in seen


# ---- the template's rule, the example event ---------------------------------------------------
def test_the_template_rule_takes_the_example_event_and_the_handler_answers_it(functions, channels):
    """events/eventbridge-ses-bounce.json through the template's own pattern on the default bus
    (an email not tagged with a request is not taken), then the handler: its placeholder id
    names no request."""
    from local.provision import load_template

    event = json.loads((ROOT / "events" / "eventbridge-ses-bounce.json").read_text())
    rule = load_template()["Resources"]["ApiFunction"]["Properties"]["Events"]["EmailFeedback"]
    sqs, events = functions.session.client("sqs"), functions.session.client("events")
    queue = sqs.create_queue(QueueName="ses-feedback-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]
    events.put_rule(Name="ses-feedback", EventPattern=json.dumps(rule["Properties"]["Pattern"]))
    events.put_targets(Rule="ses-feedback", Targets=[{"Id": "tap", "Arn": arn["QueueArn"]}])
    untagged = json.loads(json.dumps(event["detail"]))
    del untagged["mail"]["tags"]["reauth-request"]
    for detail in (event["detail"], untagged):
        entry = {"Source": event["source"], "DetailType": event["detail-type"]}
        events.put_events(Entries=[{**entry, "Detail": json.dumps(detail)}])
    taken = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]

    assert [json.loads(m["Body"])["detail"] for m in taken] == [event["detail"]]
    assert _feed(functions, event) == {
        "sessionId": "00000000-0000-4000-8000-000000000001",
        "feedback": "bounced",
        "outcome": "unknown",
        "messagesSent": 0,
    }
