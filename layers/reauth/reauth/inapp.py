"""In-app browsers: is the customer's link open inside another app (Instagram, Facebook, a
webview), where many banks refuse to log in? Read from the User-Agent, one table of patterns.

The start page (pages.start_page) then leads with "open this page in your browser" instead of
the bank button. The table is docs/api.md's list too (tests/unit/test_inapp.py keeps them equal).
A wrong guess costs little: the page still offers "Continue here anyway".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

# A real User-Agent is a few hundred characters; only its start is read, so a huge header is
# as cheap as a normal one (an app's marker beyond this is not seen).
MAX_USER_AGENT = 1024


@dataclass(frozen=True)
class InAppBrowser:
    name: str  # stable: tests and docs/api.md name it
    label: str  # what docs/api.md calls it
    how: str  # how it is recognised, for docs/api.md
    pattern: re.Pattern[str]


def _app(name: str, label: str, how: str, pattern: str) -> InAppBrowser:
    return InAppBrowser(name, label, how, re.compile(pattern))


# First match wins: the apps that name themselves before the generic webviews they run in
# (Messenger and Instagram before Facebook, whose marker some of their builds carry too).
IN_APP_BROWSERS: tuple[InAppBrowser, ...] = (
    _app("messenger", "Messenger", "`FBAN/Messenger…`, `FB_IAB/Orca-Android`",
         r"FBAN/Messenger|FB_IAB/Orca-Android|FB_IAB/MESSENGER"),
    _app("instagram", "Instagram", "`Instagram` followed by its version", r"\bInstagram \d"),
    _app("facebook", "Facebook", "`FBAN/`, `FBAV/` or `FB_IAB/`", r"FBAN/|FBAV/|FB_IAB/"),
    _app("linkedin", "LinkedIn", "`[LinkedInApp]`", r"LinkedInApp"),
    _app("tiktok", "TikTok", "`musical_ly`, `trill_` or `BytedanceWebview`",
         r"musical_ly|\btrill_\d|BytedanceWebview"),
    _app("snapchat", "Snapchat", "`Snapchat`", r"\bSnapchat\b"),
    _app("twitter", "X (Twitter)", "`Twitter for iPhone/iPad`, `TwitterAndroid`",
         r"Twitter for iP(?:hone|ad)|TwitterAndroid"),
    _app("pinterest", "Pinterest", "`[Pinterest/iOS]`, `[Pinterest/Android]`",
         r"Pinterest/(?:iOS|Android)|Pinterest for (?:iOS|Android)"),
    _app("line", "LINE", "` Line/` followed by its version", r" Line/\d"),
    _app("wechat", "WeChat", "`MicroMessenger/`", r"MicroMessenger/"),
    # The Google app's own browser (iOS: a WKWebView; Android: a webview), not Chrome.
    _app("google_app", "Google app", "`GSA/` followed by its version", r"\bGSA/\d"),
    _app("android_webview", "Any other Android app's WebView", "`; wv)` in the platform part",
         r"; wv\)"),
    _app("ios_webview", "Any other iPhone / iPad app's WKWebView",
         "`iPhone`, `iPad` or `iPod` with `AppleWebKit/` but no `Safari/` (Safari, Chrome, "
         "Firefox and Edge on iOS all say `Safari/`)",
         r"^(?!.*Safari/).*\((?:iPhone|iPad|iPod)\b.*AppleWebKit/"),
)  # fmt: skip

NAMES = tuple(app.name for app in IN_APP_BROWSERS)


def in_app_browser(user_agent: str | None) -> str | None:
    """The in-app browser `user_agent` comes from (one of NAMES), or None for a browser."""
    if not user_agent:
        return None
    head = user_agent[:MAX_USER_AGENT]
    for app in IN_APP_BROWSERS:
        if app.pattern.search(head):
            return app.name
    return None


def on_android(user_agent: str | None) -> bool:
    return bool(user_agent) and "Android" in (user_agent or "")[:MAX_USER_AGENT]


def android_intent_url(url: str) -> str:
    """An `intent:` link asking Android to open `url` (the service's own http(s) link) in the
    default browser, not in the app the page is open in."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or "#" in url:
        raise ValueError("url must be an absolute http(s) URL without a fragment")
    rest = url[len(parts.scheme) + 3 :]  # host, path and query, as given
    return f"intent://{rest}#Intent;scheme={parts.scheme};action=android.intent.action.VIEW;end"
