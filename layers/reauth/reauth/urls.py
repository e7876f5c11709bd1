"""URLs: the operator's return-URL allow-list (its entries' rules, exact membership) and the
small joins the service's own links are made of."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

MAX_RETURN_URL_LENGTH = 2048


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
