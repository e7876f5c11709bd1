"""The benchmarked routes as API Gateway REST events, and the answers they must give.

  create    POST /exchanges/{id}/reauth-sessions  {"returnUrl"}   ApiFunction       → 201
  start     GET  /reauth-sessions/{id}/start?key=…                 CallbackFunction  → 302 + cookie
  callback  GET  /reauth/callback?exchange=…  (binding cookie)     CallbackFunction  → 302 back
  status    GET  /exchanges/{id}/reauth-status                      ApiFunction       → 200
Between start and callback the customer's browser visits the bank (the sandbox's provider page).
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

from tests.support import apigw

STAGE = apigw.STAGE
PUBLIC_BASE_URL = f"https://reauth.example.test/{STAGE}"
CALLBACK_URL = f"{PUBLIC_BASE_URL}/reauth/callback"
RETURN_URL = "https://app.example.test/settings/bank"
ROUTES = ("create", "start", "callback", "status")
FUNCTION_OF = {"create": "api", "status": "api", "start": "callback", "callback": "callback"}


class FlowError(AssertionError):
    pass


def rest_event(
    method: str,
    path: str,
    *,
    query: dict[str, list[str]] | None = None,
    cookies: list[str] | None = None,
    body: dict | None = None,
) -> dict:
    """The tests' API Gateway event builder, with the headers a browser would add."""
    return apigw.rest_event(
        method,
        path,
        query=query,
        cookies=cookies,
        body=body,
        headers={"Host": "reauth.example.test", "User-Agent": "bench"},
    )


def _own_url_event(url: str, cookies: list[str] | None = None) -> dict:
    """A GET of one of the service's public URLs, as API Gateway passes it (stage removed)."""
    parts = urlsplit(url)
    path = parts.path.removeprefix(f"/{STAGE}")
    query = parse_qs(parts.query, keep_blank_values=True) if parts.query else None
    return rest_event("GET", path, query=query, cookies=cookies)


def create_event(exchange_id: str) -> dict:
    return rest_event(
        "POST", f"/exchanges/{exchange_id}/reauth-sessions", body={"returnUrl": RETURN_URL}
    )


def status_event(exchange_id: str) -> dict:
    return rest_event("GET", f"/exchanges/{exchange_id}/reauth-status")


def start_event(start_url: str) -> dict:
    return _own_url_event(start_url)


def callback_event(callback_url: str, cookie: str) -> dict:
    return _own_url_event(callback_url, [cookie])


def header(response: dict, name: str) -> str | None:
    name = name.lower()
    for key, value in (response.get("headers") or {}).items():
        if key.lower() == name:
            return value
    for key, values in (response.get("multiValueHeaders") or {}).items():
        if key.lower() == name and values:
            return values[-1]
    return None


def _expect(route: str, response: dict, status: int) -> None:
    if response.get("statusCode") != status:
        detail = response.get("error") or str(response.get("body"))[:200]
        raise FlowError(f"{route}: expected {status}, got {response.get('statusCode')}: {detail}")


def created(response: dict) -> tuple[str, str, str]:
    """(session id, start URL, provider URL) from a create answer."""
    _expect("create", response, 201)
    body = json.loads(response["body"])
    return body["id"], body["startUrl"], body["handoff"]["url"]


def started(response: dict, provider_url: str) -> str:
    """The binding cookie ("name=value") from a start answer."""
    _expect("start", response, 302)
    if header(response, "location") != provider_url:
        raise FlowError("start: not sent to the provider")
    cookie = header(response, "set-cookie")
    if not cookie:
        raise FlowError("start: no binding cookie")
    return cookie.split(";", 1)[0]


def called_back(response: dict, session_id: str) -> None:
    _expect("callback", response, 302)
    expected = f"{RETURN_URL}?status=reauthorized&session={session_id}"
    if header(response, "location") != expected:
        raise FlowError(f"callback: sent to {header(response, 'location')!r}")


def status_read(response: dict) -> None:
    _expect("status", response, 200)
    if json.loads(response["body"]).get("status") not in ("reauth_required", "reauthorized"):
        raise FlowError("status: unexpected body")
