"""The identifiers the service accepts from outside: request/attempt/exchange UUIDs and
platforms' idempotency keys. Checked before any I/O; anything else is refused as malformed."""

from __future__ import annotations

import re

UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX32_RE = re.compile(r"[0-9a-fA-F]{32}")
_IDEMPOTENCY_KEY_RE = re.compile(r"[\x21-\x7e]{1,255}")


def normalize_uuid(value: object) -> str | None:
    """The lower-case UUID, or None when `value` is not a UUID in canonical form."""
    if isinstance(value, str) and UUID_RE.fullmatch(value):
        return value.lower()
    return None


def uuid_from_hex(value: str) -> str | None:
    """The UUID written as 32 hex digits (a binding cookie's name), or None."""
    if not _HEX32_RE.fullmatch(value):
        return None
    v = value.lower()
    return f"{v[:8]}-{v[8:12]}-{v[12:16]}-{v[16:20]}-{v[20:]}"


def valid_idempotency_key(value: str) -> bool:
    return bool(_IDEMPOTENCY_KEY_RE.fullmatch(value))
