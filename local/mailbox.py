"""What the service sent, read back from moto server: its emails (SES) and text messages (SNS).

moto server keeps every message the functions send and lists them at `/moto-api/data.json`
(`ses.Message`: from, to, subject and the HTML body — SES v2's Simple content keeps the HTML
part when there is one; `sns.SMS`: the phone number and the text). The demo and the end-to-end
tests read the customer's messages this way, then open the link in them like the customer would.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import requests

_HREF_RE = re.compile(r'href="(?P<url>[^"]+)"')
_URL_RE = re.compile(r"https?://\S+")


@dataclass(frozen=True)
class Email:
    message_id: str
    sender: str
    to: tuple[str, ...]
    subject: str
    body: str  # HTML when the email has an HTML part, else its text

    def links(self) -> list[str]:
        """The links in the email, in order (HTML's href attributes, else bare URLs)."""
        found = [html.unescape(m["url"]) for m in _HREF_RE.finditer(self.body)]
        return found or _URL_RE.findall(self.body)


@dataclass(frozen=True)
class TextMessage:
    message_id: str
    phone: str
    text: str

    def links(self) -> list[str]:
        return _URL_RE.findall(self.text)


def _data(moto_url: str) -> dict:
    answer = requests.get(f"{moto_url}/moto-api/data.json", timeout=30)
    answer.raise_for_status()
    return answer.json()


def emails(moto_url: str, to: str | None = None) -> list[Email]:
    """Every email sent through moto's SES (v1 or v2), oldest first; only those to `to` if given."""
    found = [
        Email(
            message_id=m["id"],
            sender=m["source"],
            to=tuple((m.get("destinations") or {}).get("ToAddresses") or ()),
            subject=m["subject"],
            body=m["body"],
        )
        for m in _data(moto_url).get("ses", {}).get("Message", [])
    ]
    return [e for e in found if to is None or to in e.to]


def text_messages(moto_url: str, phone: str | None = None) -> list[TextMessage]:
    """Every SMS published through moto's SNS to a phone number, oldest first."""
    found = [
        TextMessage(message_id=m["message_id"], phone=m["phone_number"], text=m["message"])
        for m in _data(moto_url).get("sns", {}).get("SMS", [])
    ]
    return [t for t in found if phone is None or t.phone == phone]
