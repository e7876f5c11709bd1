"""What stands between the browser and a request: link keys, binding cookies, CSRF, same origin.

- A start link carries a key: base64url(HMAC-SHA256(link secret, "link:" + request id)). Nothing
  is stored for it, so every answer about the request can hand out the same, durable link.
  Opening the link changes nothing; only the start page's button (a same-origin POST carrying
  the key) starts an attempt.
- That POST binds the browser to the attempt: a random token goes into an HttpOnly, Secure,
  SameSite=Lax cookie named for the request (`reauth_<request id, hex>` = `<attempt id>.<token>`),
  its SHA-256 onto the attempt. One cookie per request: two re-authentications in two tabs of one
  browser each keep theirs. Dwolla's redirect back and the Plaid page's report are honoured only
  for the browser holding the cookie (OAuth's `state`, done with a cookie).
- Scripted POSTs (the Plaid page's report) also carry a CSRF token derived from the cookie's
  token (HMAC), and every browser POST must come from the service's own origin.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from urllib.parse import urlsplit

from .ids import normalize_uuid, uuid_from_hex

COOKIE_PREFIX = "reauth_"
MAX_BINDING_COOKIES = 4  # a browser juggling more re-authentications at once is refused
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{20,128}")
_LINK_KEY_RE = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url of 32 bytes, unpadded


def new_secret() -> str:
    """A 256-bit URL-safe random secret (start keys, binding tokens)."""
    return secrets.token_urlsafe(32)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def is_well_formed_secret(value: str) -> bool:
    """Could `value` be one of our secrets (start keys, binding tokens)? Checked before any I/O."""
    return bool(_TOKEN_RE.fullmatch(value))


def matches(value: str | None, expected_digest: str | None) -> bool:
    """Constant-time check of a presented secret against a stored digest."""
    if not value or not expected_digest or not is_well_formed_secret(value):
        return False
    return hmac.compare_digest(digest(value), expected_digest)


def link_key(link_secret: bytes, request_id: str) -> str:
    """The key in a request's start link (stateless: the same for every answer)."""
    mac = hmac.new(link_secret, f"link:{request_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def is_well_formed_link_key(value: str) -> bool:
    """Could `value` be a link key (an HMAC-SHA256, base64url)? Checked before any I/O."""
    return bool(_LINK_KEY_RE.fullmatch(value))


def link_key_matches(link_secret: bytes, request_id: str, presented: str | None) -> bool:
    if not presented or not is_well_formed_secret(presented):
        return False
    return hmac.compare_digest(presented, link_key(link_secret, request_id))


def csrf_token(binding_token: str) -> str:
    """What the Plaid page sends in X-Reauth-CSRF: only the page that set the cookie knows it."""
    mac = hmac.new(binding_token.encode(), b"csrf", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def csrf_matches(binding_token: str, presented: str | None) -> bool:
    if not presented:
        return False
    return hmac.compare_digest(presented.encode(), csrf_token(binding_token).encode())


def binding_cookie_name(request_id: str) -> str:
    return COOKIE_PREFIX + request_id.replace("-", "")


def binding_cookie(request_id: str, attempt_id: str, token: str, path: str, max_age: int) -> str:
    return (
        f"{binding_cookie_name(request_id)}={attempt_id}.{token}; Path={path}; "
        f"Max-Age={max(0, max_age)}; HttpOnly; Secure; SameSite=Lax"
    )


def read_binding_cookies(cookie_headers: list[str]) -> dict[str, tuple[str, str]]:
    """{request id: (attempt id, token)} from the request's Cookie header(s). Malformed or
    repeated binding cookies are ignored; more than MAX_BINDING_COOKIES is refused (empty)."""
    seen: dict[str, list[str]] = {}
    for header in cookie_headers:
        for part in header.split(";"):
            name, sep, value = part.strip().partition("=")
            if sep and name.startswith(COOKIE_PREFIX):
                seen.setdefault(name, []).append(value)
    if len(seen) > MAX_BINDING_COOKIES:
        return {}
    found: dict[str, tuple[str, str]] = {}
    for name, values in seen.items():
        request_id = uuid_from_hex(name.removeprefix(COOKIE_PREFIX))
        if request_id is None or len(values) != 1:
            continue  # two cookies of one name: ambiguous, ignored
        raw_attempt_id, sep, token = values[0].partition(".")
        attempt_id = normalize_uuid(raw_attempt_id)
        if sep and attempt_id is not None and _TOKEN_RE.fullmatch(token):
            found[request_id] = (attempt_id, token)
    return found


def same_origin(origin: str | None, fetch_site: str | None, public_base_url: str) -> bool:
    """A browser POST must come from the service's own pages. Browsers send Origin on every
    POST (and Sec-Fetch-Site); a request with neither is not a browser's cross-site one."""
    if fetch_site is not None and fetch_site.strip().lower() not in ("same-origin", "none"):
        return False
    if origin is None:
        return True
    parts = urlsplit(public_base_url)
    return origin.strip().rstrip("/").lower() == f"{parts.scheme}://{parts.netloc}".lower()
