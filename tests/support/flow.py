"""Drive the two handlers the way API Gateway and a browser would, in process."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

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


class Browser:
    """A customer's browser: keeps the binding cookie, follows the bank's redirect back."""

    def __init__(self, callback_module) -> None:
        self.module = callback_module
        self.cookies: list[str] = []

    def get(self, url: str) -> dict:
        """GET one of the service's own URLs (through CallbackFunction); no redirects followed."""
        parts = urlsplit(url)
        path = parts.path.removeprefix("/v1")
        query = query_of(url) if parts.query else None
        answer = self.module.handler(
            rest_event("GET", path, query=query, cookies=self.cookies or None), LambdaContext()
        )
        cookie = _headers(answer).get("set-cookie")
        if cookie:
            self.cookies = [cookie.split(";", 1)[0]]
        return answer

    def visit_bank(self, provider_url: str, outcome: str | None = None) -> str:
        """The provider page on the sandbox (real HTTP); returns where it sends the browser."""
        params = {"outcome": outcome} if outcome else None
        answer = requests.get(provider_url, params=params, allow_redirects=False, timeout=10)
        assert answer.status_code == 302, answer.text
        return answer.headers["Location"]


def _headers(answer: dict) -> dict:
    found = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}
    for key, values in (answer.get("multiValueHeaders") or {}).items():
        found.setdefault(key.lower(), values[-1] if values else None)
    return found


def header(answer: dict, name: str) -> str | None:
    return _headers(answer).get(name.lower())


def location(answer: dict) -> str:
    return _headers(answer)["location"]
