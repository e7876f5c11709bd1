"""Baseline CallbackFunction, the customer's browser:
  open      GET  /reauth/link/{id}?key=…   the key's HMAC (secret cached), 1 DynamoDB read, and
            on the first opening 1 conditional update (openedAt)
  start     POST /reauth/link/{id}  key=…  1 DynamoDB read (which attempt), 1 conditional update
  callback  GET  /reauth/callback?exchange=…  1 DynamoDB read (the binding), Dwolla's balance
            check (preceded by finding the funding source when the request names none),
            1 DynamoDB transaction (with the event, in the outbox)
  complete  POST /reauth/link/{id}/complete  the Plaid page's report (CSRF header, the binding):
            as callback
A start on a token (Plaid) attempt answers the Plaid page instead of the bank's redirect.
Happy path only: anything else is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from html import escape
from urllib.parse import parse_qs, urlencode, urlsplit

from . import core

_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_LINK = re.compile(rf"/reauth/link/({_UUID})\Z")
_COMPLETE = re.compile(rf"/reauth/link/({_UUID})/complete\Z")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,128}\Z")
_COOKIE = re.compile(rf"reauth_([0-9a-f]{{32}})=({_UUID})\.([A-Za-z0-9_-]{{20,128}})")
_PUBLIC = urlsplit(core.PUBLIC)
ORIGIN = f"{_PUBLIC.scheme}://{_PUBLIC.netloc}"
COOKIE_PATH = f"{_PUBLIC.path}/reauth/"
REUSE_MARGIN = 120  # seconds: an unstarted attempt this close to its end is not reused
PLAID_SCRIPT = (
    os.environ.get("PLAID_LINK_SCRIPT_URL")
    or "https://cdn.plaid.com/link/v2/stable/link-initialize.js"
)
HTML = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}


def handler(event: dict, context) -> dict:
    path, method = event["path"], event["httpMethod"]
    query = event.get("multiValueQueryStringParameters") or {}
    headers = event.get("multiValueHeaders") or {}
    if path == "/reauth/callback" and method == "GET":
        return callback(headers, query)
    if match := _LINK.match(path):
        if method == "GET":
            return open_link(match[1], query.get("key") or [])
        if method == "POST":
            return start(match[1], headers, event.get("body") or "")
    if method == "POST" and (match := _COMPLETE.match(path)):
        return complete(match[1], headers, event.get("body") or "")
    return refused()


def page(body: str, headers: dict | None = None, head: str = "") -> dict:
    document = f"<!doctype html><html lang='en'><head>{head}<title>Reconnect</title></head>"
    return {"statusCode": 200, "headers": {**HTML, **(headers or {})}, "body": document + body}


def refused() -> dict:
    return {"statusCode": 400, "headers": HTML, "body": "refused"}


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _header(headers: dict, name: str) -> list[str]:
    return [v for key, values in headers.items() if key.lower() == name for v in values]


def _key_ok(request_id: str, keys: list[str]) -> bool:
    return (
        len(keys) == 1
        and bool(_TOKEN.match(keys[0]))
        and hmac.compare_digest(keys[0], core.link_key(request_id))
    )


def _request(request_id: str) -> dict | None:
    return (
        core.client("dynamodb")
        .get_item(TableName=core.TABLE, Key=core.request_key(request_id), ConsistentRead=True)
        .get("Item")
    )


def _open(item: dict | None, now: float) -> bool:
    return (
        item is not None
        and item["status"]["S"] == "pending"
        and float(item["expiresAt"]["N"]) > now
    )


def open_link(request_id: str, keys: list[str]) -> dict:
    if not _key_ok(request_id, keys):
        return refused()
    item, now = _request(request_id), time.time()
    if not _open(item, now):
        return refused()
    if "openedAt" not in item:  # the first opening is noted (the funnel's step)
        try:
            core.client("dynamodb").update_item(
                TableName=core.TABLE,
                Key=core.request_key(request_id),
                UpdateExpression="SET openedAt = if_not_exists(openedAt, :now)",
                ConditionExpression=(
                    "attribute_not_exists(openedAt) AND #status = :pending AND expiresAt > :now"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":now": {"N": str(now)}, ":pending": {"S": "pending"}},
            )
        except core.client("dynamodb").exceptions.ConditionalCheckFailedException:
            pass  # opened meanwhile, or no longer open: the page is the same
    action = f"{core.PUBLIC}/reauth/link/{request_id}"
    return page(
        f'<form method="post" action="{escape(action)}">'
        f'<input type="hidden" name="key" value="{escape(keys[0])}">'
        "<button>Continue to your bank</button></form>"
    )


def start(request_id: str, headers: dict, body: str) -> dict:
    if _header(headers, "origin") != [ORIGIN]:
        return refused()
    if not _key_ok(request_id, parse_qs(body).get("key") or []):
        return refused()
    item, now = _request(request_id), time.time()
    if not _open(item, now):
        return refused()
    attempt_id = item["currentAttemptId"]["S"]
    attempt = item["attempts"]["M"][attempt_id]["M"]
    if "startedAt" in attempt or float(attempt["expiresAt"]["N"]) - now <= REUSE_MARGIN:
        return refused()  # a fresh Dwolla session: not the benchmark's case
    token = secrets.token_urlsafe(32)
    ddb = core.client("dynamodb")
    try:
        ddb.update_item(
            TableName=core.TABLE,
            Key=core.request_key(request_id),
            UpdateExpression=(
                "SET attempts.#a.startedAt = :now, attempts.#a.bindingHash = :b, updatedAt = :now"
            ),
            ConditionExpression=(
                "currentAttemptId = :a AND attribute_not_exists(attempts.#a.startedAt) "
                "AND attribute_not_exists(attempts.#a.outcome) AND #status = :pending "
                "AND expiresAt > :now AND attempts.#a.expiresAt > :now"
            ),
            ExpressionAttributeNames={"#a": attempt_id, "#status": "status"},
            ExpressionAttributeValues={
                ":a": {"S": attempt_id},
                ":b": {"S": _digest(token)},
                ":now": {"N": str(now)},
                ":pending": {"S": "pending"},
            },
        )
    except ddb.exceptions.ConditionalCheckFailedException:
        return refused()
    max_age = min(86400, int(float(item["expiresAt"]["N"]) - now))
    cookie = (
        f"reauth_{request_id.replace('-', '')}={attempt_id}.{token}; Path={COOKIE_PATH}; "
        f"Max-Age={max_age}; HttpOnly; Secure; SameSite=Lax"
    )
    if attempt["handoffType"]["S"] == "token":
        return page(_plaid(request_id, attempt["handoffToken"]["S"], token), {"Set-Cookie": cookie})
    bank = escape(attempt["handoffUrl"]["S"])
    return page(
        f'<a href="{bank}">Continue</a>',
        {"Set-Cookie": cookie},
        head=f'<meta http-equiv="refresh" content="0;url={bank}">',
    )


def _csrf(binding_token: str) -> str:
    mac = hmac.new(binding_token.encode(), b"csrf", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def _plaid(request_id: str, link_token: str, binding_token: str) -> str:
    """Plaid Link's script, opened with the token; its end is reported to `completeUrl`."""
    config = {
        "token": link_token,
        "completeUrl": f"{core.PUBLIC}/reauth/link/{request_id}/complete",
        "csrf": _csrf(binding_token),
    }
    return (
        f'<script type="application/json" id="reauth-config">{json.dumps(config)}</script>'
        f'<script src="{escape(PLAID_SCRIPT)}"></script>'
    )


def _bound(headers: dict, request_id: str | None = None) -> tuple[str, str, str] | None:
    """(request id, attempt id, binding token) of the one binding cookie (of `request_id`)."""
    found = [m for c in _header(headers, "cookie") for m in _COOKIE.finditer(c)]
    if request_id is not None:
        found = [m for m in found if m[1] == request_id.replace("-", "")]
    if len(found) != 1:
        return None
    hex_id, attempt_id, token = found[0].groups()
    request_id = f"{hex_id[:8]}-{hex_id[8:12]}-{hex_id[12:16]}-{hex_id[16:20]}-{hex_id[20:]}"
    return request_id, attempt_id, token


def _bound_item(request_id: str, attempt_id: str, token: str) -> tuple[dict | None, float]:
    """The request, if it is open and the binding matches its attempt."""
    item, now = _request(request_id), time.time()
    attempt = item["attempts"]["M"].get(attempt_id, {}).get("M", {}) if item else {}
    bound = hmac.compare_digest(_digest(token), attempt.get("bindingHash", {}).get("S", ""))
    return (item if _open(item, now) and bound else None), now


def _landing(item: dict, request_id: str) -> str:
    back = item.get("returnUrl", {}).get("S") or f"{core.PUBLIC}/reauth/done"
    separator = "&" if "?" in back else "?"
    return f"{back}{separator}{urlencode({'status': 'reauthorized', 'session': request_id})}"


def complete(request_id: str, headers: dict, body: str) -> dict:
    """The Plaid page reports Link's success (same origin, the CSRF token, the binding)."""
    if _header(headers, "origin") != [ORIGIN] or json.loads(body or "{}") != {"outcome": "success"}:
        return refused()
    bound = _bound(headers, request_id)
    csrf = _header(headers, "x-reauth-csrf")
    if bound is None or len(csrf) != 1 or not hmac.compare_digest(csrf[0], _csrf(bound[2])):
        return refused()
    item, now = _bound_item(*bound)
    if item is None:
        return refused()
    core.reauthorize(item, request_id, bound[1], now)
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": json.dumps({"location": _landing(item, request_id)}),
    }


def callback(headers: dict, query: dict) -> dict:
    exchange = query.get("exchange") or []
    bound = _bound(headers)
    if len(exchange) != 1 or bound is None:
        return refused()
    request_id, attempt_id, _ = bound
    item, now = _bound_item(*bound)
    if item is None or item["exchangeId"]["S"] != exchange[0]:
        return refused()
    core.reauthorize(item, request_id, attempt_id, now)
    location = _landing(item, request_id)
    return {"statusCode": 303, "headers": {**HTML, "Location": location}, "body": ""}
