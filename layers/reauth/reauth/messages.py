"""The messages that carry the link, rendered from the catalogue: pure functions.

Each says who sends it (the platform's name), what happened and why, the link, and the
deadline (in the contact's time zone). Email: plain text and HTML (everything escaped). SMS:
the longest catalogue form that fits one segment (160 GSM-7 characters, 70 otherwise), else
the shortest form (sent in several parts): the link alone may be long.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Protocol
from zoneinfo import ZoneInfo

from .words import sentence_start, words

# The GSM 03.38 basic character set (one septet each) and its extension table (two).
_GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = "^{}\\[~]|€\f"
SMS_FORMS = ("sms.full", "sms.short", "sms.shortest")


@dataclass(frozen=True)
class EmailMessage:
    subject: str
    text: str
    html: str


# ---- the port: one sender per channel (messaging.py holds the AWS adapters) ------------------
class DeliveryError(Exception):
    """A message was not accepted for sending: `reason` is a code, safe to publish."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class EmailSender(Protocol):
    def send(self, to: str, message: EmailMessage, request_id: str, slot: int) -> None: ...


class SmsSender(Protocol):
    def send(self, to: str, text: str, request_id: str) -> None: ...


@dataclass(frozen=True)
class Senders:
    """The channels this deployment has on (None: off)."""

    email: EmailSender | None = None
    sms: SmsSender | None = None


def sms_units(text: str) -> tuple[bool, int]:
    """(GSM-7?, length in that encoding's units): a segment holds 160 septets or 70 UCS-2."""
    if all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in text):
        return True, sum(2 if c in _GSM_EXTENDED else 1 for c in text)
    return False, len(text.encode("utf-16-le")) // 2


def sms_segments(text: str) -> int:
    gsm, units = sms_units(text)
    single, part = (160, 153) if gsm else (70, 67)
    return 1 if units <= single else -(-units // part)


def deadline_text(deadline: datetime, zone: ZoneInfo, locale: str | None, *, short: bool) -> str:
    """The deadline in `zone`, in the locale's words (its month and weekday names, its clock)."""
    table = words(locale)
    local = deadline.astimezone(zone)
    clock = table["date.clock"].format(
        hour=str(local.hour % 12 or 12),
        minute=f"{local.minute:02d}",
        half=table["date.am" if local.hour < 12 else "date.pm"],
    )
    fields = {
        "weekday": table["weekdays"].split(",")[local.weekday()],
        "month": table["months"].split(",")[local.month - 1],
        "month_short": table["months.short"].split(",")[local.month - 1],
        "day": str(local.day),
        "year": str(local.year),
        "clock": clock,
        "zone": local.tzname() or zone.key,
    }
    return table["date.short" if short else "date.long"].format(**fields)


def render_email(
    *,
    platform: str,
    first_name: str | None,
    link: str,
    deadline: datetime,
    zone: ZoneInfo,
    locale: str | None,
    reminder: bool,
) -> EmailMessage:
    table = words(locale)
    name = platform or table["platform.default"]
    values = {
        "platform": name,
        "Platform": sentence_start(name),
        "name": first_name or "",
        "deadline": deadline_text(deadline, zone, locale, short=False),
    }
    subject = table["email.subject.reminder" if reminder else "email.subject"].format(**values)
    greeting = table["email.greeting" if first_name else "email.greeting.anonymous"]
    paragraphs = [
        greeting.format(**values),
        table["email.what"].format(**values),
        table["email.deadline"].format(**values),
        table["email.ignore"].format(**values),
    ]
    action = table["email.action"]
    text = "\n\n".join([*paragraphs[:2], f"{action}: {link}", *paragraphs[2:]]) + "\n"
    p = '<p style="margin:0 0 16px">{}</p>'
    button = (
        f'<p style="margin:24px 0"><a href="{escape(link)}" style="background:#1a56db;'
        "color:#fff;padding:12px 20px;border-radius:6px;text-decoration:none;"
        f'font-weight:600">{escape(action)}</a></p>'
    )
    body = "".join(
        [*(p.format(escape(x)) for x in paragraphs[:2]), button]
        + [p.format(escape(x)) for x in paragraphs[2:]]
    )
    html = (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>{escape(subject)}</title></head>"
        '<body style="font-family:-apple-system,Segoe UI,Roboto,sans-serif;font-size:16px;'
        f'line-height:1.5;color:#111;max-width:560px;margin:0 auto;padding:16px">{body}'
        "</body></html>"
    )
    return EmailMessage(subject, text, html)


def render_sms(
    *, platform: str, link: str, deadline: datetime, zone: ZoneInfo, locale: str | None
) -> str:
    table = words(locale)
    name = platform or table["platform.default"]
    values = {
        "platform": name,
        "Platform": sentence_start(name),
        "link": link,
        "deadline": deadline_text(deadline, zone, locale, short=True),
    }
    forms = [table[key].format(**values) for key in SMS_FORMS]
    return next((text for text in forms if sms_segments(text) == 1), forms[-1])
