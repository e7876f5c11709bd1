"""The words a customer reads in the messages, one table per language (key -> text).

English only for now; a language is one more entry of CATALOGUE (issue 18 adds Spanish). A
contact's locale picks the table by its language ("en-US" -> "en"); an unknown one reads
English. Placeholders: {platform}, {name}, {deadline}, {link}.
"""

from __future__ import annotations

DEFAULT_LANGUAGE = "en"

CATALOGUE: dict[str, dict[str, str]] = {
    "en": {
        "email.subject": "{platform}: reconnect your bank account",
        "email.subject.reminder": "Reminder from {platform}: reconnect your bank account",
        "email.greeting": "Hi {name},",
        "email.greeting.anonymous": "Hello,",
        "email.what": (
            "{platform} can no longer reach your bank account: your bank needs you to sign in"
            " again to renew the connection. Until you do, payments with this account may stop."
        ),
        "email.action": "Reconnect your bank",
        "email.deadline": "This secure link works until {deadline}.",
        "email.ignore": (
            "It takes a minute at your bank's own sign-in page; {platform} never sees your bank"
            " password. If you did not expect this message, you can ignore it."
        ),
        "sms.full": (
            "{platform}: your bank needs you to sign in again. Reconnect by {deadline}: {link}"
        ),
        "sms.short": "{platform}: reconnect your bank by {deadline}: {link}",
        "sms.shortest": "{platform}: reconnect your bank: {link}",
        "date.long": "{weekday}, {month} {day}, {year} at {clock} ({zone})",
        "date.short": "{month_short} {day}",
        "months": "January,February,March,April,May,June,July,August,September,October,"
        "November,December",
        "weekdays": "Monday,Tuesday,Wednesday,Thursday,Friday,Saturday,Sunday",
    },
}


def words(locale: str | None) -> dict[str, str]:
    """The table for `locale` (its language), else English."""
    language = (locale or DEFAULT_LANGUAGE).split("-")[0].lower()
    return CATALOGUE.get(language, CATALOGUE[DEFAULT_LANGUAGE])
