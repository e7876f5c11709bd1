"""The EventBridge adapter: what the service tells the platform.

Source: the EVENT_SOURCE setting ("dwolla-reauth" by default). Detail types are the names below.
Details carry ids, statuses and times, and for a created request its start link; never a Dwolla
credential, access token, Plaid token, binding cookie or provider URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the stubs are a development dependency; the layer ships no boto3 types
    from mypy_boto3_events import EventBridgeClient

SESSION_CREATED = "Reauth Session Created"
EXCHANGE_REAUTHORIZED = "Exchange Reauthorized"
ATTEMPT_FAILED = "Reauth Attempt Failed"
SESSION_EXPIRED = "Reauth Session Expired"
SESSION_REJECTED = "Reauth Session Rejected"  # its funding source is not the exchange's
EXCHANGE_REAUTH_REQUIRED = "Exchange Reauth Required"
LINK_SENT = "Reauth Link Sent"  # channel, slot: never the address
DELIVERY_FAILED = "Reauth Delivery Failed"  # channel, slot, reason (a code)
REQUEST_CANCELLED = "Reauth Request Cancelled"  # the platform's POST /reauth-sessions/{id}/cancel
LINK_REQUESTED = "Reauth Link Requested"  # "Send me a new link" on an expired or cancelled link

# What the service listens for (the EventBridge rule in template.yaml matches these).
REAUTH_REQUESTED = "Exchange Reauth Requested"
DWOLLA_UPDATE_CREDENTIALS = "Dwolla UpdateCredentials"


@dataclass(frozen=True)
class Refused:
    """An entry EventBridge did not take: its position in the batch, the error code, and
    whether trying again can help (throttling and internal failures can; a malformed entry
    cannot)."""

    index: int
    code: str
    retryable: bool


# PutEvents' per-entry error codes that a later attempt can get past.
RETRYABLE = frozenset({"ThrottlingException", "InternalFailure", "InternalException"})
MAX_BATCH = 10  # PutEvents takes at most 10 entries


class EventPublisher:
    def __init__(self, client: EventBridgeClient, bus_name: str, source: str) -> None:
        self._events = client
        self._bus = bus_name
        self._source = source

    def publish_batch(self, events: list[tuple[str, str]]) -> list[Refused]:
        """Put up to MAX_BATCH (detail-type, detail JSON) events on the bus, in order. Returns
        the entries EventBridge refused (none: all delivered). A call that fails outright
        (the bus missing, throttled, a network fault) raises."""
        if len(events) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} events per PutEvents")
        answer = self._events.put_events(
            Entries=[
                {
                    "EventBusName": self._bus,
                    "Source": self._source,
                    "DetailType": detail_type,
                    "Detail": detail,
                }
                for detail_type, detail in events
            ]
        )
        if not answer.get("FailedEntryCount"):
            return []
        return [
            Refused(i, entry["ErrorCode"], entry["ErrorCode"] in RETRYABLE)
            for i, entry in enumerate(answer.get("Entries") or [])
            if entry.get("ErrorCode")
        ]
