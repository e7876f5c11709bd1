"""What stands between the browser and a request: link keys, binding cookies, CSRF, return URLs.

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
- Return URLs must equal, character for character, an entry of the operator's allow-list.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from urllib.parse import urlencode, urlsplit

COOKIE_PREFIX = "reauth_"
MAX_BINDING_COOKIES = 4  # a browser juggling more re-authentications at once is refused
UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{20,128}")
_HEX32_RE = re.compile(r"[0-9a-fA-F]{32}")
_IDEMPOTENCY_KEY_RE = re.compile(r"[\x21-\x7e]{1,255}")
MAX_RETURN_URL_LENGTH = 2048


def normalize_uuid(value: object) -> str | None:
    """The lower-case UUID, or None when `value` is not a UUID in canonical form."""
    if isinstance(value, str) and UUID_RE.fullmatch(value):
        return value.lower()
    return None


def valid_idempotency_key(value: str) -> bool:
    return bool(_IDEMPOTENCY_KEY_RE.fullmatch(value))


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


def link_key_matches(link_secret: bytes, request_id: str, presented: str | None) -> bool:
    if not presented or not is_well_formed_secret(presented):
        return False
    return hmac.compare_digest(presented, link_key(link_secret, request_id))


def csrf_token(binding_token: str) -> str:
    """What the Plaid page sends in X-Reauth-CSRF: only the page that set the cookie knows it."""
    mac = hmac.new(binding_token.encode(), b"csrf", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def csrf_matches(binding_token: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(
        presented.encode(), csrf_token(binding_token).encode()
    )


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
        request_id = _uuid_from_hex(name.removeprefix(COOKIE_PREFIX))
        if request_id is None or len(values) != 1:
            continue  # two cookies of one name: ambiguous, ignored
        attempt_id, sep, token = values[0].partition(".")
        attempt_id = normalize_uuid(attempt_id)
        if sep and attempt_id is not None and _TOKEN_RE.fullmatch(token):
            found[request_id] = (attempt_id, token)
    return found


def _uuid_from_hex(value: str) -> str | None:
    if not _HEX32_RE.fullmatch(value):
        return None
    v = value.lower()
    return f"{v[:8]}-{v[8:12]}-{v[12:16]}-{v[16:20]}-{v[20:]}"


def same_origin(origin: str | None, fetch_site: str | None, public_base_url: str) -> bool:
    """A browser POST must come from the service's own pages. Browsers send Origin on every
    POST (and Sec-Fetch-Site); a request with neither is not a browser's cross-site one."""
    if fetch_site is not None and fetch_site.strip().lower() not in ("same-origin", "none"):
        return False
    if origin is None:
        return True
    parts = urlsplit(public_base_url)
    return origin.strip().rstrip("/").lower() == f"{parts.scheme}://{parts.netloc}".lower()


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
