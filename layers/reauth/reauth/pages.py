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
    head = f'<style nonce="{nonce}">{_IN_APP_STYLE}</style>'
    return _page(
        200, say, say("inapp.title"), "bank", "info", body,
        head=head, nonce=nonce, script=_COPY_SCRIPT,
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
        + f'<script nonce="{nonce}">{_PLAID_SCRIPT}</script>'
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
    goes on once the request has ended (_FOLLOW_SCRIPT); without JavaScript, or past
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
    script = _FOLLOW_SCRIPT if follow else ""
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


_ICONS = {
    "bank": '<path d="M12 3 3 8h18z"/><path d="M5 11v7M9.7 11v7M14.3 11v7M19 11v7M3 21h18"/>',
    "check": '<path d="m5 12.5 4.5 4.5L19 7.5"/>',
    "clock": '<circle cx="12" cy="12" r="8.5"/><path d="M12 7.5V12l3 2"/>',
    "alert": '<path d="M12 3.5 2.5 20h19z"/><path d="M12 10v4.5M12 17.5v.01"/>',
    "block": '<circle cx="12" cy="12" r="8.5"/><path d="m6 6 12 12"/>',
}


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
        f'<style nonce="{nonce}">{_STYLE}</style></head>'
        '<body><main><div class="card">'
        f'<p class="platform">{_text(platform)}</p>'
        f'<div class="badge {tone}"><svg viewBox="0 0 24 24" width="28" height="28" '
        'fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" '
        f'stroke-linejoin="round" aria-hidden="true" focusable="false">{_ICONS[icon]}</svg></div>'
        f"<h1>{_text(title)}</h1>{body}</div></main></body></html>"
    )
    csp = csp_for(nonce, script_origin, inline_script=bool(script))
    return Page(status=status, html=document, csp=csp)


# Mobile-first; light and dark schemes, each with AA contrast (tests/e2e measure it).
_STYLE = (
    ":root{color-scheme:light dark;--bg:#eef1f5;--card:#fff;--text:#16191d;--muted:#4a5361;"
    "--accent:#0b57d0;--on-accent:#fff;--focus:#0b57d0;--line:#d3d9e1;"
    "--info:#0b57d0;--info-bg:#e3ecfd;--success:#146c2e;--success-bg:#def2e3;"
    "--warn:#8a4b00;--warn-bg:#fcefd9;--error:#b3261e;--error-bg:#fbe4e2}"
    "@media (prefers-color-scheme:dark){:root{--bg:#101317;--card:#1b2027;--text:#eceff3;"
    "--muted:#b6bfcb;--accent:#9cc0fa;--on-accent:#0a1a33;--focus:#9cc0fa;--line:#3a434f;"
    "--info:#9cc0fa;--info-bg:#1f3350;--success:#8fd6a0;--success-bg:#1c3a25;"
    "--warn:#f2c27b;--warn-bg:#43311a;--error:#f2aba5;--error-bg:#4a2220}}"
    "*,*::before,*::after{box-sizing:border-box}"
    "html{-webkit-text-size-adjust:100%;text-size-adjust:100%}"
    "body{margin:0;min-height:100vh;min-height:100dvh;background:var(--card);color:var(--text);"
    'font:1.0625rem/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",'
    '"Noto Sans","Liberation Sans",Arial,sans-serif}'
    "main{max-width:30rem;margin:0 auto;padding:1rem 1.25rem 2rem}"
    ".card{background:var(--card)}"
    ".card>:last-child{margin-bottom:0}"
    ".platform{margin:0 0 1.5rem;padding-bottom:.875rem;border-bottom:1px solid var(--line);"
    "color:var(--muted);font-size:.9375rem;font-weight:600;overflow-wrap:anywhere}"
    ".badge{display:flex;align-items:center;justify-content:center;width:3.25rem;"
    "height:3.25rem;border-radius:50%;color:var(--info);background:var(--info-bg)}"
    ".badge.success{color:var(--success);background:var(--success-bg)}"
    ".badge.warn{color:var(--warn);background:var(--warn-bg)}"
    ".badge.error{color:var(--error);background:var(--error-bg)}"
    "h1{margin:1rem 0 .75rem;font-size:1.5rem;line-height:1.25;overflow-wrap:anywhere}"
    "p{margin:0 0 1rem;overflow-wrap:anywhere}"
    ".status{display:flex;align-items:center;gap:.625rem;color:var(--muted)}"
    ".status.problem{padding:.75rem 1rem;border-left:4px solid var(--warn);"
    "border-radius:.5rem;background:var(--warn-bg);color:var(--text)}"
    ".actions{display:flex;flex-direction:column;gap:.75rem;margin-top:1.5rem}"
    ".actions form{margin:0}"
    ".button{display:flex;align-items:center;justify-content:center;width:100%;"
    "min-height:3rem;margin:0;padding:.75rem 1.25rem;border:2px solid var(--accent);"
    "border-radius:.75rem;background:var(--accent);color:var(--on-accent);font:inherit;"
    "font-weight:600;line-height:1.25;text-align:center;text-decoration:none;cursor:pointer;"
    "overflow-wrap:anywhere;-webkit-tap-highlight-color:transparent}"
    ".button.secondary{background:transparent;color:var(--accent)}"
    ":focus-visible{outline:3px solid var(--focus);outline-offset:3px}"
    ".button:focus-visible{outline:3px solid var(--focus);outline-offset:3px}"
    "[hidden]{display:none!important}"
    ".spinner{flex:none;width:1.25rem;height:1.25rem;border:3px solid var(--line);"
    "border-top-color:var(--accent);border-radius:50%;animation:spin 1s linear infinite}"
    "@keyframes spin{to{transform:rotate(1turn)}}"
    "@media (prefers-reduced-motion:reduce){.spinner{animation:none}}"
    # Wider screens: the page becomes a card on a tinted background.
    "@media (min-width:40rem){body{background:var(--bg)}main{padding-top:4rem}"
    ".card{padding:2rem;border:1px solid var(--line);border-radius:1rem}}"
)

# The Plaid page's script. Its config comes from the JSON block (never from the markup).
_PLAID_SCRIPT = """
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("reauth-config").textContent);
  var statusLine = document.getElementById("status");
  var reopen = document.getElementById("reopen");
  var retry = document.getElementById("retry");
  var handler = null;
  var pending = null;
  var sending = false;

  function say(message, kind) {
    statusLine.textContent = "";
    statusLine.className = kind === "problem" ? "status problem" : "status";
    if (kind === "busy") {
      var spinner = document.createElement("span");
      spinner.className = "spinner";
      spinner.setAttribute("aria-hidden", "true");
      statusLine.appendChild(spinner);
    }
    var text = document.createElement("span");
    text.textContent = message;
    statusLine.appendChild(text);
  }

  function go(answer) {
    var target = answer && typeof answer.location === "string" ? answer.location : "";
    if (!target) { throw new Error("no location"); }
    var url = new URL(target, window.location.href);
    if (url.protocol !== "https:" && url.protocol !== "http:") { throw new Error("bad location"); }
    window.location.replace(url.href);
  }

  function send() {
    if (sending || pending === null) { return; }
    sending = true;
    reopen.hidden = true;
    retry.hidden = true;
    say(config.words.finishing, "busy");
    fetch(config.completeUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-Reauth-CSRF": config.csrf},
      body: JSON.stringify(pending)
    }).then(function (response) {
      return response.json().then(function (answer) {
        if (!response.ok && !(answer && answer.location)) { throw new Error("refused"); }
        return answer;
      });
    }).then(go).catch(function () {
      sending = false;
      retry.hidden = false;
      say(config.words.unreachable, "problem");
    });
  }

  function report(outcome) {
    if (pending !== null) { return; }
    pending = outcome;
    send();
  }

  retry.addEventListener("click", send);

  if (!window.Plaid || typeof window.Plaid.create !== "function") {
    say(config.words.notLoaded, "problem");
    return;
  }
  try {
    var options = {
      token: config.token,
      onSuccess: function () { report({outcome: "success"}); },
      onExit: function (err) {
        var error = "USER_CANCELLED";
        if (err) {
          error = err.error_type === "ITEM_ERROR" ? "AUTHENTICATION_ERROR" : "TEMPORARY_ERROR";
        }
        report({outcome: "error", error: error});
      },
      onEvent: function () {}
    };
    if (config.receivedRedirectUri) { options.receivedRedirectUri = config.receivedRedirectUri; }
    handler = window.Plaid.create(options);
    reopen.addEventListener("click", function () { handler.open(); });
    handler.open();
    if (pending === null) {
      say(config.words.open, "");
      reopen.hidden = false;
    }
  } catch (e) {
    say(config.words.notOpened, "problem");
  }
})();
"""

# The in-app start page's own styles: the link's field and the copy button's confirmation.
_IN_APP_STYLE = (
    ".copy{display:flex;flex-direction:column;gap:.5rem}"
    ".copy label{font-weight:600}"
    ".link{width:100%;min-height:3rem;margin:0;padding:.625rem .75rem;"
    "border:2px solid var(--muted);border-radius:.75rem;background:var(--card);"
    "color:var(--text);font:inherit;font-size:1rem}"
    ".copy .status{min-height:1.5rem;margin:0}"
)

# The in-app start page's script: "Copy link" puts the page's link on the clipboard, else
# selects it in its field for the customer to copy; either way it says so (a live region).
_COPY_SCRIPT = """
(function () {
  "use strict";
  var button = document.getElementById("copy-link");
  var field = document.getElementById("page-link");
  var status = document.getElementById("copy-status");

  function say(message) { status.textContent = message; }

  function selectIt() {
    var copied = false;
    field.focus();
    field.select();
    field.setSelectionRange(0, field.value.length);
    try { copied = document.execCommand("copy"); } catch (e) { copied = false; }
    say(button.getAttribute(copied ? "data-copied" : "data-selected"));
  }

  button.addEventListener("click", function () {
    say("");
    if (navigator.clipboard && typeof navigator.clipboard.writeText === "function") {
      navigator.clipboard.writeText(field.value).then(function () {
        say(button.getAttribute("data-copied"));
      }, selectIt);
    } else {
      selectIt();
    }
  });
  button.hidden = false;
})();
"""

# The verifying page's script: polls the status route with backoff; an ended request's
# `location` is where it goes (http(s) only); past the limit, or refused (400 NotBound: another
# browser), it stops and shows "Check again" (a reload of the page). Other failures (429, 5xx, a
# dropped connection) are checked again later. Its config comes from the JSON block.
_FOLLOW_SCRIPT = """
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("reauth-follow").textContent);
  var statusLine = document.getElementById("status");
  var check = document.getElementById("check");
  var started = Date.now();
  var wait = config.first;

  function stop(message) {
    check.hidden = false;
    if (!message) { statusLine.hidden = true; return; }
    statusLine.textContent = "";
    statusLine.className = "status problem";
    var text = document.createElement("span");
    text.textContent = message;
    statusLine.appendChild(text);
  }

  function go(target) {
    var url = new URL(target, window.location.href);
    if (url.protocol !== "https:" && url.protocol !== "http:") { throw new Error("bad location"); }
    window.location.replace(url.href);
  }

  function later() {
    if (Date.now() - started >= config.limit) { stop(config.words.longer); return; }
    window.setTimeout(poll, wait);
    wait = Math.min(Math.round(wait * 1.5), config.most);
  }

  function poll() {
    if (Date.now() - started >= config.limit) { stop(config.words.longer); return; }
    fetch(config.statusUrl, {credentials: "same-origin", cache: "no-store"})
      .then(function (response) {
        if (response.status === 400) { stop(""); return; }  // NotBound: not this browser's
        if (!response.ok) { later(); return; }
        return response.json().then(function (answer) {
          if (answer && answer.status !== "verifying" && typeof answer.location === "string") {
            go(answer.location);
          } else {
            later();
          }
        });
      })
      .catch(later);
  }

  check.hidden = true;
  statusLine.hidden = false;
  later();
})();
"""
