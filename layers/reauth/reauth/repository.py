"""The DynamoDB adapter: the only code that knows the table's layout.

One table, keyed by `pk` (string) and `sk` (string):
  REQUEST#<requestId>   / REQUEST     a re-authentication request, its attempts inside it
  EXCHANGE#<exchangeId> / EXCHANGE    the exchange's record (status, last and pending request)
  IDEMPOTENCY#<sha256>  / IDEMPOTENCY a create request's key → the request it made (kept 24 h)
  WEBHOOK#<eventId>     / WEBHOOK     a Dwolla event already handled (kept 4 days)
  CHECKPOINT#dwolla-events / CHECKPOINT  the catch-up's place in Dwolla's events (webhooks.Cursor)
  OUTBOX#<requestId>    / <time>#<id> an event, written with the change it tells of (outbox.py)
  RENEWAL#<requestId>   / RENEWAL     an expired or cancelled request's contact and what a new
                                      request for its exchange needs (renewal.py; kept 7 days,
                                      deleted once used or when the request is reauthorized)
A request's attempts live in its item (`attempts`, a map by Dwolla exchange-session id, at most
MAX_ATTEMPTS), so starting, ending and verifying an attempt are each one conditional write.
Index `pending-by-expiry` (gsi1pk, gsi1sk) holds open requests only: "PENDING#<shard>" by
deadline (the expiry sweep), "VERIFYING#<shard>" by the time of the next check with Dwolla. The
key is write-sharded (SHARDS values, from the request id) so no index partition takes every
request's writes; the sweep reads the shards in parallel. Index
`reminders-due` (gsi2pk, gsi2sk) holds the open requests with a message to send:
"REMIND#<shard>" by the next slot's due time (`remindSlot`, schedule.py), sharded the same way.
`ttl` lets DynamoDB delete old items. A request's `contact` (personal data) and its index
entries are removed by every close. `stoppedChannels` (a string set) names the channels SES said
no longer reach the customer (delivery.py): a slot's claim fails when it names one. `locale`
(the customer's language for the pages and messages, words.py) outlives the contact.

Every change of a request's status is conditioned on the status the writer read (which
model.TRANSITIONS must allow to move to the target), and every write of events on the request's
event sequence as read (`eventSeq`, the number of events written about it: outbox.py), so a
write decided on an old read changes nothing; the exchange record is updated in the same
transaction where it changes too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, cast

from .model import (
    NOT_REPAIRED,
    RENEWABLE_STATUSES,
    Attempt,
    AttemptOutcome,
    Channel,
    Contact,
    ExchangeRecord,
    ExchangeStatus,
    HandoffType,
    ReauthRequest,
    Reporter,
    RequestStatus,
    SentMessage,
    Verification,
    VerificationResult,
    can_move,
)
from .outbox import OutboxEvent

if TYPE_CHECKING:  # the stubs are a development dependency; the layer ships no boto3 types
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef, UpdateItemOutputTypeDef

# An item (or key, or map) in DynamoDB's wire form: {name: {"S": ...} | {"N": ...} | {"M": ...}}.
Item = dict[str, Any]

PENDING_INDEX = "pending-by-expiry"
REMINDERS_INDEX = "reminders-due"
RETENTION = timedelta(days=30)  # how long finished requests stay readable after the deadline
IDEMPOTENCY_RETENTION = timedelta(hours=24)
WEBHOOK_RETENTION = timedelta(days=4)  # Dwolla retries for 72 h: dedupe for all of it
RENEWAL_RETENTION = timedelta(days=7)  # a closed request's contact, kept for "a new link"
RENEWAL_EVERY = timedelta(hours=24)  # at most one "new link" per request, one renewal per exchange
_CHECKPOINT_KEY = {"pk": {"S": "CHECKPOINT#dwolla-events"}, "sk": {"S": "CHECKPOINT"}}
MAX_ATTEMPTS = 20  # per request: bounds the item and the Dwolla sessions one link can make
_PENDING, _VERIFYING, _REMIND = "PENDING", "VERIFYING", "REMIND"
# What every close removes: the index entries and the contact (personal data, kept only open).
_CLOSED_REMOVES = "gsi1pk, gsi1sk, verifyNextAt, contact, gsi2pk, gsi2sk, remindSlot"
SHARDS = 16  # index partitions per state: 16x one partition's write limit


def shard_key(state: str, request_id: str) -> str:
    """The index partition of a request in `state` (stable: the same for its whole life)."""
    return f"{state}#{int(hashlib.sha256(request_id.encode()).hexdigest()[:8], 16) % SHARDS}"


class ConcurrentChange(Exception):
    """The exchange's pending request, or the request's attempts, changed under us: re-read.
    `pending_request_id`: the exchange's open request as the failed write found it, when the
    write could tell (create_request's exchange condition returns the record it failed on)."""

    def __init__(self, *args: object, pending_request_id: str | None = None) -> None:
        super().__init__(*args)
        self.pending_request_id = pending_request_id


class Contention(Exception):
    """DynamoDB cancelled a transaction for another transaction or for throttling, not for a
    condition of ours: nothing is known about the outcome's preconditions. Retry later."""


# Cancellation reasons that say nothing about our conditions (the request must be retried).
_CONTENTION = frozenset(
    {
        "TransactionConflict",
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
        "RequestLimitExceeded",
    }
)


@dataclass(frozen=True)
class OpenRequest:
    """What the sweep needs of a request it may close or re-check."""

    request_id: str
    exchange_id: str


@dataclass(frozen=True)
class DueReminder:
    """A request with a message slot due (what the reminders index holds)."""

    request_id: str
    slot: int


@dataclass(frozen=True)
class IdempotencyRecord:
    request_id: str
    fingerprint: str


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _moment(value: Mapping[str, Any]) -> datetime:
    return datetime.fromtimestamp(float(value["N"]), UTC)


def _when(value: Mapping[str, Any] | None) -> datetime | None:
    return _moment(value) if value else None


def _s(item: Item, name: str) -> str | None:
    value = item.get(name)
    return value["S"] if value else None


def _n(value: float | int) -> Item:
    return {"N": str(value)}


def _t(moment: datetime) -> Item:
    return _n(moment.timestamp())


def _request_key(request_id: str) -> Item:
    return {"pk": {"S": f"REQUEST#{request_id}"}, "sk": {"S": "REQUEST"}}


def _exchange_key(exchange_id: str) -> Item:
    return {"pk": {"S": f"EXCHANGE#{exchange_id}"}, "sk": {"S": "EXCHANGE"}}


def _idempotency_key(key_hash: str) -> Item:
    return {"pk": {"S": f"IDEMPOTENCY#{key_hash}"}, "sk": {"S": "IDEMPOTENCY"}}


def _renewal_key(request_id: str) -> Item:
    return {"pk": {"S": f"RENEWAL#{request_id}"}, "sk": {"S": "RENEWAL"}}


_CONTACT_FIELDS = {
    "email": "email",
    "phone": "phone",
    "firstName": "first_name",
    "locale": "locale",
    "timeZone": "time_zone",
}


def _contact_item(contact: Contact) -> Item:
    fields = {name: getattr(contact, attr) for name, attr in _CONTACT_FIELDS.items()}
    return {"M": {name: {"S": value} for name, value in fields.items() if value}}


def _contact_from(item: Item | None) -> Contact | None:
    if not item:
        return None
    fields = item["M"]
    return Contact(**{attr: _s(fields, name) for name, attr in _CONTACT_FIELDS.items()})


@dataclass(frozen=True)
class Renewal:
    """What a new request for a closed request's exchange needs (the RENEWAL# item)."""

    request_id: str
    exchange_id: str
    customer_id: str | None
    return_url: str | None
    funding_source_id: str | None
    contact: Contact


def _attempt_item(attempt: Attempt) -> Item:
    fields: Item = {
        "createdAt": _t(attempt.created_at),
        "expiresAt": _t(attempt.expires_at),
        "handoffType": {"S": attempt.handoff_type.value},
    }
    if attempt.handoff_url:
        fields["handoffUrl"] = {"S": attempt.handoff_url}
    if attempt.handoff_token:
        fields["handoffToken"] = {"S": attempt.handoff_token}
    if attempt.started_at:
        fields["startedAt"] = _t(attempt.started_at)
    if attempt.binding_hash:
        fields["bindingHash"] = {"S": attempt.binding_hash}
    if attempt.render_hash:
        fields["renderHash"] = {"S": attempt.render_hash}
    return {"M": fields}


def _attempt_from(attempt_id: str, item: Item) -> Attempt:
    outcome = _s(item, "outcome")
    return Attempt(
        id=attempt_id,
        created_at=_moment(item["createdAt"]),
        expires_at=_moment(item["expiresAt"]),
        handoff_type=HandoffType(item["handoffType"]["S"]),
        handoff_url=_s(item, "handoffUrl"),
        handoff_token=_s(item, "handoffToken"),
        started_at=_when(item.get("startedAt")),
        binding_hash=_s(item, "bindingHash"),
        ended_at=_when(item.get("endedAt")),
        outcome=AttemptOutcome(outcome) if outcome else None,
        reason=_s(item, "reason"),
        render_hash=_s(item, "renderHash"),
        reported_by=Reporter(reporter) if (reporter := _s(item, "reportedBy")) else None,
    )


def _message_item(message: SentMessage) -> Item:
    return {
        "M": {
            "channel": {"S": message.channel.value},
            "slot": _n(message.slot),
            "sentAt": _t(message.sent_at),
        }
    }


def _messages_from(value: Item | None) -> tuple[SentMessage, ...]:
    return tuple(
        SentMessage(
            Channel(m["M"]["channel"]["S"]), int(m["M"]["slot"]["N"]), _moment(m["M"]["sentAt"])
        )
        for m in (value or {}).get("L", [])
    )


def _request_item(request: ReauthRequest, remind_at: datetime | None = None) -> Item:
    item: Item = {
        **_request_key(request.id),
        "requestId": {"S": request.id},
        "exchangeId": {"S": request.exchange_id},
        "status": {"S": request.status.value},
        "createdAt": _t(request.created_at),
        "expiresAt": _t(request.expires_at),
        "updatedAt": _t(request.updated_at),
        "trigger": {"S": request.trigger},
        "currentAttemptId": {"S": request.current_attempt_id},
        "attemptCount": _n(len(request.attempts)),
        "attempts": {"M": {a.id: _attempt_item(a) for a in request.attempts}},
        "ttl": _n(_epoch(request.expires_at + RETENTION)),
        "gsi1pk": {"S": shard_key(_PENDING, request.id)},
        "gsi1sk": _n(_epoch(request.expires_at)),
        "eventSeq": _n(request.event_seq),
    }
    optional = {
        "customerId": request.customer_id,
        "fundingSourceId": request.funding_source_id,
        "returnUrl": request.return_url,
        "locale": request.locale,
    }
    item.update({name: {"S": value} for name, value in optional.items() if value})
    if request.funding_source_id and request.funding_source_verified:
        item["fundingSourceVerified"] = {"BOOL": True}
    if request.contact is not None:
        item["contact"] = _contact_item(request.contact)
    if remind_at is not None:  # slot 0 (the first message) is due
        item["remindSlot"] = _n(0)
        item["gsi2pk"] = {"S": shard_key(_REMIND, request.id)}
        item["gsi2sk"] = _n(_epoch(remind_at))
    return item


def _renewal_item(request: ReauthRequest, contact: Contact, now: datetime) -> Item:
    """A closing request's RENEWAL# item: its contact and what a new request needs."""
    item: Item = {
        **_renewal_key(request.id),
        "requestId": {"S": request.id},
        "exchangeId": {"S": request.exchange_id},
        "contact": _contact_item(contact),
        "ttl": _n(_epoch(now + RENEWAL_RETENTION)),
    }
    optional = {
        "customerId": request.customer_id,
        "fundingSourceId": request.funding_source_id,
        "returnUrl": request.return_url,
    }
    item.update({name: {"S": value} for name, value in optional.items() if value})
    return item


def _request_from(item: Item) -> ReauthRequest:
    verification = None
    if "verifyResult" in item:
        verification = Verification(
            result=VerificationResult(item["verifyResult"]["S"]),
            checked_at=_moment(item["verifyCheckedAt"]),
            next_check_at=_when(item.get("verifyNextAt")),
        )
    attempts = tuple(
        sorted(
            (_attempt_from(aid, a["M"]) for aid, a in item["attempts"]["M"].items()),
            key=lambda a: a.created_at,
        )
    )
    return ReauthRequest(
        id=item["requestId"]["S"],
        exchange_id=item["exchangeId"]["S"],
        customer_id=_s(item, "customerId"),
        status=RequestStatus(item["status"]["S"]),
        return_url=_s(item, "returnUrl"),
        created_at=_moment(item["createdAt"]),
        expires_at=_moment(item["expiresAt"]),
        updated_at=_moment(item["updatedAt"]),
        attempts=attempts,
        current_attempt_id=item["currentAttemptId"]["S"],
        funding_source_id=_s(item, "fundingSourceId"),
        funding_source_verified=item.get("fundingSourceVerified", {}).get("BOOL") is True,
        trigger=_s(item, "trigger") or "api",
        reauthorized_at=_when(item.get("reauthorizedAt")),
        verification=verification,
        event_seq=int(item.get("eventSeq", {"N": "0"})["N"]),
        contact=_contact_from(item.get("contact")),
        messages=_messages_from(item.get("messages")),
        opened_at=_when(item.get("openedAt")),
        ended_at=_when(item.get("endedAt")),
        locale=_s(item, "locale"),
        stopped_channels=frozenset(
            Channel(c) for c in item.get("stoppedChannels", {}).get("SS", [])
        ),
    )


def _exchange_from(item: Item) -> ExchangeRecord:
    return ExchangeRecord(
        exchange_id=item["exchangeId"]["S"],
        status=ExchangeStatus(item["status"]["S"]),
        customer_id=_s(item, "customerId"),
        last_session_id=_s(item, "lastRequestId"),
        pending_session_id=_s(item, "pendingRequestId"),
        updated_at=_moment(item["updatedAt"]),
        reauth_required_at=_when(item.get("reauthRequiredAt")),
        reauthorized_at=_when(item.get("reauthorizedAt")),
    )


def _started(
    request: ReauthRequest,
    attempt_id: str,
    binding_hash: str,
    render_hash: str | None,
    now: datetime,
) -> ReauthRequest:
    """`request` as RequestRepository.start_attempt just wrote it."""
    attempts = tuple(
        replace(a, started_at=now, binding_hash=binding_hash, render_hash=render_hash)
        if a.id == attempt_id
        else a
        for a in request.attempts
    )
    return replace(request, attempts=attempts, updated_at=now)


def _as_read(request: ReauthRequest, target: RequestStatus | None, values: Item) -> str:
    """The condition that the request is still in the status it was read in (and that the
    table of transitions lets that status move to `target`)."""
    if target is not None and not can_move(request.status, target):
        raise ValueError(f"no transition from {request.status} to {target}")
    values[":read"] = {"S": request.status.value}
    return "#status = :read"


def _sequenced(
    update: str, condition: str, values: Item, request: ReauthRequest, count: int
) -> tuple[str, str]:
    """`update` and `condition` extended to write `count` events after the request's
    `event_seq` (as read): the sequence moves on, and the write holds only if no other writer
    took those numbers meanwhile."""
    if not count:
        return update, condition
    values[":seqNext"] = _n(request.event_seq + count)
    if request.event_seq:
        values[":seqRead"] = _n(request.event_seq)
        guard = "eventSeq = :seqRead"
    else:
        guard = "attribute_not_exists(eventSeq)"
    return update.replace("SET ", "SET eventSeq = :seqNext, ", 1), f"({condition}) AND {guard}"


class RequestRepository:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._db = client
        self._table = table_name

    # ---- reads -------------------------------------------------------------------------------
    def get_request(self, request_id: str) -> ReauthRequest | None:
        item = self._db.get_item(
            TableName=self._table, Key=_request_key(request_id), ConsistentRead=True
        ).get("Item")
        return _request_from(item) if item else None

    def get_requests(self, request_ids: Sequence[str]) -> dict[str, ReauthRequest]:
        """Several requests in one consistent BatchGetItem (at most 100 ids); the unknown ones
        are absent, and keys DynamoDB leaves unprocessed are asked again."""
        keys = [_request_key(request_id) for request_id in dict.fromkeys(request_ids)]
        found: dict[str, ReauthRequest] = {}
        for _ in range(3):
            if not keys:
                break
            answer = self._db.batch_get_item(
                RequestItems={self._table: {"Keys": keys, "ConsistentRead": True}}
            )
            for item in answer.get("Responses", {}).get(self._table, []):
                request = _request_from(item)
                found[request.id] = request
            unprocessed = answer.get("UnprocessedKeys", {}).get(self._table)
            keys = list(unprocessed["Keys"]) if unprocessed else []
        return found

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
        return IdempotencyRecord(item["requestId"]["S"], item["fingerprint"]["S"])

    def past_deadline(self, now: datetime, limit: int) -> list[OpenRequest]:
        """Pending requests whose deadline is over, oldest first, at most `limit`."""
        return self._due(_PENDING, now, limit)

    def verification_due(self, now: datetime, limit: int) -> list[OpenRequest]:
        """Verifying requests whose next check with Dwolla is due, at most `limit`."""
        return self._due(_VERIFYING, now, limit)

    def _due(self, state: str, now: datetime, limit: int) -> list[OpenRequest]:
        """Up to `limit` due entries of every shard of `state`, read in parallel, soonest first."""
        items = self._due_items(PENDING_INDEX, "gsi1", state, now, limit, "requestId, exchangeId")
        return [OpenRequest(item["requestId"]["S"], item["exchangeId"]["S"]) for item in items]

    def reminders_due(self, now: datetime, limit: int) -> list[DueReminder]:
        """Open requests whose next message slot is due, at most `limit`, soonest first."""
        items = self._due_items(
            REMINDERS_INDEX, "gsi2", _REMIND, now, limit, "requestId, remindSlot"
        )
        return [
            DueReminder(item["requestId"]["S"], int(item["remindSlot"]["N"]))
            for item in items
            if "remindSlot" in item
        ]

    def _due_items(
        self, index: str, key: str, state: str, now: datetime, limit: int, projection: str
    ) -> list[Item]:
        """Up to `limit` entries of `index` due by `now`, from every shard of `state` read in
        parallel, soonest first."""

        def shard(number: int) -> list[Item]:
            answer = self._db.query(
                TableName=self._table,
                IndexName=index,
                KeyConditionExpression=f"{key}pk = :p AND {key}sk <= :now",
                ExpressionAttributeValues={
                    ":p": {"S": f"{state}#{number}"},
                    ":now": _n(_epoch(now)),
                },
                ProjectionExpression=f"{projection}, {key}sk",
                Limit=limit,
            )
            return list(answer.get("Items", []))

        with ThreadPoolExecutor(max_workers=8) as pool:
            found = [item for items in pool.map(shard, range(SHARDS)) for item in items]
        return sorted(found, key=lambda item: int(item[f"{key}sk"]["N"]))[:limit]

    # ---- creating ----------------------------------------------------------------------------
    def create_request(
        self,
        request: ReauthRequest,
        *,
        supersedes: ReauthRequest | None,
        idempotency: tuple[str, str] | None,
        now: datetime,
        outbox: Sequence[OutboxEvent] = (),
        remind_at: datetime | None = None,
    ) -> bool:
        """Store a new pending request as the exchange's one open request, in one transaction:
        the previous open request (`supersedes`, as last read: its status must not have moved)
        becomes superseded, the idempotency record (key hash, request fingerprint) and the
        outbox events (numbered 1, 2 … of the new request) are written. `remind_at`: its first
        message is due then (it enters the reminders index at slot 0).

        Returns False when the request or its idempotency record already exists (a duplicate of a
        request that won); raises ConcurrentChange when the exchange's open request moved, with
        the open request the exchange's record holds (its condition returns the record: no read
        before the write is needed to learn it).
        """
        values: Item = {
            ":rid": {"S": request.id},
            ":now": _t(now),
            ":required": {"S": ExchangeStatus.REAUTH_REQUIRED.value},
            ":eid": {"S": request.exchange_id},
        }
        update = (
            "SET pendingRequestId = :rid, lastRequestId = :rid, #status = :required, "
            "updatedAt = :now, exchangeId = :eid, "
            "reauthRequiredAt = if_not_exists(reauthRequiredAt, :now)"
        )
        if request.customer_id:
            values[":cid"] = {"S": request.customer_id}
            update += ", customerId = :cid"
        if supersedes:
            values[":old"] = {"S": supersedes.id}
            condition = "pendingRequestId = :old"
        else:
            condition = "attribute_not_exists(pendingRequestId)"
        items: list[TransactWriteItemTypeDef] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": _request_item(replace(request, event_seq=len(outbox)), remind_at),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": _exchange_key(request.exchange_id),
                    "UpdateExpression": update,
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": values,
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
        ]
        if supersedes:
            items.append(self._status_item(supersedes, RequestStatus.SUPERSEDED, now))
        items += _outbox_items(self._table, outbox, now, after=0)
        if idempotency:
            key_hash, fingerprint = idempotency
            items.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            **_idempotency_key(key_hash),
                            "requestId": {"S": request.id},
                            "fingerprint": {"S": fingerprint},
                            "ttl": _n(_epoch(now + IDEMPOTENCY_RETENTION)),
                        },
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
        found = self._transact_reasons(items)
        if found is None:
            return True
        reasons = [r.get("Code", "None") for r in found]
        if reasons[0] == "ConditionalCheckFailed" or (
            idempotency and reasons[-1] == "ConditionalCheckFailed"
        ):
            return False
        pending = supersedes.id if supersedes else None
        if reasons[1] == "ConditionalCheckFailed":  # the exchange's record, as the write found it
            pending = _s(found[1].get("Item") or {}, "pendingRequestId")
        raise ConcurrentChange(request.exchange_id, pending_request_id=pending)

    # ---- the browser's journey ---------------------------------------------------------------
    def record_opened(self, request_id: str, now: datetime) -> bool:
        """Note the first time the start page was shown (`openedAt`), while the request can
        start (pending, before its deadline). Only `openedAt` is written: not the status, the
        update time or the event sequence, so an opening changes nothing of the flow. True
        only for the write that recorded it (a second opening keeps the first time)."""
        return self._update(
            request_id,
            update="SET openedAt = if_not_exists(openedAt, :now)",
            condition="attribute_not_exists(openedAt) AND #status = :pending AND expiresAt > :now",
            names={"#status": "status"},
            values={":now": _t(now), ":pending": {"S": RequestStatus.PENDING.value}},
        )

    def start_attempt(
        self,
        request: ReauthRequest,
        binding_hash: str,
        now: datetime,
        render_hash: str | None = None,
    ) -> ReauthRequest | None:
        """Hand the current, never-started attempt of `request` (as just read, consistently) to a
        browser (record its binding). None when the attempt is no longer the current unstarted
        one or the request cannot start.

        The answer is built from the read and the update's own changes, not read back: the
        condition holds what a start depends on as read (the current attempt, unstarted and not
        ended; the request pending, before its deadline and the attempt's), and the rest of that
        attempt and the request's id, deadline and handoff never change once written. What a
        concurrent write may still change (another attempt's end, the last verification, the
        funding source) is not used by a start."""
        attempt_id = request.current_attempt_id
        values: Item = {":r": {"S": render_hash}} if render_hash else {}
        changed = self._update(
            request.id,
            update="SET attempts.#a.startedAt = :now, attempts.#a.bindingHash = :b, "
            + ("attempts.#a.renderHash = :r, " if render_hash else "")
            + "updatedAt = :now",
            condition="currentAttemptId = :a AND attribute_not_exists(attempts.#a.startedAt) "
            "AND attribute_not_exists(attempts.#a.outcome) AND #status = :pending "
            "AND expiresAt > :now AND attempts.#a.expiresAt > :now",
            names={"#a": attempt_id, "#status": "status"},
            values={
                ":a": {"S": attempt_id},
                ":b": {"S": binding_hash},
                ":now": _t(now),
                ":pending": {"S": RequestStatus.PENDING.value},
                **values,
            },
        )
        return _started(request, attempt_id, binding_hash, render_hash, now) if changed else None

    def add_attempt(
        self, request_id: str, attempt: Attempt, previous_count: int, now: datetime
    ) -> ReauthRequest | None:
        """Make `attempt` (already started and bound) the request's current one. None when
        another attempt was added meanwhile, the request cannot start, or it has MAX_ATTEMPTS."""
        if previous_count >= MAX_ATTEMPTS:
            return None
        return self._update_returning(
            request_id,
            update="SET attempts.#a = :attempt, currentAttemptId = :a, attemptCount = :next, "
            "updatedAt = :now",
            condition="attemptCount = :count AND #status = :pending AND expiresAt > :now "
            "AND attribute_not_exists(attempts.#a)",
            names={"#a": attempt.id, "#status": "status"},
            values={
                ":attempt": _attempt_item(attempt),
                ":a": {"S": attempt.id},
                ":count": _n(previous_count),
                ":next": _n(previous_count + 1),
                ":now": _t(now),
                ":pending": {"S": RequestStatus.PENDING.value},
            },
        )

    def end_attempt(
        self,
        request: ReauthRequest,
        attempt_id: str,
        outcome: AttemptOutcome,
        reason: str,
        now: datetime,
        outbox: Sequence[OutboxEvent] = (),
        reported_by: Reporter | None = None,
    ) -> ReauthRequest | None:
        """Record an attempt's end (failed) while the request is open and as read, with its
        events. None when the attempt already ended or the request moved (nothing changed)."""
        if not request.is_open():
            return None
        values: Item = {
            ":outcome": {"S": outcome.value},
            ":reason": {"S": reason},
            ":now": _t(now),
        }
        reporter = ""
        if reported_by is not None:
            values[":by"] = {"S": reported_by.value}
            reporter = "attempts.#a.reportedBy = :by, "
        condition = "attribute_exists(attempts.#a) AND attribute_not_exists(attempts.#a.outcome)"
        update, condition = _sequenced(
            "SET attempts.#a.outcome = :outcome, attempts.#a.endedAt = :now, "
            f"attempts.#a.reason = :reason, {reporter}updatedAt = :now",
            f"{condition} AND {_as_read(request, None, values)}",
            values,
            request,
            len(outbox),
        )
        change = self._request_update(
            request.id,
            update=update,
            condition=condition,
            names={"#a": attempt_id, "#status": "status"},
            values=values,
        )
        items = [change, *_outbox_items(self._table, outbox, now, request.event_seq)]
        if self._transact(items) is not None:
            return None
        return self.get_request(request.id)

    def set_funding_source(self, request_id: str, funding_source_id: str) -> None:
        """Remember a funding source Dwolla links to the exchange: found through it, or the
        request's own checked (so the next check skips the search, or the check)."""
        self._db.update_item(
            TableName=self._table,
            Key=_request_key(request_id),
            UpdateExpression="SET fundingSourceId = :fs, fundingSourceVerified = :yes",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":fs": {"S": funding_source_id}, ":yes": {"BOOL": True}},
        )

    # ---- verification ------------------------------------------------------------------------
    def mark_verifying(
        self, request: ReauthRequest, now: datetime, next_check: datetime
    ) -> ReauthRequest | None:
        """A success was claimed and Dwolla could not be asked: check again at `next_check`.
        An open request becomes `verifying`; a closed one (expired, superseded) keeps its
        status, its claim waiting in the same index. None when the request moved since read."""
        values: Item = {
            ":now": _t(now),
            ":unavailable": {"S": VerificationResult.UNAVAILABLE.value},
            ":next": _t(next_check),
            ":gsi": {"S": shard_key(_VERIFYING, request.id)},
            ":gsisk": _n(_epoch(next_check)),
        }
        update = (
            "SET updatedAt = :now, verifyResult = :unavailable, verifyCheckedAt = :now, "
            "verifyNextAt = :next, gsi1pk = :gsi, gsi1sk = :gsisk"
        )
        target = None
        if request.is_open():  # a second claim while verifying only moves the next check
            target = RequestStatus.VERIFYING
            values[":to"] = {"S": target.value}
            update += ", #status = :to"
        elif request.is_reauthorized():
            return None
        return self._update_returning(
            request.id,
            update=update,
            condition=_as_read(request, None if target is request.status else target, values),
            names={"#status": "status"},
            values=values,
        )

    def note_check(
        self,
        request: ReauthRequest,
        now: datetime,
        result: VerificationResult = VerificationResult.UNAVAILABLE,
    ) -> bool:
        """A check that changes no status, on record: for a pending request, one Dwolla could
        not answer (a repair check), so the next one waits its turn (an outage is not asked
        about on every read and click); for a closed one, its late claim is settled (given up,
        or the exchange's repair was already announced): it leaves the verifying index."""
        if request.status is RequestStatus.VERIFYING or request.is_reauthorized():
            return False
        values: Item = {":now": _t(now), ":result": {"S": result.value}}
        update = "SET verifyResult = :result, verifyCheckedAt = :now REMOVE verifyNextAt"
        if not request.is_open():
            update += ", gsi1pk, gsi1sk"
        return self._update(
            request.id,
            update=update,
            condition=_as_read(request, None, values),
            names={"#status": "status"},
            values=values,
        )

    def mark_not_repaired(
        self,
        request: ReauthRequest,
        attempt_id: str | None,
        now: datetime,
        outbox: Sequence[OutboxEvent] = (),
    ) -> ReauthRequest | None:
        """Dwolla says the exchange is not repaired: the claiming attempt (if still open) ends
        `unverified`, a verifying request goes back to pending (and to the deadline index), a
        closed one's waiting claim is dropped. Only on the status as read: a check started
        before a claim never undoes that claim's `verifying`. None when the request moved."""
        names = {"#status": "status"}
        values: Item = {
            ":now": _t(now),
            ":nr": {"S": VerificationResult.NOT_REPAIRED.value},
        }
        if request.is_open():
            values[":pending"] = {"S": RequestStatus.PENDING.value}
            values[":gsi"] = {"S": shard_key(_PENDING, request.id)}
            values[":deadline"] = _n(_epoch(request.expires_at))
            update = (
                "SET #status = :pending, updatedAt = :now, verifyResult = :nr, "
                "verifyCheckedAt = :now, gsi1pk = :gsi, gsi1sk = :deadline"
            )
            removed = " REMOVE verifyNextAt"
        elif request.is_reauthorized():
            return None
        else:
            update = "SET updatedAt = :now, verifyResult = :nr, verifyCheckedAt = :now"
            removed = " REMOVE verifyNextAt, gsi1pk, gsi1sk"
        attempt = request.attempt(attempt_id) if attempt_id else None
        if attempt is not None and attempt.outcome is None:
            names["#a"] = attempt.id
            values[":unverified"] = {"S": AttemptOutcome.UNVERIFIED.value}
            values[":reason"] = {"S": NOT_REPAIRED}
            update += (
                ", attempts.#a.outcome = :unverified, attempts.#a.endedAt = :now,"
                " attempts.#a.reason = :reason"
            )
        update, condition = _sequenced(
            update, _as_read(request, None, values), values, request, len(outbox)
        )
        change = self._request_update(
            request.id, update=update + removed, condition=condition, names=names, values=values
        )
        items = [change, *_outbox_items(self._table, outbox, now, request.event_seq)]
        if self._transact(items) is not None:
            return None
        return self.get_request(request.id)

    def mark_reauthorized(
        self,
        request: ReauthRequest,
        attempt_id: str | None,
        now: datetime,
        outbox: Sequence[OutboxEvent] = (),
        target: RequestStatus = RequestStatus.REAUTHORIZED,
        newer: ReauthRequest | None = None,
    ) -> bool:
        """Dwolla confirmed: the request becomes reauthorized (its attempt too) and the exchange
        record says so, in one transaction, on the request's status and event sequence as read.
        A closed request (a late confirmation) frees the exchange from `newer`, its open request
        as read (None: it had none), which ends `reauthorized_elsewhere`. False when anything
        moved since read (nothing changed)."""
        values: Item = {
            ":to": {"S": target.value},
            ":now": _t(now),
            ":confirmed": {"S": VerificationResult.CONFIRMED.value},
        }
        names = {"#status": "status"}
        update = (
            "SET #status = :to, updatedAt = :now, reauthorizedAt = :now, "
            "verifyResult = :confirmed, verifyCheckedAt = :now"
        )
        attempt = request.attempt(attempt_id) if attempt_id else None
        removed = f" REMOVE {_CLOSED_REMOVES}"
        if attempt is not None:
            names["#a"] = attempt.id
            values[":ok"] = {"S": AttemptOutcome.REAUTHORIZED.value}
            update += ", attempts.#a.outcome = :ok, attempts.#a.endedAt = :now"
            removed += ", attempts.#a.reason"
        update, condition = _sequenced(
            update, _as_read(request, target, values), values, request, len(outbox)
        )
        items: list[TransactWriteItemTypeDef] = [
            self._request_update(
                request.id, update=update + removed, condition=condition, names=names, values=values
            ),
            self._exchange_reauthorized(request, now, newer),
            *_outbox_items(self._table, outbox, now, request.event_seq),
        ]
        if newer is not None:
            items.append(self._status_item(newer, RequestStatus.REAUTHORIZED_ELSEWHERE, now))
        if request.status in RENEWABLE_STATUSES:  # its kept contact has no use any more
            items.append({"Delete": {"TableName": self._table, "Key": _renewal_key(request.id)}})
        return self._transact(items) is None

    def _exchange_reauthorized(
        self, request: ReauthRequest, now: datetime, newer: ReauthRequest | None
    ) -> TransactWriteItemTypeDef:
        """The exchange record's part of mark_reauthorized: its open request, as read, is the
        request itself, `newer`, or none."""
        values = {
            ":rid": {"S": request.id},
            ":now": _t(now),
            ":reauthorized": {"S": ExchangeStatus.REAUTHORIZED.value},
        }
        if request.is_open():
            condition = "pendingRequestId = :rid"
        elif newer is not None:
            values[":newer"] = {"S": newer.id}
            condition = "pendingRequestId = :newer"
        else:
            condition = "attribute_exists(pk) AND attribute_not_exists(pendingRequestId)"
        return {
            "Update": {
                "TableName": self._table,
                "Key": _exchange_key(request.exchange_id),
                "UpdateExpression": "SET #status = :reauthorized, reauthorizedAt = :now, "
                "updatedAt = :now, lastRequestId = :rid REMOVE pendingRequestId",
                "ConditionExpression": condition,
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": values,
            }
        }

    def expire(
        self,
        request: ReauthRequest,
        now: datetime,
        outbox: Sequence[OutboxEvent] = (),
        *,
        keep_for_renewal: bool = False,
    ) -> bool:
        """Close a request at its deadline (and free its exchange), on its status and event
        sequence as read. False: it moved since read (nothing changed). `keep_for_renewal`:
        its contact (if any) is kept in a RENEWAL# item for "Send me a new link"."""
        status = self._status_item(
            request, RequestStatus.EXPIRED, now, deadline_passed=True, events=len(outbox)
        )
        return self._close(request, status, now, outbox, keep_for_renewal=keep_for_renewal)

    def cancel(
        self,
        request: ReauthRequest,
        now: datetime,
        outbox: Sequence[OutboxEvent] = (),
        *,
        keep_for_renewal: bool = False,
    ) -> bool:
        """End an open request `cancelled` (the platform called it off) and free its exchange,
        on its status and event sequence as read. False: it moved since read (nothing changed)."""
        status = self._status_item(request, RequestStatus.CANCELLED, now, events=len(outbox))
        return self._close(request, status, now, outbox, keep_for_renewal=keep_for_renewal)

    def reject(
        self, request: ReauthRequest, now: datetime, outbox: Sequence[OutboxEvent] = ()
    ) -> bool:
        """End an open request `rejected`: Dwolla does not link its funding source to the
        exchange (verification `not_of_exchange`). Frees its exchange, on its status and event
        sequence as read. False: it moved since read (nothing changed)."""
        status = self._status_item(
            request,
            RequestStatus.REJECTED,
            now,
            events=len(outbox),
            verification=VerificationResult.NOT_OF_EXCHANGE,
        )
        return self._close(request, status, now, outbox)

    def _close(
        self,
        request: ReauthRequest,
        status: TransactWriteItemTypeDef,
        now: datetime,
        outbox: Sequence[OutboxEvent],
        *,
        keep_for_renewal: bool = False,
    ) -> bool:
        """An open request's closing `status` change, its exchange freed and its events, in one
        transaction (with `keep_for_renewal`, its contact kept in a RENEWAL# item). False:
        something moved since read (nothing changed)."""
        items: list[TransactWriteItemTypeDef] = [
            status,
            {
                "Update": {
                    "TableName": self._table,
                    "Key": _exchange_key(request.exchange_id),
                    "UpdateExpression": "SET updatedAt = :now REMOVE pendingRequestId",
                    "ConditionExpression": "pendingRequestId = :rid",
                    "ExpressionAttributeValues": {":rid": {"S": request.id}, ":now": _t(now)},
                }
            },
            *_outbox_items(self._table, outbox, now, request.event_seq),
        ]
        if keep_for_renewal and request.contact is not None:
            kept = _renewal_item(request, request.contact, now)
            items.append({"Put": {"TableName": self._table, "Item": kept}})
        return self._transact(items) is None

    def _status_item(
        self,
        request: ReauthRequest,
        target: RequestStatus,
        now: datetime,
        deadline_passed: bool = False,
        events: int = 0,
        verification: VerificationResult | None = None,
    ) -> TransactWriteItemTypeDef:
        """A status change of `request` as read, in a transaction (with the check that decided
        it, if any). A superseded request whose success claim still waits for Dwolla keeps its
        place in the verifying index."""
        values: Item = {":to": {"S": target.value}, ":now": _t(now)}
        condition = _as_read(request, target, values)
        if deadline_passed:
            condition += " AND expiresAt <= :now"
        # A success claimed before it closed still counts (model.py): its check stays due.
        keep_claim = (
            target in (RequestStatus.SUPERSEDED, RequestStatus.CANCELLED) and request.claim_pending
        )
        update = "SET #status = :to, updatedAt = :now, endedAt = if_not_exists(endedAt, :now)"
        if verification is not None:
            values[":result"] = {"S": verification.value}
            update += ", verifyResult = :result, verifyCheckedAt = :now"
        update, condition = _sequenced(update, condition, values, request, events)
        # Every close silences the messages and forgets the contact; a superseded request whose
        # claim waits for Dwolla keeps only its place in the verifying index.
        update += " REMOVE contact, gsi2pk, gsi2sk, remindSlot"
        if not keep_claim:
            update += ", gsi1pk, gsi1sk, verifyNextAt"
        return {
            "Update": {
                "TableName": self._table,
                "Key": _request_key(request.id),
                "UpdateExpression": update,
                "ConditionExpression": f"attribute_exists(pk) AND ({condition})",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": values,
            }
        }

    # ---- messages ----------------------------------------------------------------------------
    def claim_slot(
        self,
        request_id: str,
        slot: int,
        next_due: datetime | None,
        now: datetime,
        channels: Sequence[Channel] = (),
    ) -> bool:
        """Take message slot `slot` of an open request before sending it on `channels`: one
        conditional write that holds only while the request is open, before its deadline, with
        `slot` due and not taken, and none of `channels` stopped since read; it moves the
        request to the next slot (due `next_due`) or out of the reminders index (None: no slot
        left). False: not this run's to send (taken by another run, closed, not due, or a
        channel stopped meanwhile: the next run reads it again): nothing changed."""
        values: Item = {
            ":slot": _n(slot),
            ":now": _n(_epoch(now)),
            ":pending": {"S": RequestStatus.PENDING.value},
            ":verifying": {"S": RequestStatus.VERIFYING.value},
        }
        open_channels = ""
        for i, channel in enumerate(channels):
            values[f":ch{i}"] = {"S": channel.value}
            open_channels += f" AND NOT contains(stoppedChannels, :ch{i})"
        if next_due is None:
            update = "REMOVE gsi2pk, gsi2sk, remindSlot"
        else:
            values[":next"] = _n(slot + 1)
            values[":due"] = _n(_epoch(next_due))
            update = "SET remindSlot = :next, gsi2sk = :due"
        return self._update(
            request_id,
            update=update,
            condition="#status IN (:pending, :verifying) AND remindSlot = :slot "
            "AND gsi2sk <= :now AND expiresAt > :now" + open_channels,
            names={"#status": "status"},
            values=values,
        )

    def stop_messages(self, request_id: str, slot: int) -> bool:
        """Take a request out of the reminders index (its slot `slot` as read): it is past its
        deadline, not yet closed, or has nothing to send. False: it moved meanwhile."""
        return self._update(
            request_id,
            update="REMOVE gsi2pk, gsi2sk, #slot",
            condition="#slot = :slot",
            names={"#slot": "remindSlot"},
            values={":slot": _n(slot)},
        )

    def record_messages(
        self,
        request: ReauthRequest,
        sent: Sequence[SentMessage],
        now: datetime,
        outbox: Sequence[OutboxEvent],
    ) -> bool:
        """Append what was sent to the request's `messages`, with its events, in one transaction
        on the request's event sequence as read (whatever its status: a message sent before a
        close is still told). False: another writer numbered an event meanwhile (re-read)."""
        values: Item = {
            ":sent": {"L": [_message_item(m) for m in sent]},
            ":none": {"L": []},
        }
        items = self._told(
            request,
            "SET #m = list_append(if_not_exists(#m, :none), :sent)",
            "attribute_exists(pk)",
            {"#m": "messages"},
            values,
            now,
            outbox,
        )
        return self._transact(items) is None

    def _told(
        self,
        request: ReauthRequest,
        update: str,
        condition: str,
        names: dict[str, str],
        values: Item,
        now: datetime,
        outbox: Sequence[OutboxEvent],
    ) -> list[TransactWriteItemTypeDef]:
        """A change of the request, as read, with the events that tell of it: the update
        numbered on its event sequence (_sequenced), then the outbox items."""
        update, condition = _sequenced(update, condition, values, request, len(outbox))
        return [
            self._request_update(
                request.id, update=update, condition=condition, names=names, values=values
            ),
            *_outbox_items(self._table, outbox, now, request.event_seq),
        ]

    # ---- "Send me a new link" (renewal.py) ---------------------------------------------------
    def renewal_requested_at(self, request_id: str) -> datetime | None:
        """When the customer last asked for a new link on this request's page (None: never)."""
        item = self._db.get_item(
            TableName=self._table,
            Key=_request_key(request_id),
            ConsistentRead=True,
            ProjectionExpression="renewalRequestedAt",
        ).get("Item")
        return _when((item or {}).get("renewalRequestedAt"))

    def record_link_requested(
        self,
        request: ReauthRequest,
        now: datetime,
        outbox: Sequence[OutboxEvent],
        *,
        reserve_exchange: bool = False,
    ) -> str:
        """The customer asked for a new link: noted on the request with its events, at most once
        per RENEWAL_EVERY, on its status and event sequence as read; with `reserve_exchange`, the
        exchange's one renewal per RENEWAL_EVERY is reserved in the same transaction (only while
        it still needs re-authentication and has no open request). "recorded"; else nothing
        changed: "exchange" (the reservation was refused), "request" (asked already within
        RENEWAL_EVERY, or the request moved)."""
        values: Item = {":now": _t(now), ":since": _t(now - RENEWAL_EVERY)}
        condition = (
            f"{_as_read(request, None, values)} AND (attribute_not_exists(renewalRequestedAt) "
            "OR renewalRequestedAt <= :since)"
        )
        items = self._told(
            request,
            "SET renewalRequestedAt = :now",
            condition,
            {"#status": "status"},
            values,
            now,
            outbox,
        )
        if reserve_exchange:
            items.insert(1, self._exchange_renewal(request.exchange_id, now))
        reasons = self._transact(items)
        if reasons is None:
            return "recorded"
        return "exchange" if reserve_exchange and reasons[1] != "None" else "request"

    def _exchange_renewal(self, exchange_id: str, now: datetime) -> TransactWriteItemTypeDef:
        """The exchange's renewal reservation: while it still needs re-authentication, has no
        open request and was not renewed within RENEWAL_EVERY."""
        return {
            "Update": {
                "TableName": self._table,
                "Key": _exchange_key(exchange_id),
                "UpdateExpression": "SET renewedAt = :now",
                "ConditionExpression": "#status = :required AND attribute_not_exists("
                "pendingRequestId) AND (attribute_not_exists(renewedAt) OR renewedAt <= :since)",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {
                    ":now": _t(now),
                    ":since": _t(now - RENEWAL_EVERY),
                    ":required": {"S": ExchangeStatus.REAUTH_REQUIRED.value},
                },
            }
        }

    def get_renewal(self, request_id: str) -> Renewal | None:
        """A closed request's kept contact (its RENEWAL# item), if any."""
        item = self._db.get_item(
            TableName=self._table, Key=_renewal_key(request_id), ConsistentRead=True
        ).get("Item")
        contact = _contact_from(dict(item["contact"])) if item and "contact" in item else None
        if item is None or contact is None:
            return None
        return Renewal(
            request_id=item["requestId"]["S"],
            exchange_id=item["exchangeId"]["S"],
            customer_id=_s(item, "customerId"),
            return_url=_s(item, "returnUrl"),
            funding_source_id=_s(item, "fundingSourceId"),
            contact=contact,
        )

    def delete_renewal(self, request_id: str) -> None:
        self._db.delete_item(TableName=self._table, Key=_renewal_key(request_id))

    def stop_channel(
        self,
        request: ReauthRequest,
        channel: Channel,
        now: datetime,
        outbox: Sequence[OutboxEvent],
    ) -> bool:
        """Stop `channel` for an open request (it no longer reaches the customer), with its
        events, in one transaction on the request's event sequence as read. False: the request
        moved since read (closed, the channel already stopped, or another event numbered
        meanwhile: re-read); nothing changed."""
        values: Item = {
            ":channel": {"SS": [channel.value]},
            ":name": {"S": channel.value},
            ":now": _t(now),
            ":pending": {"S": RequestStatus.PENDING.value},
            ":verifying": {"S": RequestStatus.VERIFYING.value},
        }
        items = self._told(
            request,
            "SET updatedAt = :now ADD stoppedChannels :channel",
            "#status IN (:pending, :verifying) AND NOT contains(stoppedChannels, :name)",
            {"#status": "status"},
            values,
            now,
            outbox,
        )
        return self._transact(items) is None

    # ---- webhooks ----------------------------------------------------------------------------
    def record_reauth_required(
        self,
        webhook_id: str,
        exchange_id: str,
        customer_id: str | None,
        created: datetime,
        now: datetime,
        outbox: Sequence[OutboxEvent] = (),
    ) -> str:
        """Dwolla says (at `created`) the exchange needs re-authentication: remember the
        delivery, mark the exchange and write the events, all or nothing, unless a
        re-authorization newer than the news is on record. The events are numbered after the
        exchange's own `eventSeq`, as read. Returns "recorded", "duplicate" (a redelivery) or
        "stale" (older than the exchange's last re-authorization); raises ConcurrentChange when
        another writer numbered an event of the exchange meanwhile (try again)."""
        exchange_event_seq = self._exchange_event_seq(exchange_id)
        values: Item = {
            ":required": {"S": ExchangeStatus.REAUTH_REQUIRED.value},
            ":now": _t(now),
            ":eid": {"S": exchange_id},
            ":created": _t(created),
            ":seqNext": _n(exchange_event_seq + len(outbox)),
        }
        if exchange_event_seq:
            values[":seqRead"] = _n(exchange_event_seq)
            numbered = "eventSeq = :seqRead"
        else:
            numbered = "attribute_not_exists(eventSeq)"
        update = (
            "SET #status = :required, reauthRequiredAt = :now, updatedAt = :now, "
            "exchangeId = :eid, eventSeq = :seqNext"
        )
        if customer_id:
            values[":cid"] = {"S": customer_id}
            update += ", customerId = :cid"
        items: list[TransactWriteItemTypeDef] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        "pk": {"S": f"WEBHOOK#{webhook_id}"},
                        "sk": {"S": "WEBHOOK"},
                        "ttl": _n(_epoch(now + WEBHOOK_RETENTION)),
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": _exchange_key(exchange_id),
                    "UpdateExpression": update,
                    "ConditionExpression": "(attribute_not_exists(reauthorizedAt) "
                    f"OR reauthorizedAt < :created) AND {numbered}",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": values,
                }
            },
            *_outbox_items(self._table, outbox, now, after=exchange_event_seq),
        ]
        reasons = self._transact(items)
        if reasons is None:
            return "recorded"
        if reasons[0] == "ConditionalCheckFailed":
            return "duplicate"
        if reasons[1] == "ConditionalCheckFailed" and (
            self._exchange_event_seq(exchange_id) == exchange_event_seq
        ):
            return "stale"
        raise ConcurrentChange(exchange_id)

    def _exchange_event_seq(self, exchange_id: str) -> int:
        item = self._db.get_item(
            TableName=self._table,
            Key=_exchange_key(exchange_id),
            ConsistentRead=True,
            ProjectionExpression="eventSeq",
        ).get("Item")
        return int(item["eventSeq"]["N"]) if item and "eventSeq" in item else 0

    def get_checkpoint(self) -> tuple[datetime | None, str | None, int]:
        """The catch-up's place in Dwolla's events: the time up to which every event was read
        (`newest`), the catch-up's cursor (its own JSON document; None from a version that kept
        only the time) and the item's version to write it back at (0 when there is none)."""
        item = (
            self._db.get_item(TableName=self._table, Key=_CHECKPOINT_KEY, ConsistentRead=True).get(
                "Item"
            )
            or {}
        )
        version = item.get("version")
        return _when(item.get("newest")), _s(item, "cursor"), int(version["N"]) if version else 0

    def set_checkpoint(self, newest: datetime, cursor: str, version: int) -> bool:
        """Store the catch-up's place if no other run stored one since it was read at `version`;
        False when one did (the caller stops: the other run's cursor stands)."""
        values: Item = {":n": _t(newest), ":c": {"S": cursor}, ":next": _n(version + 1)}
        condition = "attribute_not_exists(#v)"
        if version:
            values[":v"] = _n(version)
            condition = "#v = :v"
        try:
            self._db.update_item(
                TableName=self._table,
                Key=_CHECKPOINT_KEY,
                UpdateExpression="SET newest = :n, #c = :c, #v = :next",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#c": "cursor", "#v": "version"},
                ExpressionAttributeValues=values,
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return False
        return True

    # ---- plumbing ----------------------------------------------------------------------------
    def _update_returning(
        self,
        request_id: str,
        *,
        update: str,
        condition: str,
        names: dict[str, str],
        values: Item,
    ) -> ReauthRequest | None:
        """One conditional update of a request; the request as it now is, or None when the
        condition did not hold (nothing changed)."""
        answer = self._conditional_update(request_id, update, condition, names, values, "ALL_NEW")
        return None if answer is None else _request_from(answer["Attributes"])

    def _update(
        self,
        request_id: str,
        *,
        update: str,
        condition: str,
        names: dict[str, str],
        values: Item,
    ) -> bool:
        """One conditional update of a request, returning nothing; False when the condition
        did not hold (nothing changed)."""
        return self._conditional_update(request_id, update, condition, names, values) is not None

    def _conditional_update(
        self,
        request_id: str,
        update: str,
        condition: str,
        names: dict[str, str],
        values: Item,
        returning: Literal["NONE", "ALL_NEW"] = "NONE",
    ) -> UpdateItemOutputTypeDef | None:
        """The one UpdateItem of a request both helpers above make; None when the condition
        did not hold."""
        try:
            return self._db.update_item(
                TableName=self._table,
                Key=_request_key(request_id),
                UpdateExpression=update,
                ConditionExpression=f"attribute_exists(pk) AND ({condition})",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues=returning,
            )
        except self._db.exceptions.ConditionalCheckFailedException:
            return None

    def _request_update(
        self,
        request_id: str,
        *,
        update: str,
        condition: str,
        names: dict[str, str],
        values: Item,
    ) -> TransactWriteItemTypeDef:
        """One conditional update of a request, as an item of a transaction."""
        return {
            "Update": {
                "TableName": self._table,
                "Key": _request_key(request_id),
                "UpdateExpression": update,
                "ConditionExpression": f"attribute_exists(pk) AND ({condition})",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def _transact(self, items: Sequence[TransactWriteItemTypeDef]) -> list[str] | None:
        """Run a transaction; None on success, else the per-item cancellation reason codes when
        a condition failed. Raises Contention when it was cancelled for any other reason."""
        found = self._transact_reasons(items)
        return None if found is None else [r.get("Code", "None") for r in found]

    def _transact_reasons(
        self, items: Sequence[TransactWriteItemTypeDef]
    ) -> list[dict[str, Any]] | None:
        """As _transact, with the whole reasons (an item asking for ReturnValuesOnCondition-
        CheckFailure gets the item its condition failed on)."""
        try:
            self._db.transact_write_items(TransactItems=items)
        except self._db.exceptions.TransactionCanceledException as exc:
            found: list[dict[str, Any]] = cast(Any, exc.response).get("CancellationReasons") or []
            reasons = [r.get("Code", "None") for r in found]
            if "ConditionalCheckFailed" not in reasons or _CONTENTION.intersection(reasons):
                raise Contention(",".join(reasons) or "unknown") from None
            return found
        return None


def _outbox_items(
    table: str, outbox: Sequence[OutboxEvent], now: datetime, after: int
) -> list[TransactWriteItemTypeDef]:
    """The outbox's Puts, numbered after the `after`-th event of their request (or exchange)."""
    return [event.item(table, now, after + i) for i, event in enumerate(outbox, 1)]
