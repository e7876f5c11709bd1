"""What the baseline functions share: settings, lazily made clients, the cached secret and token,
one urllib3 pool for Dwolla, the start links' key, the DynamoDB keys, the outbox item and the
API Gateway answer."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import uuid
from datetime import UTC, datetime

import boto3
import urllib3

TABLE = os.environ["TABLE_NAME"]
BUS = os.environ["EVENT_BUS_NAME"]
SOURCE = os.environ.get("EVENT_SOURCE") or "dwolla-reauth"
SECRET_ID = os.environ["DWOLLA_SECRET_ID"]
LINK_SECRET_ID = os.environ["LINK_SECRET_ID"]
SECRET_MAX_AGE = int(os.environ.get("SECRET_CACHE_SECONDS") or 300)
DWOLLA = (os.environ.get("DWOLLA_API_BASE_URL") or "https://api-sandbox.dwolla.com").rstrip("/")
PUBLIC = os.environ["PUBLIC_BASE_URL"].rstrip("/")
CALLBACK_URL = os.environ.get("CALLBACK_URL") or f"{PUBLIC}/reauth/callback"
HAL = "application/vnd.dwolla.v1.hal+json"
OUTBOX_RETENTION = 7 * 86400

pool = urllib3.PoolManager(
    num_pools=2, maxsize=8, retries=False, timeout=urllib3.Timeout(connect=3.05, read=10.0)
)
_session = None
_clients: dict = {}
_secret: tuple[dict, float] | None = None  # (value, read at)
_link_secret: tuple[bytes, float] | None = None  # (value, read at)
_token: tuple[str, float] | None = None  # (value, renew at)


def boto_session():
    global _session
    if _session is None:
        _session = boto3.session.Session()
    return _session


def client(name: str):
    found = _clients.get(name)
    if found is None:
        found = _clients[name] = boto_session().client(name)
    return found


def secret() -> dict:
    global _secret
    now = time.monotonic()
    if _secret is None or now - _secret[1] >= SECRET_MAX_AGE:
        value = client("secretsmanager").get_secret_value(SecretId=SECRET_ID)["SecretString"]
        _secret = (json.loads(value), now)
    return _secret[0]


def link_secret() -> bytes:
    global _link_secret
    now = time.monotonic()
    if _link_secret is None or now - _link_secret[1] >= SECRET_MAX_AGE:
        value = client("secretsmanager").get_secret_value(SecretId=LINK_SECRET_ID)["SecretString"]
        _link_secret = (value.encode(), now)
    return _link_secret[0]


def token() -> str:
    global _token
    now = time.monotonic()
    if _token is None or now >= _token[1]:
        value = secret()
        basic = base64.b64encode(f"{value['key']}:{value['secret']}".encode()).decode()
        answer = pool.request(
            "POST",
            f"{DWOLLA}/token",
            body=b"grant_type=client_credentials",
            headers={
                "Accept": HAL,
                "Authorization": f"Basic {basic}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        minted = json.loads(answer.data)
        lifetime = minted.get("expires_in", 3600)
        # reused until 60 s before it expires, or for half its life if that is longer
        _token = (minted["access_token"], now + max(lifetime - 60, lifetime / 2))
    return _token[0]


def link_key(request_id: str) -> str:
    """The start link's key: base64url(HMAC-SHA256(link secret, "link:" + request id))."""
    mac = hmac.new(link_secret(), f"link:{request_id}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def dwolla(method: str, path: str, body: dict | None = None, idempotency_key: str | None = None):
    headers = {"Accept": HAL, "Authorization": f"Bearer {token()}"}
    if body is not None:
        headers["Content-Type"] = HAL
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    data = json.dumps(body).encode() if body is not None else None
    answer = pool.request(method, DWOLLA + path, body=data, headers=headers)
    if answer.status >= 400:
        raise RuntimeError(f"Dwolla {method} {path}: {answer.status}")
    return answer


def request_key(request_id: str) -> dict:
    return {"pk": {"S": f"REQUEST#{request_id}"}, "sk": {"S": "REQUEST"}}


def exchange_key(exchange_id: str) -> dict:
    return {"pk": {"S": f"EXCHANGE#{exchange_id}"}, "sk": {"S": "EXCHANGE"}}


def outbox_put(request_id: str, detail_type: str, detail: dict, now: float) -> dict:
    """An event as a Put in the transaction of the change it tells of (the relay sends it)."""
    event_id = str(uuid.uuid4())
    return {
        "Put": {
            "TableName": TABLE,
            "Item": {
                "pk": {"S": f"OUTBOX#{request_id}"},
                "sk": {"S": f"{now:017.6f}#{event_id}"},
                "eventId": {"S": event_id},
                "detailType": {"S": detail_type},
                "detail": {"S": json.dumps({**detail, "eventId": event_id}, separators=(",", ":"))},
                "ttl": {"N": str(int(now + OUTBOX_RETENTION))},
            },
            "ConditionExpression": "attribute_not_exists(pk)",
        }
    }


def funding_source_of(item: dict) -> str:
    """The request's funding source, or the one Dwolla made from its exchange."""
    if "fundingSourceId" in item:
        return item["fundingSourceId"]["S"]
    exchange_id = item["exchangeId"]["S"]
    exchange = json.loads(dwolla("GET", f"/exchanges/{exchange_id}").data)
    customer = exchange["_links"]["customer"]["href"].rsplit("/", 1)[1]
    listed = dwolla("GET", f"/customers/{customer}/funding-sources?removed=false")
    for source in json.loads(listed.data)["_embedded"]["funding-sources"]:
        made_from = source["_links"].get("exchange", {}).get("href", "")
        if made_from.endswith(f"/{exchange_id}"):
            return source["id"]
    raise RuntimeError("no funding source made from the exchange")


def reauthorize(item: dict, request_id: str, attempt_id: str, now: float) -> None:
    """Dwolla's balance check (after finding the funding source when the request names none),
    then one transaction: request and attempt → reauthorized, the exchange record, the event's
    outbox item."""
    exchange_id = item["exchangeId"]["S"]
    known = "fundingSourceId" in item
    funding_source = funding_source_of(item)
    dwolla("GET", f"/funding-sources/{funding_source}/balance")  # 200: repaired
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
    client("dynamodb").transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": request_key(request_id),
                    "UpdateExpression": update
                    + " REMOVE attempts.#a.reason, gsi1pk, gsi1sk, verifyNextAt",
                    "ConditionExpression": "#status IN (:from0, :from1)",
                    "ExpressionAttributeNames": {"#status": "status", "#a": attempt_id},
                    "ExpressionAttributeValues": values,
                }
            },
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": exchange_key(exchange_id),
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
            outbox_put(request_id, "Exchange Reauthorized", event, now),
        ]
    )


def respond(status: int, body: dict | None = None, headers: dict | None = None) -> dict:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps(body) if body is not None else "",
        "isBase64Encoded": False,
    }
