"""The customer's contact, as the platform sends it on create (API body or event detail).

    {"email": "...", "phone": "+15555550123", "firstName": "Ada", "locale": "en-US",
     "timeZone": "America/New_York"}

Every field is optional, but a contact names at least one address. Anything else is refused
with `InvalidContact` (400), whose message never echoes the value: contacts are personal data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ErrorCode, ServiceError
from .model import Contact

FIELDS = frozenset({"email", "phone", "firstName", "locale", "timeZone"})
# Deliberately plain: one @, a dot in the domain, no spaces or controls, RFC 5321's 254 limit.
_EMAIL_RE = re.compile(
    r"[^\s@<>,;:\"()\[\]\\]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251})\.[A-Za-z]{2,63}"
)
_PHONE_RE = re.compile(r"\+[1-9][0-9]{6,14}")  # E.164: + and up to 15 digits
_LOCALE_RE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8}){0,3}")
_ZONE_RE = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+){0,2}")
MAX_FIRST_NAME = 60


def parse_contact(raw: object) -> Contact | None:
    """The contact `raw` describes (None when absent), or InvalidContact. A Contact already
    made by the service (a renewal's kept contact) is taken as it is."""
    if raw is None or isinstance(raw, Contact):
        return raw
    if not isinstance(raw, Mapping) or not set(raw) <= FIELDS:
        raise _invalid()
    email = _text(raw.get("email"))
    phone = _text(raw.get("phone"))
    first_name = _text(raw.get("firstName"))
    locale = _text(raw.get("locale"))
    time_zone = _text(raw.get("timeZone"))
    if email is None and phone is None:
        raise _invalid()
    checks = (
        email is None or (len(email) <= 254 and _EMAIL_RE.fullmatch(email) is not None),
        phone is None or _PHONE_RE.fullmatch(phone) is not None,
        first_name is None or _plain_name(first_name),
        locale is None or _LOCALE_RE.fullmatch(locale) is not None,
        time_zone is None or is_time_zone(time_zone),
    )
    if not all(checks):
        raise _invalid()
    return Contact(
        email=email,
        phone=phone,
        first_name=first_name,
        locale=locale.replace("_", "-") if locale else None,
        time_zone=time_zone,
    )


def parse_locale(raw: object) -> str | None:
    """The create call's top-level `locale` (None when absent): a language tag, checked as a
    contact's is ("es_MX" -> "es-MX"), else InvalidLocale. Any tag is accepted; the pages and
    messages speak it when the service has its language (words.py), else the default."""
    if raw is None:
        return None
    if not isinstance(raw, str) or _LOCALE_RE.fullmatch(raw.strip()) is None:
        raise ServiceError(ErrorCode.INVALID_LOCALE)
    return raw.strip().replace("_", "-")


def is_time_zone(name: str) -> bool:
    """An IANA time zone name this runtime knows (tzdata ships with the layer)."""
    if len(name) > 64 or _ZONE_RE.fullmatch(name) is None:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _text(value: object) -> str | None:
    """A field's value: absent (None or missing) or a non-empty string."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _invalid()
    return value.strip()


def _plain_name(name: str) -> bool:
    return len(name) <= MAX_FIRST_NAME and all(c.isprintable() and c not in "<>" for c in name)


def _invalid() -> ServiceError:
    return ServiceError(ErrorCode.INVALID_CONTACT)
