"""Baseline ApiFunction: create a session (2 Dwolla calls, 1 DynamoDB transaction, 1 event) and
read an exchange's status (1 DynamoDB read)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import time
import uuid
from datetime import UTC, datetime

from . import core

TTL = int(os.environ.get("SESSION_TTL_MINUTES") or 30) * 60
ALLOWED = {u.strip() for u in os.environ.get("RETURN_URL_ALLOWLIST", "").split(",") if u.strip()}
_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_CREATE = re.compile(rf"/exchanges/({_UUID})/reauth-sessions\Z")
_STATUS = re.compile(rf"/exchanges/({_UUID})/reauth-status\Z")


def handler(event: dict, context) -> dict:
    path, method = event["path"], event["httpMethod"]
    if method == "POST" and (match := _CREATE.match(path)):
        return create(match[1], json.loads(event.get("body") or "{}"))
    if method == "GET" and (match := _STATUS.match(path)):
        return status(match[1])
    return core.respond(404, {"code": "NotFound"})


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def create(exchange_id: str, body: dict) -> dict:
    return_url = body.get("returnUrl")
    if return_url is not None and return_url not in ALLOWED:
        return core.respond(400, {"code": "ReturnUrlNotAllowed"})
    location = core.dwolla(
        "POST",
        f"/exchanges/{exchange_id}/exchange-sessions",
        {"_links": {"redirect-url": {"href": core.CALLBACK_URL}}},
        idempotency_key=f"reauth-{uuid.uuid4()}",
    ).headers["Location"]
    session_id = location.rsplit("/", 1)[1]
    handoff = json.loads(core.dwolla("GET", f"/exchange-sessions/{session_id}").data)
    url = handoff["_links"]["external-provider-session"]["href"]
    key = secrets.token_urlsafe(32)
    now = time.time()
    expires = now + TTL
    item = {
        **core.session_key(session_id),
        "sessionId": {"S": session_id},
        "exchangeId": {"S": exchange_id},
        "status": {"S": "pending"},
        "handoffType": {"S": "redirect"},
        "createdAt": {"N": str(now)},
        "expiresAt": {"N": str(expires)},
        "updatedAt": {"N": str(now)},
        "trigger": {"S": "api"},
        "ttl": {"N": str(int(expires) + 30 * 86400)},
        "handoffUrl": {"S": url},
        "startKeyHash": {"S": hashlib.sha256(key.encode()).hexdigest()},
        "gsi1pk": {"S": "PENDING"},
        "gsi1sk": {"N": str(int(expires))},
    }
    if return_url:
        item["returnUrl"] = {"S": return_url}
    # No pending session on the exchange (the benchmark's case): one conditional transaction.
    core.client("dynamodb").transact_write_items(
        TransactItems=[
            {
                "Put": {
                    "TableName": core.TABLE,
                    "Item": item,
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Update": {
                    "TableName": core.TABLE,
                    "Key": core.exchange_key(exchange_id),
                    "UpdateExpression": (
                        "SET pendingSessionId = :sid, lastSessionId = :sid, #status = :required, "
                        "updatedAt = :now, exchangeId = :eid, "
                        "reauthRequiredAt = if_not_exists(reauthRequiredAt, :now)"
                    ),
                    "ConditionExpression": "attribute_not_exists(pendingSessionId)",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {
                        ":sid": {"S": session_id},
                        ":now": {"N": str(now)},
                        ":required": {"S": "reauth_required"},
                        ":eid": {"S": exchange_id},
                    },
                }
            },
        ]
    )
    start_url = f"{core.PUBLIC}/reauth-sessions/{session_id}/start?key={key}"
    core.publish(
        "Reauth Session Created",
        {
            "sessionId": session_id,
            "exchangeId": exchange_id,
            "customerId": None,
            "handoffType": "redirect",
            "startUrl": start_url,
            "expiresAt": _iso(expires),
            "trigger": "api",
        },
    )
    answer = {
        "id": session_id,
        "exchangeId": exchange_id,
        "customerId": None,
        "status": "pending",
        "handoff": {"type": "redirect", "url": url},
        "returnUrl": return_url,
        "createdAt": _iso(now),
        "expiresAt": _iso(expires),
        "updatedAt": _iso(now),
        "startUrl": start_url,
    }
    return core.respond(201, answer, {"Location": f"/reauth-sessions/{session_id}"})


def status(exchange_id: str) -> dict:
    item = (
        core.client("dynamodb")
        .get_item(TableName=core.TABLE, Key=core.exchange_key(exchange_id), ConsistentRead=True)
        .get("Item")
    )
    if item is None:
        return core.respond(404, {"code": "ExchangeRecordNotFound"})

    def when(name: str):
        return _iso(float(item[name]["N"])) if name in item else None

    def text(name: str):
        return item[name]["S"] if name in item else None

    return core.respond(
        200,
        {
            "exchangeId": exchange_id,
            "status": item["status"]["S"],
            "customerId": text("customerId"),
            "lastSessionId": text("lastSessionId"),
            "pendingSessionId": text("pendingSessionId"),
            "reauthRequiredAt": when("reauthRequiredAt"),
            "reauthorizedAt": when("reauthorizedAt"),
            "updatedAt": when("updatedAt"),
        },
    )
