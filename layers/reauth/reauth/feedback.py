"""What SES says happened to an email after it was sent: bounces and complaints.

The template's configuration set publishes them to the default EventBridge bus (SES can publish
to no other), as `source: aws.ses` with detail-type "Email Bounced" or "Email Complained"; the
detail is SES's event record (`eventType`, `bounce` / `complaint`, `mail` with the tags the
email was sent with). Every email the service sends is tagged with its request id (and slot),
which is how a bounce finds its request: no address is ever looked up or logged.

Only what ends the channel counts: a permanent bounce (the address does not exist) or a
complaint (the customer marked it as spam). A transient bounce (a full mailbox, a greylisting
server) is SES's to retry and changes nothing here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from .ids import normalize_uuid

SOURCE = "aws.ses"
BOUNCED = "Email Bounced"
COMPLAINED = "Email Complained"
DETAIL_TYPES = (BOUNCED, COMPLAINED)
# The SES message tags every email is sent with (messaging.py): the request id, the slot.
REQUEST_TAG = "reauth-request"
SLOT_TAG = "reauth-slot"


class FeedbackKind(StrEnum):
    BOUNCED = "bounced"  # a permanent bounce: the address does not take mail
    COMPLAINED = "complained"  # the customer reported it as spam


@dataclass(frozen=True)
class EmailFeedback:
    request_id: str
    kind: FeedbackKind
    slot: int | None


def email_feedback(detail_type: object, detail: object) -> EmailFeedback | None:
    """The feedback an SES event gives about one of the service's emails; None when it is not
    one that ends the channel (a transient bounce, another event type) or names no request."""
    if detail_type not in DETAIL_TYPES or not isinstance(detail, Mapping):
        return None
    if detail_type == BOUNCED:
        bounce = detail.get("bounce")
        if not isinstance(bounce, Mapping) or bounce.get("bounceType") != "Permanent":
            return None
        kind = FeedbackKind.BOUNCED
    else:
        kind = FeedbackKind.COMPLAINED
    mail = detail.get("mail")
    tags = mail.get("tags") if isinstance(mail, Mapping) else None
    if not isinstance(tags, Mapping):
        return None
    request_id = normalize_uuid(_first(tags.get(REQUEST_TAG)))
    if request_id is None:
        return None
    slot = _first(tags.get(SLOT_TAG))
    return EmailFeedback(request_id, kind, int(slot) if slot and slot.isdigit() else None)


def _first(values: object) -> str | None:
    """SES gives each tag as a list of values."""
    if isinstance(values, list) and values and isinstance(values[0], str):
        return values[0]
    return None
