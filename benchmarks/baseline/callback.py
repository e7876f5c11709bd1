"""Baseline CallbackFunction, the customer's browser:
  open      GET  /reauth/link/{id}?key=…   the key's HMAC (secret cached), 1 DynamoDB read
  start     POST /reauth/link/{id}  key=…  1 DynamoDB read (which attempt), 1 conditional update
  callback  GET  /reauth/callback?exchange=…  1 DynamoDB read (the binding), Dwolla's balance
            check (preceded by finding the funding source when the request names none),
            1 DynamoDB transaction (with the event, in the outbox)
Happy path only: anything else is refused."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from datetime import UTC, datetime
from html import escape
from urllib.parse import parse_qs, urlencode, urlsplit

from . import core

_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_LINK = re.compile(rf"/reauth/link/({_UUID})\Z")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,128}\Z")
_COOKIE = re.compile(rf"reauth_([0-9a-f]{{32}})=({_UUID})\.([A-Za-z0-9_-]{{20,128}})")
_PUBLIC = urlsplit(core.PUBLIC)
ORIGIN = f"{_PUBLIC.scheme}://{_PUBLIC.netloc}"
COOKIE_PATH = f"{_PUBLIC.path}/reauth/"
REUSE_MARGIN = 120  # seconds: an unstarted attempt this close to its end is not reused
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
    if not _open(_request(request_id), time.time()):
        return refused()
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
    bank = escape(attempt["handoffUrl"]["S"])
    return page(
        f'<a href="{bank}">Continue</a>',
        {"Set-Cookie": cookie},
        head=f'<meta http-equiv="refresh" content="0;url={bank}">',
    )


def _funding_source(item: dict) -> str:
    """The request's funding source, or the one Dwolla made from its exchange."""
    if "fundingSourceId" in item:
        return item["fundingSourceId"]["S"]
    exchange_id = item["exchangeId"]["S"]
    exchange = json.loads(core.dwolla("GET", f"/exchanges/{exchange_id}").data)
    customer = exchange["_links"]["customer"]["href"].rsplit("/", 1)[1]
    listed = core.dwolla("GET", f"/customers/{customer}/funding-sources?removed=false")
    for source in json.loads(listed.data)["_embedded"]["funding-sources"]:
        made_from = source["_links"].get("exchange", {}).get("href", "")
        if made_from.endswith(f"/{exchange_id}"):
            return source["id"]
    raise RuntimeError("no funding source made from the exchange")


def callback(headers: dict, query: dict) -> dict:
    exchange = query.get("exchange") or []
    found = [m for c in _header(headers, "cookie") for m in _COOKIE.finditer(c)]
    if len(exchange) != 1 or len(found) != 1:
        return refused()
    hex_id, attempt_id, token = found[0].groups()
    request_id = f"{hex_id[:8]}-{hex_id[8:12]}-{hex_id[12:16]}-{hex_id[16:20]}-{hex_id[20:]}"
    item, now = _request(request_id), time.time()
    attempt = item["attempts"]["M"].get(attempt_id, {}).get("M", {}) if item else {}
    if (
        not _open(item, now)
        or not hmac.compare_digest(_digest(token), attempt.get("bindingHash", {}).get("S", ""))
        or item["exchangeId"]["S"] != exchange[0]
    ):
        return refused()
    exchange_id = item["exchangeId"]["S"]
    known = "fundingSourceId" in item
    funding_source = _funding_source(item)
    core.dwolla("GET", f"/funding-sources/{funding_source}/balance")  # 200: repaired
    values = {
        ":to": {"S": "reauthorized"},
        ":now": {"N": str(now)},
        ":confirmed": {"S": "confirmed"},
        ":ok": {"S": "reauthorized"},
        ":from0": {"S": "pending"},
        ":from1": {"S": "verifying"},
    }
    update = (
        "SET #status = :to, updatedAt = :now, reauthorizedAt = :now, verifyResult = :confirmed, "
        "verifyCheckedAt = :now, attempts.#a.outcome = :ok, attempts.#a.endedAt = :now"
    )
    if not known:  # kept with the same write
        values[":fs"] = {"S": funding_source}
        update += ", fundingSourceId = :fs"
    event = {
        "sessionId": request_id,
        "exchangeId": exchange_id,
        "customerId": item.get("customerId", {}).get("S"),
        "reauthorizedAt": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds"),
        "verifiedBy": "balance-check",
    }
    core.client("dynamodb").transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": core.TABLE,
                    "Key": core.request_key(request_id),
                    "UpdateExpression": update
                    + " REMOVE attempts.#a.reason, gsi1pk, gsi1sk, verifyNextAt",
                    "ConditionExpression": "#status IN (:from0, :from1)",
                    "ExpressionAttributeNames": {"#status": "status", "#a": attempt_id},
                    "ExpressionAttributeValues": values,
                }
            },
            {
                "Update": {
                    "TableName": core.TABLE,
                    "Key": core.exchange_key(exchange_id),
                    "UpdateExpression": "SET #status = :reauthorized, reauthorizedAt = :now, "
                    "updatedAt = :now, lastRequestId = :rid REMOVE pendingRequestId",
                    "ConditionExpression": "pendingRequestId = :rid",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {
                        ":rid": {"S": request_id},
                        ":now": {"N": str(now)},
                        ":reauthorized": {"S": "reauthorized"},
                    },
                }
            },
            core.outbox_put(request_id, "Exchange Reauthorized", event, now),
        ]
    )
    back = item.get("returnUrl", {}).get("S") or f"{core.PUBLIC}/reauth/done"
    separator = "&" if "?" in back else "?"
    location = f"{back}{separator}{urlencode({'status': 'reauthorized', 'session': request_id})}"
    return {"statusCode": 303, "headers": {**HTML, "Location": location}, "body": ""}
