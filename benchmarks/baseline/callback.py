"""Baseline CallbackFunction: start (1 conditional DynamoDB update that returns the session) and
callback (1 DynamoDB read, 1 Dwolla call, 1 DynamoDB transaction, 1 event)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit

from . import core

_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_START = re.compile(rf"/reauth-sessions/({_UUID})/start\Z")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,128}\Z")
_COOKIE = re.compile(rf"reauth_binding=({_UUID})\.([A-Za-z0-9_-]{{20,128}})")
COOKIE_PATH = urlsplit(core.CALLBACK_URL).path or "/"
DONE_URL = f"{core.PUBLIC}/reauth/done"


def handler(event: dict, context) -> dict:
    path, query = event["path"], event.get("multiValueQueryStringParameters") or {}
    if path == "/reauth/callback":
        return callback(event.get("multiValueHeaders") or {}, query)
    if match := _START.match(path):
        return start(match[1], query.get("key") or [])
    return refused()


def refused() -> dict:
    return {"statusCode": 400, "headers": {"Content-Type": "text/html"}, "body": "refused"}


def redirect(location: str, cookie: str | None = None) -> dict:
    headers = {"Location": location, "Cache-Control": "no-store"}
    if cookie:
        headers["Set-Cookie"] = cookie
    return {"statusCode": 302, "headers": headers, "body": ""}


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def start(session_id: str, keys: list[str]) -> dict:
    if len(keys) != 1 or not _TOKEN.match(keys[0]):
        return refused()
    token, now = secrets.token_urlsafe(32), time.time()
    ddb = core.client("dynamodb")
    try:
        session = ddb.update_item(
            TableName=core.TABLE,
            Key=core.session_key(session_id),
            UpdateExpression="SET bindingHash = :binding, startKeyUsedAt = :now",
            ConditionExpression=(
                "startKeyHash = :key AND attribute_not_exists(startKeyUsedAt) "
                "AND #status = :pending AND expiresAt > :now"
            ),
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":binding": {"S": _digest(token)},
                ":key": {"S": _digest(keys[0])},
                ":pending": {"S": "pending"},
                ":now": {"N": str(now)},
            },
            ReturnValues="ALL_NEW",
        )["Attributes"]
    except ddb.exceptions.ConditionalCheckFailedException:
        return refused()
    max_age = max(0, int(float(session["expiresAt"]["N"]) - now))
    cookie = (
        f"reauth_binding={session_id}.{token}; Path={COOKIE_PATH}; Max-Age={max_age}; "
        "HttpOnly; Secure; SameSite=Lax"
    )
    return redirect(session["handoffUrl"]["S"], cookie)


def callback(headers: dict, query: dict) -> dict:
    exchange = query.get("exchange") or []
    cookies = [c for name, values in headers.items() if name.lower() == "cookie" for c in values]
    found = [m for c in cookies if (m := _COOKIE.search(c))]
    if len(exchange) != 1 or len(found) != 1:
        return refused()
    session_id, token = found[0][1], found[0][2]
    ddb = core.client("dynamodb")
    item = ddb.get_item(
        TableName=core.TABLE, Key=core.session_key(session_id), ConsistentRead=True
    ).get("Item")
    now = time.time()
    if (
        item is None
        or not hmac.compare_digest(_digest(token), item.get("bindingHash", {}).get("S", ""))
        or item["exchangeId"]["S"] != exchange[0]
        or item["status"]["S"] != "pending"
        or float(item["expiresAt"]["N"]) <= now
    ):
        return refused()
    exchange_id = item["exchangeId"]["S"]
    active = json.loads(core.dwolla("GET", f"/exchanges/{exchange_id}").data)["status"] == "active"
    status = "reauthorized" if active else "failed"
    values = {":to": {"S": status}, ":from0": {"S": "pending"}, ":now": {"N": str(now)}}
    update = "SET #status = :to, updatedAt = :now"
    if not active:
        values[":reason"] = {"S": "EXCHANGE_NOT_ACTIVE"}
        update += ", failureReason = :reason"
    exchange_values = {":sid": {"S": session_id}, ":now": {"N": str(now)}}
    exchange_update = "SET updatedAt = :now REMOVE pendingSessionId"
    exchange_names = {}
    if active:
        exchange_values[":reauthorized"] = {"S": "reauthorized"}
        exchange_update = (
            "SET #status = :reauthorized, reauthorizedAt = :now, updatedAt = :now, "
            "lastSessionId = :sid REMOVE pendingSessionId"
        )
        exchange_names = {"ExpressionAttributeNames": {"#status": "status"}}
    ddb.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": core.TABLE,
                    "Key": core.session_key(session_id),
                    "UpdateExpression": update + " REMOVE gsi1pk, gsi1sk",
                    "ConditionExpression": "#status IN (:from0) AND expiresAt > :now",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": values,
                }
            },
            {
                "Update": {
                    "TableName": core.TABLE,
                    "Key": core.exchange_key(exchange_id),
                    "UpdateExpression": exchange_update,
                    "ConditionExpression": "pendingSessionId = :sid",
                    "ExpressionAttributeValues": exchange_values,
                    **exchange_names,
                }
            },
        ]
    )
    core.publish(
        "Exchange Reauthorized" if active else "Reauth Session Failed",
        {
            "sessionId": session_id,
            "exchangeId": exchange_id,
            "customerId": item.get("customerId", {}).get("S"),
            "reauthorizedAt": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds"),
        },
    )
    back = item.get("returnUrl", {}).get("S") or DONE_URL
    separator = "&" if "?" in back else "?"
    return redirect(f"{back}{separator}{urlencode({'status': status, 'session': session_id})}")
