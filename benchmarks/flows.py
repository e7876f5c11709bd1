"""The benchmarked routes as API Gateway REST events, and the answers they must give.

  create    POST /exchanges/{id}/reauth-sessions  {"returnUrl", "fundingSourceId"}
                                                              ApiFunction       → 201
  open      GET  /reauth/link/{id}?key=…                      CallbackFunction  → 200 start page
  start     POST /reauth/link/{id}  key=… (same Origin)       CallbackFunction  → 200 "to your
                                                              bank" page (meta refresh) + cookie
  callback  GET  /reauth/callback?exchange=…  (the cookie)    CallbackFunction  → 303 back
  status    GET  /exchanges/{id}/reauth-status                ApiFunction       → 200
  relay     the flow's outbox items as a DynamoDB stream batch  RelayFunction   → no failures
and, for a Plaid (token) exchange, after its create:
  plaid_page  POST /reauth/link/{id}  key=… (same Origin)     CallbackFunction  → 200 the Plaid
                                                              page (Link's token, the report's
                                                              URL and CSRF token) + cookie
  complete  POST /reauth/link/{id}/complete {"outcome": "success"} (cookie, X-Reauth-CSRF)
                                                              CallbackFunction  → 200 {location}
  verify    POST /reauth-sessions/{id}/complete  {}  (the platform ran Link itself)
                                                              ApiFunction       → 200 reauthorized
Between start and callback the customer's browser visits the bank (the sandbox's provider page).
Events are written to the outbox with the changes they tell of (create: "Reauth Session
Created", callback: "Exchange Reauthorized"); the relay puts them on the bus, both in one batch.
The create names the exchange's funding source (as a platform that knows it does), so the
callback's confirmation is one balance check; `discovery=True` leaves it out, and the callback
then finds it through Dwolla first (measured apart: "callback, funding source found").
"""

from __future__ import annotations

import html
import json
import re
import uuid
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.support import apigw

STAGE = apigw.STAGE
ORIGIN = "https://reauth.example.test"
PUBLIC_BASE_URL = f"{ORIGIN}/{STAGE}"
CALLBACK_URL = f"{PUBLIC_BASE_URL}/reauth/callback"
RETURN_URL = "https://app.example.test/settings/bank"
ROUTES = ("create", "open", "start", "callback", "status", "relay")
PLAID_ROUTES = ("plaid_page", "complete", "verify")  # a Plaid (token) exchange's journey
DISCOVERY = "callback_discovery"  # the callback without a named funding source (informational)
FUNCTION_OF = {
    "create": "api",
    "status": "api",
    "open": "callback",
    "start": "callback",
    "callback": "callback",
    DISCOVERY: "callback",
    "relay": "relay",
    "plaid_page": "callback",
    "complete": "callback",
    "verify": "api",
}
_REFRESH = re.compile(r'http-equiv="refresh" content="0;\s*url=([^"]+)"')
_FORM = re.compile(r'<form[^>]*action="([^"]+)"')
_PLAID_CONFIG = re.compile(
    r'<script type="application/json" id="reauth-config"[^>]*>(.*?)</script>', re.S
)


class FlowError(AssertionError):
    pass


def rest_event(
    method: str,
    path: str,
    *,
    query: dict[str, list[str]] | None = None,
    cookies: list[str] | None = None,
    body: dict | str | None = None,
    headers: dict[str, str] | None = None,
) -> dict:
    """The tests' API Gateway event builder, with the headers a browser would add."""
    return apigw.rest_event(
        method,
        path,
        query=query,
        cookies=cookies,
        body=body,
        headers={"Host": "reauth.example.test", "User-Agent": "bench", **(headers or {})},
    )


def _own_path(url: str) -> tuple[str, dict[str, list[str]] | None]:
    """One of the service's public URLs as API Gateway passes it: stage removed, query parsed."""
    parts = urlsplit(url)
    path = parts.path.removeprefix(f"/{STAGE}")
    query = parse_qs(parts.query, keep_blank_values=True) if parts.query else None
    return path, query


def create_event(exchange_id: str, funding_source_id: str | None = None) -> dict:
    body = {"returnUrl": RETURN_URL}
    if funding_source_id:
        body["fundingSourceId"] = funding_source_id
    return rest_event("POST", f"/exchanges/{exchange_id}/reauth-sessions", body=body)


def status_event(exchange_id: str) -> dict:
    return rest_event("GET", f"/exchanges/{exchange_id}/reauth-status")


def open_event(start_url: str) -> dict:
    """The customer opens the link (what a mail scanner does too)."""
    path, query = _own_path(start_url)
    return rest_event("GET", path, query=query)


def start_event(start_url: str) -> dict:
    """The start page's button: a same-origin form POST of the link's key."""
    path, query = _own_path(start_url)
    return rest_event(
        "POST",
        path,
        body=urlencode({"key": query["key"][0]}),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": ORIGIN,
            "Sec-Fetch-Site": "same-origin",
        },
    )


def callback_event(callback_url: str, cookie: str) -> dict:
    path, query = _own_path(callback_url)
    return rest_event("GET", path, query=query, cookies=[cookie])


def relay_event(items: list[dict], first_sequence: int) -> dict:
    """Outbox items as the table's stream delivers them (INSERT, NEW_IMAGE), in order."""
    records = []
    for n, item in enumerate(items):
        records.append(
            {
                "eventID": uuid.uuid4().hex,
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "Keys": {"pk": item["pk"], "sk": item["sk"]},
                    "NewImage": item,
                    "SequenceNumber": f"{first_sequence + n:021d}",
                    "SizeBytes": len(json.dumps(item)),
                    "StreamViewType": "NEW_IMAGE",
                },
                "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/bench/stream/1",
            }
        )
    return {"Records": records}


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
    """(request id, start link, the first attempt's provider URL or Plaid Link token) from a
    create answer."""
    _expect("create", response, 201)
    body = json.loads(response["body"])
    handoff = body["handoff"]
    return body["id"], body["startUrl"], handoff.get("url") or handoff["token"]


def opened(response: dict, start_url: str) -> None:
    """The start page, whose form posts to the link (without its key)."""
    _expect("open", response, 200)
    form = _FORM.search(response.get("body") or "")
    if not form or html.unescape(form.group(1)) != start_url.split("?", 1)[0]:
        raise FlowError("open: no start button posting to the link")


def started(response: dict, provider_url: str) -> str:
    """The binding cookie ("name=value") from the start button's answer, which must send the
    browser on to the provider (a page with a meta refresh)."""
    _expect("start", response, 200)
    found = _REFRESH.search(response.get("body") or "")
    if not found or html.unescape(found.group(1)) != provider_url:
        raise FlowError("start: not sent to the provider")
    cookie = header(response, "set-cookie")
    if not cookie or not cookie.startswith("reauth_"):
        raise FlowError("start: no binding cookie")
    return cookie.split(";", 1)[0]


def called_back(response: dict, request_id: str) -> None:
    _expect("callback", response, 303)
    expected = f"{RETURN_URL}?{urlencode({'status': 'reauthorized', 'session': request_id})}"
    if header(response, "location") != expected:
        raise FlowError(f"callback: sent to {header(response, 'location')!r}")


def complete_event(start_url: str, cookie: str, csrf: str) -> dict:
    """The Plaid page reports Link's success (fetch from the page: same origin, CSRF header)."""
    path, _ = _own_path(start_url)
    return rest_event(
        "POST",
        f"{path}/complete",
        cookies=[cookie],
        body={"outcome": "success"},
        headers={
            "Content-Type": "application/json",
            "Origin": ORIGIN,
            "Sec-Fetch-Site": "same-origin",
            "X-Reauth-CSRF": csrf,
        },
    )


def verify_event(request_id: str) -> dict:
    """The platform ran Plaid Link itself and reports its success."""
    return rest_event("POST", f"/reauth-sessions/{request_id}/complete", body={})


def plaid_started(response: dict, start_url: str, link_token: str) -> tuple[str, str]:
    """(binding cookie, CSRF token) from the Plaid page: Link opened with the attempt's token,
    reporting to the link's /complete."""
    _expect("plaid_page", response, 200)
    found = _PLAID_CONFIG.search(response.get("body") or "")
    config = json.loads(html.unescape(found.group(1))) if found else {}
    if config.get("token") != link_token:
        raise FlowError("plaid_page: Link not opened with the attempt's token")
    if config.get("completeUrl") != start_url.split("?", 1)[0] + "/complete":
        raise FlowError(f"plaid_page: reports to {config.get('completeUrl')!r}")
    cookie = header(response, "set-cookie")
    if not cookie or not cookie.startswith("reauth_") or not config.get("csrf"):
        raise FlowError("plaid_page: no binding cookie or CSRF token")
    return cookie.split(";", 1)[0], config["csrf"]


def completed(response: dict, request_id: str) -> None:
    _expect("complete", response, 200)
    expected = f"{RETURN_URL}?{urlencode({'status': 'reauthorized', 'session': request_id})}"
    if json.loads(response["body"]).get("location") != expected:
        raise FlowError(f"complete: sent to {response['body'][:200]!r}")


def verified(response: dict) -> None:
    _expect("verify", response, 200)
    if json.loads(response["body"]).get("status") != "reauthorized":
        raise FlowError(f"verify: {response['body'][:200]!r}")


def relayed(response: dict) -> None:
    if response != {"batchItemFailures": []}:
        raise FlowError(f"relay: {str(response)[:200]}")


def status_read(response: dict) -> None:
    _expect("status", response, 200)
    if json.loads(response["body"]).get("status") != "reauthorized":
        raise FlowError("status: the exchange is not reauthorized")
