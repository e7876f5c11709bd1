"""Baseline ApiFunction: create a re-authentication request (2 Dwolla calls, and a third that
checks a named funding source is the exchange's; 1 DynamoDB transaction that also writes its
event to the outbox) and read an exchange's status (1 DynamoDB
read)."""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from datetime import UTC, datetime

from . import core

ATTEMPT_TTL = int(os.environ.get("SESSION_TTL_MINUTES") or 30) * 60
LIFETIME = int(os.environ.get("REQUEST_LIFETIME_DAYS") or 7) * 86400
RETENTION = 30 * 86400
ALLOWED = {u.strip() for u in os.environ.get("RETURN_URL_ALLOWLIST", "").split(",") if u.strip()}
_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_CREATE = re.compile(rf"/exchanges/({_UUID})/reauth-sessions\Z")
_STATUS = re.compile(rf"/exchanges/({_UUID})/reauth-status\Z")
_COMPLETE = re.compile(rf"/reauth-sessions/({_UUID})/complete\Z")


def handler(event: dict, context) -> dict:
    path, method = event["path"], event["httpMethod"]
    if method == "POST" and (match := _CREATE.match(path)):
        return create(match[1], json.loads(event.get("body") or "{}"))
    if method == "GET" and (match := _STATUS.match(path)):
        return status(match[1])
    if method == "POST" and (match := _COMPLETE.match(path)):
        return complete(match[1], json.loads(event.get("body") or "{}"))
    return core.respond(404, {"code": "NotFound"})


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def create(exchange_id: str, body: dict) -> dict:
    return_url, funding_source = body.get("returnUrl"), body.get("fundingSourceId")
    if return_url is not None and return_url not in ALLOWED:
        return core.respond(400, {"code": "ReturnUrlNotAllowed"})
    if funding_source:  # it must be the exchange's (Dwolla links it to the exchange)
        source = json.loads(core.dwolla("GET", f"/funding-sources/{funding_source}").data)
        made_from = source.get("_links", {}).get("exchange", {}).get("href", "")
        if not made_from.endswith(f"/{exchange_id}") or source.get("removed"):
            return core.respond(400, {"code": "FundingSourceNotOfExchange"})
    location = core.dwolla(
        "POST",
        f"/exchanges/{exchange_id}/exchange-sessions",
        {"_links": {"redirect-url": {"href": core.CALLBACK_URL}}},
        idempotency_key=f"reauth-{uuid.uuid4()}",
    ).headers["Location"]
    attempt_id = location.rsplit("/", 1)[1]
    handoff = json.loads(core.dwolla("GET", f"/exchange-sessions/{attempt_id}").data)
    url = handoff.get("_links", {}).get("external-provider-session", {}).get("href")
    kind, token = ("redirect", None) if url else ("token", handoff["externalProviderSessionToken"])
    request_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"reauth:{attempt_id}"))
    now = time.time()
    deadline = now + LIFETIME
    attempt = {
        "createdAt": {"N": str(now)},
        "expiresAt": {"N": str(now + ATTEMPT_TTL)},
        "handoffType": {"S": kind},
        **({"handoffUrl": {"S": url}} if url else {"handoffToken": {"S": token}}),
    }
    item = {
        **core.request_key(request_id),
        "requestId": {"S": request_id},
        "exchangeId": {"S": exchange_id},
        "status": {"S": "pending"},
        "createdAt": {"N": str(now)},
        "expiresAt": {"N": str(deadline)},
        "updatedAt": {"N": str(now)},
        "trigger": {"S": "api"},
        "currentAttemptId": {"S": attempt_id},
        "attemptCount": {"N": "1"},
        "attempts": {"M": {attempt_id: {"M": attempt}}},
        "ttl": {"N": str(int(deadline + RETENTION))},
        "gsi1pk": {"S": "PENDING"},
        "gsi1sk": {"N": str(int(deadline))},
    }
    if funding_source:
        item["fundingSourceId"] = {"S": funding_source}
    if return_url:
        item["returnUrl"] = {"S": return_url}
    start_url = f"{core.PUBLIC}/reauth/link/{request_id}?key={core.link_key(request_id)}"
    announcement = {
        "sessionId": request_id,
        "exchangeId": exchange_id,
        "customerId": None,
        "handoffType": kind,
        "startUrl": start_url,
        "expiresAt": _iso(deadline),
        "trigger": "api",
    }
    # No open request on the exchange (the benchmark's case): one conditional transaction, with
    # the event in the outbox.
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
                        "SET pendingRequestId = :rid, lastRequestId = :rid, #status = :required, "
                        "updatedAt = :now, exchangeId = :eid, "
                        "reauthRequiredAt = if_not_exists(reauthRequiredAt, :now)"
                    ),
                    "ConditionExpression": "attribute_not_exists(pendingRequestId)",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {
                        ":rid": {"S": request_id},
                        ":now": {"N": str(now)},
                        ":required": {"S": "reauth_required"},
                        ":eid": {"S": exchange_id},
                    },
                }
            },
            core.outbox_put(request_id, "Reauth Session Created", announcement, now),
        ]
    )
    answer = {
        "id": request_id,
        "exchangeId": exchange_id,
        "customerId": None,
        "fundingSourceId": funding_source,
        "status": "pending",
        "handoff": {"type": kind, **({"url": url} if url else {"token": token})},
        "startUrl": start_url,
        "returnUrl": return_url,
        "createdAt": _iso(now),
        "expiresAt": _iso(deadline),
        "updatedAt": _iso(now),
        "attempts": [{"id": attempt_id, "state": "open", "createdAt": _iso(now)}],
    }
    return core.respond(201, answer, {"Location": f"/reauth-sessions/{request_id}"})


def complete(request_id: str, body: dict) -> dict:
    """The platform ran Plaid Link itself and reports its success: Dwolla confirms it."""
    item = (
        core.client("dynamodb")
        .get_item(TableName=core.TABLE, Key=core.request_key(request_id), ConsistentRead=True)
        .get("Item")
    )
    now = time.time()
    if (
        body
        or item is None
        or item["status"]["S"] != "pending"
        or float(item["expiresAt"]["N"]) <= now
        or item["attempts"]["M"][item["currentAttemptId"]["S"]]["M"]["handoffType"]["S"] != "token"
    ):
        return core.respond(409, {"code": "SessionNotPending"})
    core.reauthorize(item, request_id, item["currentAttemptId"]["S"], now)
    return core.respond(200, {"id": request_id, "status": "reauthorized"})


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
            "lastSessionId": text("lastRequestId"),
            "pendingSessionId": text("pendingRequestId"),
            "reauthRequiredAt": when("reauthRequiredAt"),
            "reauthorizedAt": when("reauthorizedAt"),
            "updatedAt": when("updatedAt"),
        },
    )
