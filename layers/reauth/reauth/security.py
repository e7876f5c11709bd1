"""What stands between the browser and a request: link keys, binding cookies, CSRF, same origin.

- A start link carries a key: base64url(HMAC-SHA256(link secret, "link:" + request id)). Nothing
  is stored for it, so every answer about the request can hand out the same, durable link.
  Opening the link changes nothing; only the start page's button (a same-origin POST carrying
  the key) starts an attempt.
- That POST binds the browser: its attempt records the SHA-256 of the browser's binding token,
  a random secret kept in one HttpOnly, Secure, SameSite=Lax cookie (`reauth_binding` =
  `<token>.<request id hex>.<…>`, the requests it was bound to, most recent first, at most
  MAX_BOUND_REQUESTS: a bounded header however many requests and tabs a customer has). Every
  attempt the browser starts carries the same token, so two tabs, or ten requests in a day,
  keep each other's bindings. Opening the link gives a browser without one its token (nothing
  is stored), so even concurrent first clicks share it. Dwolla's redirect back and the Plaid
  page's report are honoured only for the browser holding the token of one of the request's
  attempts (OAuth's `state`, done with a cookie).
- Scripted POSTs (the Plaid page's report) also carry a CSRF token naming the attempt and
  derived from the binding token (HMAC), and every browser POST must come from the service's
  own origin.
- Each rendering of a start button carries a random render id: the attempt records its
  digest, so however often one rendering is submitted it starts at most one attempt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Collection
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from .ids import normalize_uuid, uuid_from_hex

BINDING_COOKIE = "reauth_binding"
MAX_BOUND_REQUESTS = 16  # the cookie names the browser's latest requests: at most ~600 bytes
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


def csrf_token(binding_token: str, attempt_id: str) -> str:
    """What the Plaid page sends in X-Reauth-CSRF: `<attempt id>.<HMAC>`; only the page that
    holds the browser's binding token for that attempt knows it."""
    return f"{attempt_id}.{_csrf_mac(binding_token, attempt_id)}"


def csrf_attempt(binding_token: str, presented: str | None) -> str | None:
    """The attempt id a presented CSRF token names, when it is this browser's; else None."""
    raw_attempt_id, sep, mac = (presented or "").partition(".")
    attempt_id = normalize_uuid(raw_attempt_id) if sep and len(mac) < 100 else None
    if attempt_id is None:
        return None
    expected = _csrf_mac(binding_token, attempt_id)
    return attempt_id if hmac.compare_digest(mac.encode(), expected.encode()) else None


def _csrf_mac(binding_token: str, attempt_id: str) -> str:
    mac = hmac.new(binding_token.encode(), f"csrf:{attempt_id}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


@dataclass(frozen=True)
class BrowserBinding:
    """What a browser's binding cookie holds: its token (None: never bound) and the requests it
    was bound to, most recent first."""

    token: str | None = None
    request_ids: tuple[str, ...] = ()

    def with_request(self, request_id: str, keep: Collection[str] | None = None) -> BrowserBinding:
        """This binding after binding `request_id`: first, the rest kept (if `keep` names
        them), at most MAX_BOUND_REQUESTS."""
        rest = [r for r in self.request_ids if r != request_id and (keep is None or r in keep)]
        return replace(self, request_ids=(request_id, *rest)[:MAX_BOUND_REQUESTS])


def binding_cookie(binding: BrowserBinding, path: str, max_age: int) -> str:
    ids = "".join("." + request_id.replace("-", "") for request_id in binding.request_ids)
    return (
        f"{BINDING_COOKIE}={binding.token}{ids}; Path={path}; "
        f"Max-Age={max(0, max_age)}; HttpOnly; Secure; SameSite=Lax"
    )


def read_binding(cookie_headers: list[str]) -> BrowserBinding:
    """The browser's binding from its Cookie header(s): empty when absent, malformed or sent
    twice (ambiguous). Ids past MAX_BOUND_REQUESTS and malformed ones are ignored."""
    values = [
        value
        for header in cookie_headers
        for name, sep, value in (part.strip().partition("=") for part in header.split(";"))
        if sep and name == BINDING_COOKIE
    ]
    if len(values) != 1:
        return BrowserBinding()
    token, *hexes = values[0].split(".")
    if not _TOKEN_RE.fullmatch(token):
        return BrowserBinding()
    ids = [uuid_from_hex(h) for h in hexes[:MAX_BOUND_REQUESTS]]
    unique = dict.fromkeys(i for i in ids if i is not None)
    return BrowserBinding(token, tuple(unique))


def same_origin(origin: str | None, fetch_site: str | None, public_base_url: str) -> bool:
    """A browser POST must come from the service's own pages. Browsers send Origin on every
    POST (and Sec-Fetch-Site); a request with neither is not a browser's cross-site one."""
    if fetch_site is not None and fetch_site.strip().lower() not in ("same-origin", "none"):
        return False
    if origin is None:
        return True
    parts = urlsplit(public_base_url)
    return origin.strip().rstrip("/").lower() == f"{parts.scheme}://{parts.netloc}".lower()
