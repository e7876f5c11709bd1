"""The event contract (docs/events/) and the code's detail-types cannot drift apart, and the
check the `published` fixtures run can fail."""

from __future__ import annotations

from reauth import events
from tests.support.event_contract import assert_conforms, schemas, violations

CONSUMED = {events.REAUTH_REQUESTED, events.DWOLLA_UPDATE_CREDENTIALS}
PUBLISHED = {
    value
    for name, value in vars(events).items()
    if name.isupper() and isinstance(value, str) and " " in value and value not in CONSUMED
}
SENT = {
    "sessionId": "0b7e2f52-5d0c-4c4e-9a39-0d6f8d8f1c11",
    "exchangeId": "036c8a60-fa45-45d4-8f5d-181d348c6ec8",
    "customerId": "74a207b2-b7b7-4efa-8bf8-582148e7b980",
    "channel": "email",
    "slot": 0,
    "eventId": "e-1",
    "sequence": 2,
    "occurredAt": "2026-01-02T03:04:05.678Z",
}


def test_every_detail_type_the_service_publishes_has_a_schema_and_no_schema_is_left_over():
    assert set(schemas()) == PUBLISHED


def test_an_event_as_the_code_sends_it_conforms():
    assert violations(events.LINK_SENT, SENT) == []
    assert_conforms([{"source": "dwolla-reauth", "detail-type": events.LINK_SENT, "detail": SENT}])


def test_a_field_added_without_its_schema_or_a_field_dropped_is_off_the_contract():
    added = violations(events.LINK_SENT, {**SENT, "address": "ada@example.com"})
    dropped = violations(events.LINK_SENT, {k: v for k, v in SENT.items() if k != "slot"})
    unknown = violations("Reauth Something New", SENT)

    assert added == ["Reauth Link Sent: (detail): Additional properties are not allowed "
                     "('address' was unexpected)"]  # fmt: skip
    assert dropped == ["Reauth Link Sent: (detail): 'slot' is a required property"]
    assert unknown and "no schema" in unknown[0]
