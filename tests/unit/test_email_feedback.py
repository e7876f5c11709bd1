"""SES's bounce and complaint events, as EventBridge delivers them, read into the one thing the
service acts on: which request's email channel has ended, and why."""

from __future__ import annotations

import copy
import uuid

import pytest

from reauth.feedback import EmailFeedback, FeedbackKind, email_feedback

REQUEST = str(uuid.uuid4())
# SES's published example (docs: "Examples of event data that Amazon SES publishes"), with the
# tags the service sends every email with.
BOUNCE = {
    "eventType": "Bounce",
    "bounce": {
        "bounceType": "Permanent",
        "bounceSubType": "General",
        "bouncedRecipients": [{"emailAddress": "recipient@example.com", "status": "5.1.1"}],
        "timestamp": "2017-08-05T00:41:02.669Z",
        "feedbackId": "01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000",
    },
    "mail": {
        "timestamp": "2017-08-05T00:40:02.012Z",
        "source": "Sender Name <sender@example.com>",
        "messageId": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
        "destination": ["recipient@example.com"],
        "tags": {
            "ses:configuration-set": ["dwolla-reauth"],
            "reauth-request": [REQUEST],
            "reauth-slot": ["1"],
        },
    },
}
COMPLAINT = {
    "eventType": "Complaint",
    "complaint": {"complainedRecipients": [{"emailAddress": "recipient@example.com"}]},
    "mail": BOUNCE["mail"],
}


def test_a_permanent_bounce_ends_the_email_channel_of_the_tagged_request():
    assert email_feedback("Email Bounced", BOUNCE) == EmailFeedback(
        REQUEST, FeedbackKind.BOUNCED, 1
    )


def test_a_complaint_ends_it_too():
    assert email_feedback("Email Complained", COMPLAINT) == EmailFeedback(
        REQUEST, FeedbackKind.COMPLAINED, 1
    )


@pytest.mark.parametrize("bounce_type", ["Transient", "Undetermined", None])
def test_a_bounce_that_is_not_permanent_changes_nothing(bounce_type):
    detail = copy.deepcopy(BOUNCE)
    detail["bounce"]["bounceType"] = bounce_type
    assert email_feedback("Email Bounced", detail) is None


@pytest.mark.parametrize(
    "tags",
    [
        None,
        {},
        {"reauth-request": []},
        {"reauth-request": ["not-a-uuid"]},
        {"reauth-request": REQUEST},
        "x",
    ],
)
def test_an_email_not_tagged_with_a_request_is_not_the_services(tags):
    detail = copy.deepcopy(BOUNCE)
    detail["mail"]["tags"] = tags
    assert email_feedback("Email Bounced", detail) is None


@pytest.mark.parametrize("detail_type", ["Email Delivered", "Email Opened", "Scheduled Event"])
def test_other_ses_events_are_ignored(detail_type):
    assert email_feedback(detail_type, BOUNCE) is None


@pytest.mark.parametrize("detail", [None, [], "bounce", {"bounce": "x"}, {"mail": []}])
def test_a_malformed_detail_is_ignored(detail):
    assert email_feedback("Email Bounced", detail) is None
    assert email_feedback("Email Complained", detail) is None


def test_a_slot_that_is_not_a_number_is_left_unknown():
    detail = copy.deepcopy(BOUNCE)
    detail["mail"]["tags"]["reauth-slot"] = ["first"]
    assert email_feedback("Email Bounced", detail) == EmailFeedback(
        REQUEST, FeedbackKind.BOUNCED, None
    )


def test_the_tags_read_are_the_ones_every_email_is_sent_with():
    from reauth.messages import EmailMessage
    from reauth.messaging import SesEmail

    class Client:
        def send_email(self, **arguments):
            self.arguments = arguments

    client = Client()
    SesEmail(client, "no-reply@acme.example", "Acme Pay").send(
        "ada@example.com", EmailMessage("s", "t", "<p>h</p>"), REQUEST, 2
    )
    detail = copy.deepcopy(BOUNCE)
    detail["mail"]["tags"] = {t["Name"]: [t["Value"]] for t in client.arguments["EmailTags"]}
    assert email_feedback("Email Bounced", detail) == EmailFeedback(
        REQUEST, FeedbackKind.BOUNCED, 2
    )
