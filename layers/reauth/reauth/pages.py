"""The customer-facing HTML pages, as pure functions: text in, `Page(status, html, csp)` out.

Customers open these pages on their phones, from a link their platform sent them. Each page is
one small document: mobile-first, the platform's display name shown as text, one button or
link to act on, no external asset (Plaid's Link script on the Plaid page is the one exception).
Every page gets a fresh nonce; its one `<style>` block (and, on the Plaid page, its scripts)
carry it, and `Page.csp` is the Content-Security-Policy the answer must be sent with.

Everything a page shows is HTML-escaped, and no page echoes request input: the callers pass
the platform's configured name, URLs the service built, and fixed outcome / reason / kind
words (an unknown word raises ValueError, an unknown provider reason shows a generic message).

Every word shown comes from the catalogue (words.py), in the language of the `locale` each page
takes (`<html lang>` says which); a locale the service does not speak reads the default one.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from html import escape
from urllib.parse import urlsplit

from .inapp import android_intent_url
from .page_assets import COPY_SCRIPT, FOLLOW_SCRIPT, ICONS, IN_APP_STYLE, PLAID_SCRIPT, STYLE
from .words import DEFAULT_LANGUAGE, language, sentence_start, words

# The provider error reasons a failure page explains (design: USER_CANCELLED and
# TEMPORARY_ERROR are worth retrying, AUTHENTICATION_ERROR rarely is); any other reads
# "reason.other".
PROVIDER_REASONS = ("USER_CANCELLED", "TEMPORARY_ERROR", "AUTHENTICATION_ERROR")
# What the customer reads for each reason, in the default language (tests, e2e).
PROVIDER_MESSAGES: dict[str, str] = {r: words(None)[f"reason.{r}"] for r in PROVIDER_REASONS}
GENERIC_FAILURE = words(None)["reason.other"]

OUTCOMES = (
    "reauthorized",
    "reauthorized_elsewhere",
    "already_done",
    "verifying",
    "unverified",
    "failed",
    "closed",
    "cancelled",
)
RENEWABLE = ("expired", "cancelled")  # closed links that offer "Send me a new link"
ERROR_KINDS = {"refused": 400, "closed": 410, "too_many_attempts": 429, "unavailable": 503}
HANDOFFS = ("redirect", "token")

_NONCE_RE = re.compile(r"[A-Za-z0-9+/_=-]{16,128}")
_ORIGIN_RE = re.compile(
    r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?"
)


@dataclass(frozen=True)
class Page:
    status: int
    html: str
    csp: str


def csp_for(nonce: str, script_origin: str | None = None, *, inline_script: bool = False) -> str:
    """The page's Content-Security-Policy: nothing but its own nonce'd style block; with a
    `script_origin` (the Plaid page) also its nonce'd scripts, and that origin's script, frame
    and connections; with `inline_script` (a page's own small script) its nonce'd scripts and
    connections to the service only."""
    if not _NONCE_RE.fullmatch(nonce):
        raise ValueError("nonce must be 16-128 base64/base64url characters")
    directives = [
        "default-src 'none'",
        f"style-src 'nonce-{nonce}'",
        "img-src 'self' data:",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
    if script_origin is not None:
        if not _ORIGIN_RE.fullmatch(script_origin):
            raise ValueError("script_origin must be an http(s) origin: scheme://host[:port]")
        directives += [
            f"script-src 'nonce-{nonce}' {script_origin}",
            f"frame-src {script_origin}",
            f"connect-src 'self' {script_origin}",
        ]
    elif inline_script:
        directives += [f"script-src 'nonce-{nonce}'", "connect-src 'self'"]
    return "; ".join(directives)


# --- the pages --------------------------------------------------------------------------------


class _Words:
    """One page's words: the locale's table, with the platform's name filled in."""

    def __init__(self, locale: str | None, platform: str) -> None:
        self.lang = language(locale) or DEFAULT_LANGUAGE
        self.table = words(self.lang)
        name = " ".join(str(platform or "").split())
        self.platform = name or self.table["platform.default"]

    def __call__(self, key: str, **values: str) -> str:
        name = self.platform
        return self.table[key].format(platform=name, Platform=sentence_start(name), **values)


def start_page(
    *,
    platform: str,
    action_url: str,
    key: str | None,
    handoff: str,
    render: str,
    locale: str | None = None,
    in_app_link: str | None = None,
    android: bool = False,
) -> Page:
    """The page the link opens. Changes nothing: its one button POSTs the key back (none when
    the browser's binding stands for it), and this rendering's id (one attempt per rendering).

    With `in_app_link` (the page is open inside another app, inapp.py; the link is this page's
    own, as the service built it) the page leads with opening that link in the phone's browser:
    a "Copy link" button, on `android` an intent link to the default browser, and the start
    button, the same form, as "Continue here anyway"."""
    if handoff not in HANDOFFS:
        raise ValueError(f"handoff must be one of {HANDOFFS}")
    say = _Words(locale, platform)
    action = _url(action_url, "action_url")

    def form(label: str, tone: str = "") -> str:
        return (
            f'<form method="post" action="{_attr(action)}">'
            + (f'<input type="hidden" name="key" value="{_attr(key)}">' if key else "")
            + f'<input type="hidden" name="render" value="{_attr(render)}">'
            + f'<button class="button{tone}" type="submit">{_text(label)}</button></form>'
        )

    text = _paragraph(say("start.text", where=say(f"start.where.{handoff}")))
    if in_app_link is not None:
        button = form(say("inapp.continue"), " secondary")
        return _in_app_start_page(say, text, button, in_app_link, android=android)
    body = text + '<div class="actions">' + form(say("start.button")) + "</div>"
    return _page(200, say, say("start.title"), "bank", "info", body)


def _in_app_start_page(say: _Words, text: str, form: str, link: str, *, android: bool) -> Page:
    link = _url(link, "in_app_link", absolute=True)
    copy_tone = " secondary" if android else ""
    body = (
        text
        + _paragraph(say("inapp.text"))
        + _paragraph(say("inapp.how"))
        + '<div class="actions">'
        + (
            f'<a class="button" href="{_attr(android_intent_url(link))}">'
            f"{_text(say('inapp.open_browser'))}</a>"
            if android
            else ""
        )
        + '<div class="copy">'
        + f'<label for="page-link">{_text(say("inapp.link_label"))}</label>'
        + f'<input id="page-link" class="link" type="text" readonly value="{_attr(link)}" '
        + 'spellcheck="false" autocomplete="off" dir="ltr">'
        + f'<button id="copy-link" class="button{copy_tone}" type="button" hidden '
        + f'data-copied="{_attr(say("inapp.copied"))}" '
        + f'data-selected="{_attr(say("inapp.selected"))}">{_text(say("inapp.copy"))}</button>'
        + '<p id="copy-status" class="status" role="status"></p></div>'
        + form
        + "</div>"
    )
    nonce = _nonce()
    head = f'<style nonce="{nonce}">{IN_APP_STYLE}</style>'
    return _page(
        200, say, say("inapp.title"), "bank", "info", body,
        head=head, nonce=nonce, script=COPY_SCRIPT,
    )  # fmt: skip


def to_bank_page(*, platform: str, bank_url: str, locale: str | None = None) -> Page:
    """The answer to the start button for redirect partners: off to the bank at once (a form
    POST may not redirect cross-origin under `form-action 'self'`), with a link as fallback."""
    say = _Words(locale, platform)
    url = _url(bank_url, "bank_url", absolute=True)
    body = (
        _paragraph(say("to_bank.text"))
        + '<div class="actions">'
        + f'<a class="button" href="{_attr(url)}">{_text(say("to_bank.button"))}</a>'
        + "</div>"
    )
    head = f'<meta http-equiv="refresh" content="{_attr("0;url=" + url)}">'
    return _page(200, say, say("to_bank.title"), "bank", "info", body, head=head)


# The Plaid page's script says these (passed in its JSON config, never in the markup).
_SCRIPT_WORDS = {
    "finishing": "plaid.finishing",
    "unreachable": "plaid.unreachable",
    "notLoaded": "plaid.not_loaded",
    "open": "plaid.open",
    "notOpened": "plaid.not_opened",
}


def plaid_page(
    *,
    platform: str,
    script_url: str,
    token: str,
    complete_url: str,
    csrf: str,
    locale: str | None = None,
    received_redirect_uri: str | None = None,
) -> Page:
    """The answer to the start button for token partners: opens Plaid Link over the page and
    reports how it ended to `complete_url`, then goes where the service's answer says. Back from
    an OAuth bank, `received_redirect_uri` (Plaid's option) lets Link finish there."""
    say = _Words(locale, platform)
    script_url = _url(script_url, "script_url", absolute=True)
    origin = _origin(script_url)
    nonce = _nonce()
    config = {
        "token": token,
        "completeUrl": _url(complete_url, "complete_url"),
        "csrf": csrf,
        "words": {name: say(key) for name, key in _SCRIPT_WORDS.items()},
    }
    if received_redirect_uri:
        config["receivedRedirectUri"] = _url(received_redirect_uri, "received_redirect_uri")
    body = (
        _paragraph(say("plaid.text"))
        + '<p id="status" class="status" role="status" aria-live="polite">'
        + '<span class="spinner" aria-hidden="true"></span>'
        + f"<span>{_text(say('plaid.opening'))}</span></p>"
        + f'<noscript><p class="status">{_text(say("plaid.noscript"))}</p></noscript>'
        + '<div class="actions">'
        + '<button class="button" type="button" id="reopen" hidden>'
        + f"{_text(say('plaid.reopen'))}</button>"
        + '<button class="button" type="button" id="retry" hidden>'
        + f"{_text(say('plaid.retry'))}</button>"
        + "</div>"
        + f'<script type="application/json" id="reauth-config">{script_json(config)}</script>'
        + f'<script src="{_attr(script_url)}" nonce="{nonce}"></script>'
        + f'<script nonce="{nonce}">{PLAID_SCRIPT}</script>'
    )
    return _page(
        200, say, say("plaid.title"), "bank", "info", body, nonce=nonce, script_origin=origin
    )


# The verifying page's poll: first after POLL_FIRST_MS, each wait 1.5 times the last up to
# POLL_MAX_MS; after POLL_LIMIT_MS it stops and says it is taking longer than usual. The limit
# covers the schedule's re-check of a waiting claim (every 5 minutes, due 1 minute after Dwolla
# failed to answer: at most 6 minutes when Dwolla answers again).
POLL_FIRST_MS = 3_000
POLL_MAX_MS = 15_000
POLL_LIMIT_MS = 6 * 60_000


def result_page(
    *,
    platform: str,
    outcome: str,
    reason: str | None = None,
    retry_action: str | None = None,
    return_url: str | None = None,
    retry_render: str | None = None,
    locale: str | None = None,
    status_url: str | None = None,
    check_url: str | None = None,
) -> Page:
    """How it ended. `reason` (a provider error reason) only matters for "failed".

    "reauthorized_elsewhere": Dwolla shows the connection working though this request was not
    finished (the customer re-authenticated in another app, or the check that saw their login
    ran first). "closed": the request expired or was superseded before a login was confirmed.
    "verifying" with `status_url` (the service's status route for the request) and `check_url`
    (the page to load again to check by hand: the link, or this page) checks on its own, and
    goes on once the request has ended (FOLLOW_SCRIPT); without JavaScript, or past
    POLL_LIMIT_MS, it offers "Check again" (`check_url`)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}")
    follow = (status_url, check_url) if status_url and check_url else None
    if (status_url or check_url) and (follow is None or outcome != "verifying"):
        raise ValueError("only the verifying page follows, with both status_url and check_url")
    say = _Words(locale, platform)
    icon, tone = _RESULT_LOOKS[outcome]
    if outcome == "failed":
        text = say(f"reason.{reason}" if reason in PROVIDER_REASONS else "reason.other")
        if retry_action is not None:
            text += " " + say("result.failed.retry")
    else:
        text = say(f"result.{outcome}.text")
    if outcome in ("unverified", "failed") and retry_action is None:
        text += " " + say("result.start_over")
    actions = ""
    if retry_action is not None:
        actions += (
            f'<form method="post" action="{_attr(_url(retry_action, "retry_action"))}">'
            + (
                f'<input type="hidden" name="render" value="{_attr(retry_render)}">'
                if retry_render
                else ""
            )
            + f'<button class="button" type="submit">{_text(say("result.try_again"))}</button>'
            + "</form>"
        )
    if return_url is not None:
        kind = "button secondary" if retry_action is not None else "button"
        url = _url(return_url, "return_url", absolute=True)
        actions += f'<a class="{kind}" href="{_attr(url)}">{_text(say("result.back"))}</a>'
    body = (
        _paragraph(text)
        + (_following(say, follow) if follow else "")
        + (f'<div class="actions">{actions}</div>' if actions else "")
    )
    script = FOLLOW_SCRIPT if follow else ""
    return _page(200, say, say(f"result.{outcome}.title"), icon, tone, body, script=script)


def _following(say: _Words, follow: tuple[str, str]) -> str:
    """The verifying page's status line, its "Check again" link (shown without JavaScript, and
    by the script when it stops) and the script's configuration."""
    status_url, check_url = follow
    config = {
        "statusUrl": _url(status_url, "status_url"),
        "first": POLL_FIRST_MS,
        "most": POLL_MAX_MS,
        "limit": POLL_LIMIT_MS,
        "words": {"checking": say("verifying.checking"), "longer": say("verifying.longer")},
    }
    check = _url(check_url, "check_url")
    return (
        '<p id="status" class="status" role="status" aria-live="polite" hidden>'
        '<span class="spinner" aria-hidden="true"></span>'
        f"<span>{_text(say('verifying.checking'))}</span></p>"
        '<div class="actions" id="check">'
        f'<a class="button" href="{_attr(check)}">{_text(say("verifying.check_again"))}</a>'
        "</div>"
        f'<script type="application/json" id="reauth-follow">{script_json(config)}</script>'
    )


# A result page's icon and tone, by outcome.
_RESULT_LOOKS = {
    "reauthorized": ("check", "success"),
    "reauthorized_elsewhere": ("check", "success"),
    "already_done": ("check", "success"),
    "verifying": ("clock", "info"),
    "unverified": ("alert", "warn"),
    "failed": ("alert", "warn"),
    "closed": ("clock", "warn"),
    "cancelled": ("block", "warn"),
}


def closed_link_page(
    *, platform: str, reason: str, renew_action: str, key: str, locale: str | None = None
) -> Page:
    """An expired or cancelled link: says so, and offers "Send me a new link" (a form POST of
    the link's key to `renew_action`; no script)."""
    if reason not in RENEWABLE:
        raise ValueError(f"reason must be one of {RENEWABLE}")
    say = _Words(locale, platform)
    icon = "block" if reason == "cancelled" else "clock"
    text = say(f"closed.{reason}.text") + " " + say("closed.ask")
    body = (
        _paragraph(text)
        + '<div class="actions">'
        + f'<form method="post" action="{_attr(_url(renew_action, "renew_action"))}">'
        + f'<input type="hidden" name="key" value="{_attr(key)}">'
        + f'<button class="button" type="submit">{_text(say("closed.button"))}</button>'
        + "</form></div>"
    )
    return _page(ERROR_KINDS["closed"], say, say(f"closed.{reason}.title"), icon, "warn", body)


def link_requested_page(
    *, platform: str, self_service: bool, already: bool = False, locale: str | None = None
) -> Page:
    """The answer to "Send me a new link": the platform was told (today, or just now); with
    `self_service`, a new link is on its way (never says where: no contact is shown)."""
    say = _Words(locale, platform)
    parts = [say("requested.already" if already else "requested.told")]
    if self_service:
        parts.append(say("requested.on_its_way"))
    parts.append(say("requested.close"))
    body = _paragraph(" ".join(parts))
    return _page(200, say, say("requested.title"), "check", "success", body)


# An error page's icon and tone, by kind.
_ERROR_LOOKS = {
    "refused": ("block", "error"),
    "closed": ("clock", "warn"),
    # The cap (repository.MAX_ATTEMPTS per request) is for good: waiting does not help.
    "too_many_attempts": ("block", "warn"),
    "unavailable": ("alert", "warn"),
}


def error_page(*, platform: str, kind: str, locale: str | None = None) -> Page:
    """A request the service does not honour, or cannot right now. Never says why, never
    echoes input."""
    if kind not in ERROR_KINDS:
        raise ValueError(f"kind must be one of {tuple(ERROR_KINDS)}")
    say = _Words(locale, platform)
    icon, tone = _ERROR_LOOKS[kind]
    body = _paragraph(say(f"error.{kind}.text"))
    return _page(ERROR_KINDS[kind], say, say(f"error.{kind}.title"), icon, tone, body)


# --- building blocks --------------------------------------------------------------------------


def script_json(value: object) -> str:
    """JSON that is inert inside a `<script>` element: no `<`, `>` or `&` survive literally
    (so no `</script>` or `<!--`), and U+2028/2029 are escaped too."""
    return (
        json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _nonce() -> str:
    return secrets.token_urlsafe(16)


def _text(value: str) -> str:
    return escape(value, quote=True)


_attr = _text


def _paragraph(text: str) -> str:
    return f"<p>{_text(text)}</p>"


def _url(url: str, what: str, *, absolute: bool = False) -> str:
    """A URL the service built: http(s), or (unless `absolute`) a path; nothing else (no
    `javascript:`, no control characters or spaces)."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if (
        parts is None
        or not url
        or any(c.isspace() or c == "\\" or ord(c) < 0x20 or ord(c) == 0x7F for c in url)
        or parts.scheme not in ("http", "https", "")
        or (parts.scheme and not parts.netloc)
        or (not parts.scheme and (absolute or not url.startswith("/") or url.startswith("//")))
    ):
        raise ValueError(f"{what} must be an http(s) URL" + ("" if absolute else " or a path"))
    return url


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def _page(
    status: int,
    say: _Words,
    title: str,
    icon: str,
    tone: str,
    body: str,
    *,
    head: str = "",
    nonce: str | None = None,
    script_origin: str | None = None,
    script: str = "",
) -> Page:
    """One document. `script` (the page's own JavaScript, no outside origin) is added nonce'd
    at the end of the body, and the CSP lets it run and call the service."""
    nonce = nonce or _nonce()
    if script:
        body += f'<script nonce="{nonce}">{script}</script>'

    platform = say.platform
    document = (
        f'<!doctype html><html lang="{say.lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex, nofollow">'
        # Not "no-referrer" (the service's header): under it Chromium sends `Origin: null` on
        # the pages' own form POSTs, which the service's same-origin check must refuse.
        # "same-origin" still sends nothing to the bank or Plaid.
        '<meta name="referrer" content="same-origin">'
        '<link rel="icon" href="data:,">'  # no /favicon.ico request
        f"{head}<title>{_text(title)} · {_text(platform)}</title>"
        f'<style nonce="{nonce}">{STYLE}</style></head>'
        '<body><main><div class="card">'
        f'<p class="platform">{_text(platform)}</p>'
        f'<div class="badge {tone}"><svg viewBox="0 0 24 24" width="28" height="28" '
        'fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" '
        f'stroke-linejoin="round" aria-hidden="true" focusable="false">{ICONS[icon]}</svg></div>'
        f"<h1>{_text(title)}</h1>{body}</div></main></body></html>"
    )
    csp = csp_for(nonce, script_origin, inline_script=bool(script))
    return Page(status=status, html=document, csp=csp)
