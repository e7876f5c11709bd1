"""HTTP clients for the e2e tests: a customer's browser and the platform backend."""

from __future__ import annotations

from http.cookiejar import DefaultCookiePolicy
from urllib.parse import urlsplit

import requests

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class LoopbackIsSecure(DefaultCookiePolicy):
    """Browsers treat http://127.0.0.1 and http://localhost as secure contexts and send Secure
    cookies there; http.cookiejar sends them over https only. The binding cookie is Secure, so
    the test browser follows the browsers' rule for loopback (and only for loopback)."""

    def return_ok_secure(self, cookie, request) -> bool:
        if urlsplit(request.get_full_url()).hostname in LOOPBACK:
            return True
        return super().return_ok_secure(cookie, request)


class Browser(requests.Session):
    """A customer's browser: keeps cookies per host and path as browsers do; one hop per get."""

    def __init__(self) -> None:
        super().__init__()
        self.cookies.set_policy(LoopbackIsSecure())

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        # requests copies the cookies into a jar with the default policy for each request,
        # which drops our Secure cookie over http; recompute the header with our jar's policy.
        prepared = super().prepare_request(request)
        if not any(name.lower() == "cookie" for name in request.headers or {}):  # not forged
            prepared.headers.pop("Cookie", None)
            prepared.prepare_cookies(self.cookies)
        return prepared

    def get(self, url: str, **kwargs) -> requests.Response:
        kwargs.setdefault("allow_redirects", False)
        kwargs.setdefault("timeout", 60)
        return super().get(url, **kwargs)


class PlatformApi:
    """The platform backend calling ApiFunction's routes through `sam local start-api`.
    (SAM CLI does not enforce the routes' AWS_IAM auth locally, so requests are not signed.)"""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = requests.Session()

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.http.request(method, f"{self.base_url}{path}", timeout=60, **kwargs)

    def create(self, exchange_id: str, body: dict | None = None, key: str | None = None):
        headers = {"Idempotency-Key": key} if key else {}
        return self.call(
            "POST", f"/exchanges/{exchange_id}/reauth-sessions", json=body, headers=headers
        )

    def session(self, session_id: str):
        return self.call("GET", f"/reauth-sessions/{session_id}")

    def status(self, exchange_id: str):
        return self.call("GET", f"/exchanges/{exchange_id}/reauth-status")

    def complete(self, session_id: str, body: dict):
        return self.call("POST", f"/reauth-sessions/{session_id}/complete", json=body)
