"""Dwolla's webhooks as the service receives them: the body, its signature, the event."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import datetime

from reauth.model import iso, utcnow
from tests.support.apigw import rest_event
from tests.support.constants import WEBHOOK_SECRET

SIGNATURE_HEADER = "X-Request-Signature-SHA-256"


def sign(raw: str | bytes, secret: str = WEBHOOK_SECRET) -> str:
    """Dwolla's signature: hex HMAC-SHA256 of the raw body under the webhook secret."""
    body = raw.encode() if isinstance(raw, str) else raw
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def reauth_required(exchange_id: str, created: datetime | None = None) -> str:
    """The raw body of a `customer_exchange_reauth_required` webhook about `exchange_id`."""
    return json.dumps(
        {
            "id": str(uuid.uuid4()),
            "topic": "customer_exchange_reauth_required",
            "created": iso(created or utcnow()),
            "_links": {"resource": {"href": f"https://api.dwolla.com/exchanges/{exchange_id}"}},
        }
    )


def webhook_event(
    raw: str,
    secret: str = WEBHOOK_SECRET,
    signature: str | None = None,
    topic: str | None = None,
) -> dict:
    """POST /webhooks/dwolla as API Gateway delivers it, signed with `secret` unless told."""
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature or sign(raw, secret)}
    if topic is not None:
        headers["X-Dwolla-Topic"] = topic
    return rest_event("POST", "/webhooks/dwolla", body=raw, headers=headers)
