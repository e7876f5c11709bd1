"""Drive the two handlers the way API Gateway and a browser would, in process."""

from __future__ import annotations

import html
import json
import re
from urllib.parse import urlencode, urlsplit

import requests

from tests.support.apigw import LambdaContext, query_of, rest_event


class Api:
    """The platform backend calling ApiFunction's routes."""

    def __init__(self, module) -> None:
        self.module = module

    def call(self, method: str, path: str, *, body=None, headers=None) -> tuple[int, dict, dict]:
        answer = self.module.handler(
            rest_event(method, path, body=body, headers=headers), LambdaContext()
        )
        return answer["statusCode"], json.loads(answer["body"]), _headers(answer)

    def create(self, exchange_id: str, body=None, headers=None):
        return self.call(
            "POST", f"/exchanges/{exchange_id}/reauth-sessions", body=body, headers=headers
        )

    def session(self, session_id: str):
        return self.call("GET", f"/reauth-sessions/{session_id}")

    def status(self, exchange_id: str):
        return self.call("GET", f"/exchanges/{exchange_id}/reauth-status")

    def complete(self, session_id: str, body=None):
        return self.call("POST", f"/reauth-sessions/{session_id}/complete", body=body)

    def cancel(self, session_id: str):
        return self.call("POST", f"/reauth-sessions/{session_id}/cancel")


class Browser:
    """A customer's browser: keeps its cookies (one per name), opens links, clicks the start
    button (a same-origin form POST), follows the bank's redirect back. No JavaScript: the Plaid
    page's report is sent by `report_plaid` the way the page's script sends it."""

    ORIGIN = "https://reauth.example.test"

    def __init__(self, callback_module) -> None:
        self.module = callback_module
        self.jar: dict[str, str] = {}

    @property
    def cookies(self) -> list[str]:
        return [f"{name}={value}" for name, value in self.jar.items()]

    def call(
        self, method: str, url: str, *, body=None, headers: dict | None = None, origin=True
    ) -> dict:
        """One request to the service's own URL (through CallbackFunction); no redirects."""
        parts = urlsplit(url)
        path = parts.path.removeprefix("/v1")
        query = query_of(url) if parts.query else None
        sent = dict(headers or {})
        if origin and method == "POST":
            sent.setdefault("Origin", self.ORIGIN)
            sent.setdefault("Sec-Fetch-Site", "same-origin")
        answer = self.module.handler(
            rest_event(
                method, path, query=query, cookies=self.cookies or None, headers=sent, body=body
            ),
            LambdaContext(),
        )
        cookie = _headers(answer).get("set-cookie")
        if cookie:
            name, _, value = cookie.split(";", 1)[0].partition("=")
            self.jar[name] = value
        return answer

    def get(self, url: str) -> dict:
        return self.call("GET", url)

    def click_start(self, start_url: str, render: str | None = None, **kwargs) -> dict:
        """The start page's button: POST the form with the link's key (and the rendering's id,
        when the page was opened first: see `open_start`)."""
        key = query_of(start_url)["key"][0]
        action = start_url.split("?", 1)[0]
        form = {"key": key, **({"render": render} if render else {})}
        return self.call(
            "POST",
            action,
            body=urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            **kwargs,
        )

    def open_start(self, start_url: str) -> str:
        """Open the link (a tab): the start page's rendering id, which its button sends."""
        page = self.get(start_url)
        assert page["statusCode"] == 200, page["body"][:300]
        return render_of(page)

    def ask_for_new_link(
        self, page: dict, *, key: str | None = None, headers: dict | None = None
    ) -> dict:
        """A closed link's "Send me a new link" button: POST its form (the link's key, or
        `key` instead: a forged one, or "" for none; `headers` on top of the form's)."""
        action, found = renew_form(page)
        form = {"key": found if key is None else key}
        return self.call(
            "POST",
            html.unescape(action),
            body=urlencode({k: v for k, v in form.items() if v}),
            headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
        )

    def try_again(self, action_url: str) -> dict:
        """The result page's "Try again" button: a form POST with no fields (the cookie binds)."""
        return self.call(
            "POST",
            action_url,
            body="",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )

    def visit_bank(self, provider_url: str, outcome: str | None = None) -> str:
        """The provider page on the sandbox (real HTTP); returns where it sends the browser."""
        params = {"outcome": outcome} if outcome else None
        answer = requests.get(provider_url, params=params, allow_redirects=False, timeout=10)
        assert answer.status_code == 302, answer.text
        return answer.headers["Location"]

    def report_plaid(self, page: dict, body: dict, *, csrf: str | None = None) -> dict:
        """What the Plaid page's script POSTs after Link's onSuccess / onExit."""
        config = plaid_config(page)
        return self.call(
            "POST",
            config["completeUrl"],
            body=body,
            headers={"X-Reauth-CSRF": config["csrf"] if csrf is None else csrf},
        )


def render_of(page: dict) -> str:
    """The rendering id in a page's start (or "Try again") form."""
    match = re.search(r'name="render" value="([^"]+)"', page["body"])
    assert match, "no start button on the page"
    return match[1]


def renew_form(page: dict) -> tuple[str, str]:
    """The "Send me a new link" form on a closed link's page: (its action, the link's key)."""
    match = re.search(
        r'<form method="post" action="([^"]+/renew)"><input type="hidden" name="key" '
        r'value="([^"]+)">',
        page["body"],
    )
    assert match, 'no "Send me a new link" button on the page'
    return match[1], match[2]


def bank_url(answer: dict) -> str:
    """The bank's URL from the "Taking you to your bank" page (its meta refresh)."""
    match = re.search(r'http-equiv="refresh" content="0;\s*url=([^"]+)"', answer["body"])
    assert match, answer["body"][:500]
    return html.unescape(match.group(1))


def plaid_config(answer: dict) -> dict:
    """The Plaid page's configuration block (token, complete URL, CSRF token)."""
    match = re.search(
        r'<script type="application/json" id="reauth-config"[^>]*>(.*?)</script>',
        answer["body"],
        re.S,
    )
    assert match, answer["body"][:500]
    return json.loads(match.group(1))


def _headers(answer: dict) -> dict:
    found = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}
    for key, values in (answer.get("multiValueHeaders") or {}).items():
        found.setdefault(key.lower(), values[-1] if values else None)
    return found


def header(answer: dict, name: str) -> str | None:
    return _headers(answer).get(name.lower())


def location(answer: dict) -> str:
    return _headers(answer)["location"]
