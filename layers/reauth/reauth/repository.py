"""The DynamoDB adapter: the only code that knows the table's layout.

One table, keyed by `pk` (string) and `sk` (string):
  SESSION#<sessionId>   / SESSION     a re-authentication session
  EXCHANGE#<exchangeId> / EXCHANGE    the exchange's record (status, last and pending session)
  IDEMPOTENCY#<sha256>  / IDEMPOTENCY a create request's key → the session it made (kept 24 h)
  WEBHOOK#<eventId>     / WEBHOOK     a Dwolla webhook already handled (kept 3 days)
Index `pending-by-expiry` (gsi1pk = "PENDING", gsi1sk = expiry epoch) holds pending sessions
only, so the expiry sweep reads exactly the sessions it has to close. `ttl` lets DynamoDB delete
old items.

Every change of a session's status goes through `transition`, conditioned on the statuses that
model.TRANSITIONS allows as sources; the exchange record is updated in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .model import (
    ExchangeRecord,
    ExchangeStatus,
    HandoffType,
    ReauthSession,
    SessionStatus,
    allowed_sources,
)

PENDING_INDEX = "pending-by-expiry"
RETENTION = timedelta(days=30)  # how long finished sessions stay readable
IDEMPOTENCY_RETENTION = timedelta(hours=24)
WEBHOOK_RETENTION = timedelta(days=3)


class ConcurrentChange(Exception):
    """The exchange's pending session changed under us; re-read and try again."""


class StartRefused(Exception):
    """A start key was not spent. `current` is the session as it is (None: no such session)."""

    def __init__(self, current: ReauthSession | None) -> None:
        super().__init__("start refused")
        self.current = current


@dataclass(frozen=True)
class ExpiredCandidate:
    session_id: str
    exchange_id: str
    customer_id: str | None


@dataclass(frozen=True)
class IdempotencyRecord:
    session_id: str
    fingerprint: str


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _when(value: dict | None) -> datetime | None:
    return datetime.fromtimestamp(float(value["N"]), UTC) if value else None


def _s(item: dict, name: str) -> str | None:
    value = item.get(name)
    return value["S"] if value else None


def _n(value: float | int) -> dict:
    return {"N": str(value)}


def _session_key(session_id: str) -> dict:
    return {"pk": {"S": f"SESSION#{session_id}"}, "sk": {"S": "SESSION"}}


def _exchange_key(exchange_id: str) -> dict:
    return {"pk": {"S": f"EXCHANGE#{exchange_id}"}, "sk": {"S": "EXCHANGE"}}


def _idempotency_key(key_hash: str) -> dict:
    return {"pk": {"S": f"IDEMPOTENCY#{key_hash}"}, "sk": {"S": "IDEMPOTENCY"}}


def _session_item(session: ReauthSession) -> dict:
    item: dict[str, Any] = {
        **_session_key(session.id),
        "sessionId": {"S": session.id},
        "exchangeId": {"S": session.exchange_id},
        "status": {"S": session.status.value},
        "handoffType": {"S": session.handoff_type.value},
        "createdAt": _n(session.created_at.timestamp()),
        "expiresAt": _n(session.expires_at.timestamp()),
        "updatedAt": _n(session.updated_at.timestamp()),
        "trigger": {"S": session.trigger},
        "ttl": _n(_epoch(session.expires_at + RETENTION)),
    }
    optional = {
        "customerId": session.customer_id,
        "handoffUrl": session.handoff_url,
        "handoffToken": session.handoff_token,
        "returnUrl": session.return_url,
        "startKeyHash": session.start_key_hash,
        "failureReason": session.failure_reason,
    }
    item.update({name: {"S": value} for name, value in optional.items() if value})
    if session.trigger == "event":
        item["announceClaimedAt"] = _n(session.created_at.timestamp())
    if session.status is SessionStatus.PENDING:
        item["gsi1pk"] = {"S": "PENDING"}
        item["gsi1sk"] = _n(_epoch(session.expires_at))
    return item


def _session_from(item: dict) -> ReauthSession:
    return ReauthSession(
        id=item["sessionId"]["S"],
        exchange_id=item["exchangeId"]["S"],
        customer_id=_s(item, "customerId"),
        status=SessionStatus(item["status"]["S"]),
        handoff_type=HandoffType(item["handoffType"]["S"]),
        handoff_url=_s(item, "handoffUrl"),
        handoff_token=_s(item, "handoffToken"),
        return_url=_s(item, "returnUrl"),
        created_at=_when(item["createdAt"]),
        expires_at=_when(item["expiresAt"]),
        updated_at=_when(item["updatedAt"]),
        failure_reason=_s(item, "failureReason"),
        start_key_hash=_s(item, "startKeyHash"),
        start_key_used="startKeyUsedAt" in item,
        binding_hash=_s(item, "bindingHash"),
        trigger=_s(item, "trigger") or "api",
        announced="announcedAt" in item,
    )


def _exchange_from(item: dict) -> ExchangeRecord:
    return ExchangeRecord(
        exchange_id=item["exchangeId"]["S"],
        status=ExchangeStatus(item["status"]["S"]),
        customer_id=_s(item, "customerId"),
        last_session_id=_s(item, "lastSessionId"),
        pending_session_id=_s(item, "pendingSessionId"),
        updated_at=_when(item["updatedAt"]),
        reauth_required_at=_when(item.get("reauthRequiredAt")),
        reauthorized_at=_when(item.get("reauthorizedAt")),
    )


def _status_condition(target: SessionStatus, values: dict) -> str:
    names = []
    for i, source in enumerate(allowed_sources(target)):
        values[f":from{i}"] = {"S": source.value}
        names.append(f":from{i}")
    return f"#status IN ({', '.join(names)})"


class SessionRepository:
    def __init__(self, client, table_name: str) -> None:
        self._db = client
        self._table = table_name

    # ---- reads -------------------------------------------------------------------------------
    def get_session(self, session_id: str) -> ReauthSession | None:
        item = self._db.get_item(
            TableName=self._table, Key=_session_key(session_id), ConsistentRead=True
        ).get("Item")
        return _session_from(item) if item else None

    def get_exchange(self, exchange_id: str) -> ExchangeRecord | None:
        item = self._db.get_item(
            TableName=self._table, Key=_exchange_key(exchange_id), ConsistentRead=True
        ).get("Item")
        return _exchange_from(item) if item else None

    def get_idempotency(self, key_hash: str) -> IdempotencyRecord | None:
        item = self._db.get_item(
            TableName=self._table, Key=_idempotency_key(key_hash), ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        return IdempotencyRecord(item["sessionId"]["S"], item["fingerprint"]["S"])

    def pending_past_expiry(self, now: datetime, limit: int) -> list[ExpiredCandidate]:
        """Pending sessions whose lifetime is over, oldest first, at most `limit`."""
        answer = self._db.query(
            TableName=self._table,
            IndexName=PENDING_INDEX,
            KeyConditionExpression="gsi1pk = :pending AND gsi1sk <= :now",
            ExpressionAttributeValues={":pending": {"S": "PENDING"}, ":now": _n(_epoch(now))},
            ProjectionExpression="sessionId, exchangeId, customerId",
            Limit=limit,
        )
        return [
            ExpiredCandidate(
                item["sessionId"]["S"], item["exchangeId"]["S"], _s(item, "customerId")
            )
            for item in answer.get("Items", [])
        ]

    # ---- writes ------------------------------------------------------------------------------
    def create_session(
        self,
        session: ReauthSession,
        *,
        supersedes: str | None,
        idempotency: tuple[str, str] | None,
        now: datetime,
    ) -> bool:
        """Store a new pending session as the exchange's one pending session, in one transaction:
        the previous pending session (`supersedes`, as last read) becomes superseded, and the
        idempotency record (key hash, request fingerprint) is written.

        Returns False when the session or its idempotency record already exists (a duplicate of a
        request that won); raises ConcurrentChange when the exchange's pending session moved.
        """
        values: dict[str, Any] = {
            ":sid": {"S": session.id},
            ":now": _n(now.timestamp()),
            ":required": {"S": ExchangeStatus.REAUTH_REQUIRED.value},
            ":eid": {"S": session.exchange_id},
        }
        update = (
            "SET pendingSessionId = :sid, lastSessionId = :sid, #status = :required, "
            "updatedAt = :now, exchangeId = :eid, "
            "reauthRequiredAt = if_not_exists(reauthRequiredAt, :now)"
        )
        if session.customer_id:
            values[":cid"] = {"S": session.customer_id}
            update += ", customerId = :cid"
        if supersedes:
            values[":old"] = {"S": supersedes}
            condition = "pendingSessionId = :old"
        else:
            condition = "attribute_not_exists(pendingSessionId)"
        items: list[dict] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": _session_item(session),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": _exchange_key(session.exchange_id),
                    "UpdateExpression": update,
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": values,
                }
            },
        ]
        if supersedes:
            items.append(self._transition_item(supersedes, SessionStatus.SUPERSEDED, now, None))
        if idempotency:
            key_hash, fingerprint = idempotency
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            **_idempotency_key(key_hash),
                            "sessionId": {"S": session.id},
                            "fingerprint": {"S": fingerprint},
                            "ttl": _n(_epoch(now + IDEMPOTENCY_RETENTION)),
                        },
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
        reasons = self._transact(items)
        if reasons is None:
            return True
        if reasons[0] == "ConditionalCheckFailed" or (
            idempotency and reasons[-1] == "ConditionalCheckFailed"
        ):
            return False
        raise ConcurrentChange(session.exchange_id)

    def transition(
        self,
        session_id: str,
        exchange_id: str,
        target: SessionStatus,
        now: datetime,
        *,
        failure_reason: str | None = None,
    ) -> bool:
        """Move a session to `target` (allowed by model.TRANSITIONS) and update its exchange record
        in the same transaction. Returns False when the session was not in an allowed source status
        any more (another writer got there first): nothing changed."""
        values: dict[str, Any] = {":sid": {"S": session_id}, ":now": _n(now.timestamp())}
        if target is SessionStatus.REAUTHORIZED:
            values[":reauthorized"] = {"S": ExchangeStatus.REAUTHORIZED.value}
            exchange_update = (
                "SET #status = :reauthorized, reauthorizedAt = :now, updatedAt = :now, "
                "lastSessionId = :sid REMOVE pendingSessionId"
            )
        else:
            exchange_update = "SET updatedAt = :now REMOVE pendingSessionId"
        items = [
            self._transition_item(session_id, target, now, failure_reason),
            {
                "Update": {
                    "TableName": self._table,
                    "Key": _exchange_key(exchange_id),
                    "UpdateExpression": exchange_update,
                    "ConditionExpression": "pendingSessionId = :sid",
                    "ExpressionAttributeValues": values,
                    **(
                        {"ExpressionAttributeNames": {"#status": "status"}}
                        if target is SessionStatus.REAUTHORIZED
                        else {}
                    ),
                }
            },
        ]
        return self._transact(items) is None

    def _transition_item(
        self, session_id: str, target: SessionStatus, now: datetime, failure_reason: str | None
    ) -> dict:
        values: dict[str, Any] = {":to": {"S": target.value}, ":now": _n(now.timestamp())}
        condition = _status_condition(target, values)
        update = "SET #status = :to, updatedAt = :now"
        if failure_reason:
            values[":reason"] = {"S": failure_reason}
            update += ", failureReason = :reason"
        if target in (SessionStatus.REAUTHORIZED, SessionStatus.FAILED):
            condition += " AND expiresAt > :now"  # a customer cannot finish an expired session
        return {
            "Update": {
                "TableName": self._table,
                "Key": _session_key(session_id),
                "UpdateExpression": update + " REMOVE gsi1pk, gsi1sk",
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": values,
            }
        }

    def bind_browser(
        self, session_id: str, start_key_hash: str, binding_hash: str, now: datetime
    ) -> ReauthSession:
        """Spend the one-time start key and record the browser binding, in one conditional write
        that answers with the session as it now is. Raises StartRefused (with the session as it
        is, if there is one) when the key is wrong or spent, or the session is not pending and
        unexpired: nothing changed. (Only redirect sessions have a start key.)"""
        try:
            answer = self._db.update_item(
                TableName=self._table,
                Key=_session_key(session_id),
                UpdateExpression="SET bindingHash = :binding, startKeyUsedAt = :now",
                ConditionExpression=(
                    "startKeyHash = :key AND attribute_not_exists(startKeyUsedAt) "
                    "AND #status = :pending AND expiresAt > :now"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":binding": {"S": binding_hash},
                    ":key": {"S": start_key_hash},
                    ":pending": {"S": SessionStatus.PENDING.value},
                    ":now": _n(now.timestamp()),
                },
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._db.exceptions.ConditionalCheckFailedException as exc:
            item = exc.response.get("Item")
            raise StartRefused(_session_from(item) if item else None) from None
        return _session_from(answer["Attributes"])

    # An event-made session's "Reauth Session Created" is the only copy of its start link. Its
    # creator holds a claim to announce it from the moment it is stored; a redelivered event may
    # take the claim over (with a fresh start key) only once it is older than the lease, so
    # concurrent duplicates never announce twice, and a crashed creator's session still is.
    def claim_announcement(
        self, session_id: str, now: datetime, lease: timedelta, start_key_hash: str | None
    ) -> bool:
        values: dict[str, Any] = {
            ":now": _n(now.timestamp()),
            ":stale": _n((now - lease).timestamp()),
            ":pending": {"S": SessionStatus.PENDING.value},
        }
        update = "SET announceClaimedAt = :now"
        condition = (
            "attribute_not_exists(announcedAt) AND #status = :pending AND expiresAt > :now "
            "AND (attribute_not_exists(announceClaimedAt) OR announceClaimedAt < :stale)"
        )
        if start_key_hash:
            values[":key"] = {"S": start_key_hash}
            update += ", startKeyHash = :key"
            condition += " AND attribute_not_exists(startKeyUsedAt)"
        return self._conditionally(
            self._db.update_item,
            Key=_session_key(session_id),
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=values,
        )

    def release_announcement(self, session_id: str) -> None:
        """Give the claim up at once (the publish failed): the redelivery may announce."""
        self._db.update_item(
            TableName=self._table,
            Key=_session_key(session_id),
            UpdateExpression="REMOVE announceClaimedAt",
        )

    def mark_announced(self, session_id: str, now: datetime) -> None:
        """Record that the session's "Reauth Session Created" event was delivered."""
        self._db.update_item(
            TableName=self._table,
            Key=_session_key(session_id),
            UpdateExpression="SET announcedAt = :now",
            ExpressionAttributeValues={":now": _n(now.timestamp())},
        )

    def rotate_start_key(self, session_id: str, start_key_hash: str, now: datetime) -> bool:
        """Replace a not-yet-used start key (an idempotent replay hands out a fresh link)."""
        return self._conditionally(
            self._db.update_item,
            Key=_session_key(session_id),
            UpdateExpression="SET startKeyHash = :key",
            ConditionExpression=(
                "attribute_not_exists(startKeyUsedAt) AND #status = :pending AND expiresAt > :now"
            ),
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":key": {"S": start_key_hash},
                ":pending": {"S": SessionStatus.PENDING.value},
                ":now": _n(now.timestamp()),
            },
        )

    def mark_reauth_required(
        self, exchange_id: str, customer_id: str | None, now: datetime
    ) -> None:
        """Dwolla says the exchange needs re-authentication (webhook)."""
        values: dict[str, Any] = {
            ":required": {"S": ExchangeStatus.REAUTH_REQUIRED.value},
            ":now": _n(now.timestamp()),
            ":eid": {"S": exchange_id},
        }
        update = (
            "SET #status = :required, reauthRequiredAt = :now, updatedAt = :now, exchangeId = :eid"
        )
        if customer_id:
            values[":cid"] = {"S": customer_id}
            update += ", customerId = :cid"
        self._db.update_item(
            TableName=self._table,
            Key=_exchange_key(exchange_id),
            UpdateExpression=update,
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues=values,
        )

    def record_webhook(self, event_id: str, now: datetime) -> bool:
        """Remember a webhook delivery; False when it was already recorded (a redelivery)."""
        return self._conditionally(
            self._db.put_item,
            Item={
                "pk": {"S": f"WEBHOOK#{event_id}"},
                "sk": {"S": "WEBHOOK"},
                "ttl": _n(_epoch(now + WEBHOOK_RETENTION)),
            },
            ConditionExpression="attribute_not_exists(pk)",
        )

    def forget_webhook(self, event_id: str) -> None:
        """Undo `record_webhook` when handling failed, so Dwolla's retry is processed."""
        self._db.delete_item(
            TableName=self._table, Key={"pk": {"S": f"WEBHOOK#{event_id}"}, "sk": {"S": "WEBHOOK"}}
        )

    def _conditionally(self, write, **request) -> bool:
        """One conditional write; False when its condition did not hold (nothing changed)."""
        try:
            write(TableName=self._table, **request)
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def _transact(self, items: list[dict]) -> list[str] | None:
        """Run a transaction; None on success, else the per-item cancellation reason codes."""
        try:
            self._db.transact_write_items(TransactItems=items)
        except self._db.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons") or []
            return [r.get("Code", "None") for r in reasons] or ["Unknown"]
        return None
