"""What stands between the browser and the session: start keys, binding cookies, return URLs.

- A start key is a one-time secret in `startUrl`; only its SHA-256 is stored.
- Opening the start link binds the browser: a random token goes into an HttpOnly, Secure,
  SameSite=Lax cookie (`<sessionId>.<token>`), its SHA-256 onto the session. The callback is
  honoured only for the browser holding that cookie (Dwolla's redirect carries nothing else:
  this is OAuth's `state`, done with a cookie).
- Return URLs must equal, character for character, an entry of the operator's allow-list.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from urllib.parse import urlencode, urlsplit

COOKIE_NAME = "reauth_binding"
UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,128}$")
_IDEMPOTENCY_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
MAX_RETURN_URL_LENGTH = 2048


def normalize_uuid(value: object) -> str | None:
    """The lower-case UUID, or None when `value` is not a UUID in canonical form."""
    if isinstance(value, str) and UUID_RE.match(value):
        return value.lower()
    return None


def valid_idempotency_key(value: str) -> bool:
    return bool(_IDEMPOTENCY_KEY_RE.match(value))


def new_secret() -> str:
    """A 256-bit URL-safe random secret (start keys, binding tokens)."""
    return secrets.token_urlsafe(32)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def is_well_formed_secret(value: str) -> bool:
    """Could `value` be one of our secrets (start keys, binding tokens)? Checked before any I/O."""
    return bool(_TOKEN_RE.match(value))


def matches(value: str | None, expected_digest: str | None) -> bool:
    """Constant-time check of a presented secret against a stored digest."""
    if not value or not expected_digest or not is_well_formed_secret(value):
        return False
    return hmac.compare_digest(digest(value), expected_digest)


def binding_cookie(session_id: str, token: str, path: str, max_age: int) -> str:
    return (
        f"{COOKIE_NAME}={session_id}.{token}; Path={path}; Max-Age={max(0, max_age)}; "
        "HttpOnly; Secure; SameSite=Lax"
    )


def read_binding_cookie(cookie_headers: list[str]) -> tuple[str, str] | None:
    """(session id, token) from the request's Cookie header(s), or None when absent or malformed."""
    found = None
    for header in cookie_headers:
        for part in header.split(";"):
            name, sep, value = part.strip().partition("=")
            if sep and name == COOKIE_NAME:
                if found is not None:
                    return None  # two binding cookies: ambiguous, refuse
                found = value
    if found is None:
        return None
    session_id, sep, token = found.partition(".")
    session_id = normalize_uuid(session_id)
    if not sep or session_id is None or not _TOKEN_RE.match(token):
        return None
    return session_id, token


def is_allowed_return_url(url: object, allowlist: tuple[str, ...]) -> bool:
    """Exact, character-for-character membership; anything odd is refused before the lookup."""
    if not isinstance(url, str) or not url or len(url) > MAX_RETURN_URL_LENGTH:
        return False
    if any(ord(c) < 0x21 or ord(c) > 0x7E for c in url) or "\\" in url:
        return False
    return url in allowlist


def check_allowlist_entry(url: str) -> str | None:
    """Why an allow-list entry is unsafe, or None. Entries must be absolute http(s) URLs on a host,
    without userinfo or fragment, in plain printable ASCII."""
    if any(ord(c) < 0x21 or ord(c) > 0x7E for c in url) or "\\" in url:
        return "must be printable ASCII without spaces or backslashes"
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "must be an absolute http(s) URL"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "must not carry userinfo"
    if parts.fragment:
        return "must not carry a fragment"
    if parts.scheme == "http" and parts.hostname not in ("localhost", "127.0.0.1"):
        return "must use https (http only for localhost)"
    return None


def with_query(url: str, params: dict[str, str]) -> str:
    separator = "&" if urlsplit(url).query else "?"
    return f"{url}{separator}{urlencode(params)}"


def path_of(url: str) -> str:
    return urlsplit(url).path or "/"
