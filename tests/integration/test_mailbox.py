"""local/mailbox.py reads back what was sent through moto server's SES v2 and SNS, as the demo
and the end-to-end tests read the customer's messages."""

from __future__ import annotations

import uuid

from local import mailbox


def test_an_email_and_a_text_sent_through_moto_are_read_back_with_their_links(aws, moto_server):
    session, _ = aws
    ses, sns = session.client("sesv2"), session.client("sns")
    sender = "reauth@acme.example"
    ses.create_email_identity(EmailIdentity=sender)
    to = f"{uuid.uuid4().hex[:8]}@customer.example"
    phone = f"+1415555{uuid.uuid4().int % 10000:04d}"
    link = "http://127.0.0.1:3000/reauth/link/abc?key=k&amp;x=1"
    ses.send_email(
        FromEmailAddress=sender,
        Destination={"ToAddresses": [to]},
        Content={
            "Simple": {
                "Subject": {"Data": "Reconnect your bank"},
                "Body": {
                    "Text": {"Data": "text"},
                    "Html": {"Data": f'<p><a href="{link}">Reconnect</a></p>'},
                },
            }
        },
    )
    sns.publish(PhoneNumber=phone, Message="Acme Pay: reconnect http://127.0.0.1:3000/r/x")

    [email] = mailbox.emails(moto_server, to=to)
    assert (email.sender, email.to, email.subject) == (sender, (to,), "Reconnect your bank")
    assert email.links() == ["http://127.0.0.1:3000/reauth/link/abc?key=k&x=1"]
    [text] = mailbox.text_messages(moto_server, phone=phone)
    assert text.links() == ["http://127.0.0.1:3000/r/x"]
    assert mailbox.emails(moto_server, to="nobody@customer.example") == []
