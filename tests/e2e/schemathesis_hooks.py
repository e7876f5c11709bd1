"""Schemathesis hooks for tests/e2e/test_openapi_schemathesis.py (loaded with SCHEMATHESIS_HOOKS).

Dwolla's webhooks are signed over the body's exact bytes: a request whose generated signature
header is well formed gets the real signature (the local stack's webhook secret, from
REAUTH_WEBHOOK_SECRET), so the generated bodies reach the webhook's parsing and recording
instead of all stopping at 401. A missing or malformed header (the negative cases) is left as
generated, and must still be refused.

A create's `fundingSourceId` must be one Dwolla links to the exchange: a generated UUID never
is, and is refused with `400 FundingSourceNotOfExchange` (a business answer, tested in the
handler and integration tiers). So a generated one becomes the exchange's own (for the stack's
well-known exchanges, REAUTH_FUNDING_SOURCES, with their customer for a well-formed customerId),
or is left out: either way the case stays as valid, or as invalid, as it was generated.

A contact's `timeZone` must be a zone the runtime's database knows (`America/Chicago`); a
pattern can only say what such a name looks like, and a generated name of that form is almost
never a real zone (`400 InvalidContact`, tested in the handler tier). So a generated one of the
documented form becomes a real zone; one of another form is left, and must still be refused.
Likewise its `firstName` must be printable without `<` or `>` (the document says so; a pattern
cannot say "printable": a generated unassigned or private-use code point is not): one of the
schema's length with a non-space becomes a printable name; any other is left, and refused.

The cancel route's example (REAUTH_CANCEL_EXAMPLE, a placeholder id) becomes a request made
just before the call (an MX one, through the API at REAUTH_API_URL): cancelling the document's
shared example request would close the link every browser route's example uses, and a request
made ahead of the run is superseded by the create route's examples first. So the example checks
the 200 (cancelled), generated ids the 404.

`sam local start-api` cannot pass a body that is not UTF-8 (under a text content type) to a
function: it answers its own 502 `{"message": "Internal server error"}` and the function never
runs. API Gateway hands the function such a body as text (and its signature, or its JSON, then
fails). That one answer of SAM CLI's, to that one kind of request, is not held against the
document; a function that fails on a UTF-8 body still is.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import MutableMapping

import schemathesis
from schemathesis.core import NotSet

SIGNATURE = "X-Request-Signature-SHA-256"
SAM_LOCAL_502 = {"message": "Internal server error"}
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


CREATE = "/exchanges/{exchangeId}/reauth-sessions"
# docs/openapi.yaml's Contact.timeZone pattern (and maxLength).
_TIME_ZONE = re.compile(r"\s*[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}\s*")
CANCEL = "/reauth-sessions/{sessionId}/cancel"
MX_EXCHANGE = "036c8a60-fa45-45d4-8f5d-181d348c6ec8"  # local.stack.EXCHANGES["mx"]
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@schemathesis.hook
def before_call(context, case, kwargs) -> None:
    if case.operation.path == CREATE and case.method.upper() == "POST":
        _the_exchanges_own_funding_source(case)
        _a_real_time_zone(case)
        _a_printable_first_name(case)
    if case.operation.path == CANCEL and case.method.upper() == "POST":
        _a_fresh_request_to_cancel(case)
    secret = os.environ.get("REAUTH_WEBHOOK_SECRET")
    if not secret or case.operation.path != "/webhooks/dwolla" or case.method.upper() != "POST":
        return
    headers = case.headers if isinstance(case.headers, MutableMapping) else None
    presented = headers.get(SIGNATURE) if headers else None
    if not isinstance(presented, str) or not _HEX64.fullmatch(presented):
        return
    raw = _wire_bytes(case.body)
    if raw is None:
        return
    headers[SIGNATURE] = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def _a_real_time_zone(case) -> None:
    """A generated contact.timeZone of the documented form: a zone that exists."""
    contact = case.body.get("contact") if isinstance(case.body, dict) else None
    zone = contact.get("timeZone") if isinstance(contact, dict) else None
    if isinstance(zone, str) and len(zone) <= 64 and _TIME_ZONE.fullmatch(zone):
        contact["timeZone"] = "America/Chicago"


def _a_printable_first_name(case) -> None:
    """A generated contact.firstName of the schema's form (1-60 characters, not all spaces): a
    printable one, as the document describes it."""
    contact = case.body.get("contact") if isinstance(case.body, dict) else None
    name = contact.get("firstName") if isinstance(contact, dict) else None
    if isinstance(name, str) and 1 <= len(name) <= 60 and name.strip():
        printable = all(c.isprintable() and c not in "<>" for c in name.strip())
        if not printable:
            contact["firstName"] = "Ada"


def _the_exchanges_own_funding_source(case) -> None:
    """A generated well-formed fundingSourceId: the exchange's own, or none."""
    body = case.body
    if not isinstance(body, dict) or not isinstance(body.get("fundingSourceId"), str):
        return
    if not _UUID.fullmatch(body["fundingSourceId"]):
        return  # malformed: must still be refused as InvalidFundingSourceId
    own = json.loads(os.environ.get("REAUTH_FUNDING_SOURCES", "{}"))
    exchange = str((case.path_parameters or {}).get("exchangeId", "")).lower()
    if exchange not in own:
        del body["fundingSourceId"]
        return
    body["fundingSourceId"], customer = own[exchange]
    if isinstance(body.get("customerId"), str) and _UUID.fullmatch(body["customerId"]):
        body["customerId"] = customer  # the source's customer must be the one named


def _a_fresh_request_to_cancel(case) -> None:
    """The cancel example's placeholder id: a request made now, still open."""
    placeholder, api_url = os.environ.get("REAUTH_CANCEL_EXAMPLE"), os.environ.get("REAUTH_API_URL")
    parameters = case.path_parameters
    if not placeholder or not api_url or not isinstance(parameters, MutableMapping):
        return
    if str(parameters.get("sessionId", "")).lower() != placeholder:
        return
    import requests

    answer = requests.post(
        f"{api_url}/exchanges/{MX_EXCHANGE}/reauth-sessions", json={}, timeout=60
    )
    answer.raise_for_status()
    parameters["sessionId"] = answer.json()["id"]


def _wire_bytes(body: object) -> bytes | None:
    """The body's bytes as schemathesis sends them under application/json (requests'
    `json=`: json.dumps, UTF-8); the body itself is left alone, so what the case claims to be
    (valid or not) stays what it is."""
    if isinstance(body, NotSet):
        return b""
    if isinstance(body, bytes):
        return body
    if body is None:
        return b"null"
    try:
        return json.dumps(body, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError):
        return None


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    """Keep every failure but SAM CLI's own 502 for a body it could not decode."""
    body = response.request.body
    if response.status_code != 502 or not isinstance(body, bytes):
        return True
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return json.loads(response.content) != SAM_LOCAL_502
        except ValueError:
            return True
    return True
