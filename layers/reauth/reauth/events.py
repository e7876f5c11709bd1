"""The EventBridge adapter: what the service tells the platform.

Source: the EVENT_SOURCE setting ("dwolla-reauth" by default). Detail types are the names below.
Details carry ids, statuses and times, and for a created request its start link; never a Dwolla
credential, access token, Plaid token, binding cookie or provider URL.
"""

from __future__ import annotations

import json
import logging

SESSION_CREATED = "Reauth Session Created"
EXCHANGE_REAUTHORIZED = "Exchange Reauthorized"
ATTEMPT_FAILED = "Reauth Attempt Failed"
SESSION_EXPIRED = "Reauth Session Expired"
EXCHANGE_REAUTH_REQUIRED = "Exchange Reauth Required"

# What the service listens for (the EventBridge rule in template.yaml matches these).
REAUTH_REQUESTED = "Exchange Reauth Requested"
DWOLLA_UPDATE_CREDENTIALS = "Dwolla UpdateCredentials"

logger = logging.getLogger(__name__)


class EventPublishError(RuntimeError):
    pass


class EventPublisher:
    def __init__(self, client, bus_name: str, source: str) -> None:
        self._events = client
        self._bus = bus_name
        self._source = source

    def publish(self, detail_type: str, detail: dict) -> None:
        answer = self._events.put_events(
            Entries=[
                {
                    "EventBusName": self._bus,
                    "Source": self._source,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail, separators=(",", ":")),
                }
            ]
        )
        if answer.get("FailedEntryCount"):
            entry = (answer.get("Entries") or [{}])[0]
            raise EventPublishError(
                f"EventBridge refused {detail_type!r}: {entry.get('ErrorCode', 'unknown')}"
            )
