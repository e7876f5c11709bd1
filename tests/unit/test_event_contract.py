"""The event contract (docs/events/) and the code's detail-types cannot drift apart, and the
check the `published` fixtures run can fail."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from local import event_schemas
from local.provision import load_template
from reauth import events
from reauth.creating import Creating
from reauth.errors import ServiceError
from tests.support.event_contract import CONSUMED_DIR, assert_conforms, schemas, violations

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


# --- the consumed events, the examples, and the generated copies (registry, reference page) ---

ROOT = Path(__file__).resolve().parents[2]
E = "036c8a60-fa45-45d4-8f5d-181d348c6ec8"
HREF = f"https://api.dwolla.com/exchanges/{E}/exchange-sessions"
ALLOWED_RETURN_URL = "https://app.acme-pay.example/done"
ASKED, DWOLLA = events.REAUTH_REQUESTED, events.DWOLLA_UPDATE_CREDENTIALS


class _ReachedStorage(Exception):
    """The parser took the event and went on to its first read (the idempotency record)."""


def _parse(detail_type: str, detail: object) -> str:
    """The code's parser for a consumed event, up to its first I/O: the refusal's code, or
    "accepted" when it got as far as DynamoDB."""
    repo = SimpleNamespace(get_idempotency=lambda key: (_ for _ in ()).throw(_ReachedStorage()))
    settings = SimpleNamespace(return_url_allowlist=(ALLOWED_RETURN_URL,))
    creating = Creating(SimpleNamespace(settings=settings, repo=repo), delivery=object())
    try:
        creating.from_event(detail_type, detail, "6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c01")
    except ServiceError as error:
        return error.code
    except _ReachedStorage:
        return "accepted"
    raise AssertionError("the parser neither refused nor read")


def test_the_consumed_detail_types_have_schemas_and_their_example_files_conform():
    consumed = schemas(CONSUMED_DIR)
    examples = [json.loads(p.read_text()) for p in sorted((ROOT / "events").glob("eventbridge-*"))]
    checked = [e["detail-type"] for e in examples if e["detail-type"] in consumed | schemas()]

    assert set(consumed) == CONSUMED
    assert set(checked) >= CONSUMED  # events/ has an example for each entry point
    assert [violations(e["detail-type"], e["detail"]) for e in examples if e["detail-type"] in
            checked] == [[]] * len(checked)  # fmt: skip
    for detail_type, schema in consumed.items():
        assert [_parse(detail_type, example) for example in schema["examples"]] == ["accepted"]


@pytest.mark.parametrize(
    ("detail_type", "detail", "code"),
    [
        (ASKED, {}, "InvalidExchangeId"),
        (ASKED, {"exchangeId": "nope"}, "InvalidExchangeId"),
        (ASKED, {"exchangeId": E, "customerId": "c-1"}, "InvalidCustomerId"),
        (ASKED, {"exchangeId": E, "fundingSourceId": 7}, "InvalidFundingSourceId"),
        (ASKED, {"exchangeId": E, "returnUrl": "https://a b"}, "ReturnUrlNotAllowed"),
        (ASKED, {"exchangeId": E, "contact": {"firstName": "Ada"}}, "InvalidContact"),
        (ASKED, {"exchangeId": E, "contact": {"phone": "555"}}, "InvalidContact"),
        (ASKED, {"exchangeId": E, "contact": {"email": "a@b.co", "fax": "1"}}, "InvalidContact"),
        (ASKED, {"exchangeId": E, "locale": "x"}, "InvalidLocale"),
        (DWOLLA, {"code": "Other", "_links": {"about": {"href": HREF}}}, "InvalidRequest"),
        (DWOLLA, {"code": "UpdateCredentials", "_links": {}}, "InvalidRequest"),
        (DWOLLA, {"code": "UpdateCredentials", "_links": {"about": {"href": f"{HREF}/../x"}}},
         "InvalidRequest"),
    ],
)  # fmt: skip
def test_what_a_consumed_schema_refuses_the_parser_refuses_before_any_io(detail_type, detail, code):
    assert violations(detail_type, detail) != []
    assert _parse(detail_type, detail) == code


def test_every_schema_field_is_described_and_every_example_conforms():
    for schema in [*schemas().values(), *schemas(CONSUMED_DIR).values()]:
        assert _undescribed(schema) == [], schema["title"]
        assert schema["examples"], schema["title"]
        assert [violations(schema["title"], e) for e in schema["examples"]] == [[]]


def _undescribed(schema: dict, prefix: str = "") -> list[str]:
    return [
        missing
        for name, prop in schema.get("properties", {}).items()
        for missing in ([] if prop.get("description") else [prefix + name])
        + _undescribed(prop, f"{prefix}{name}.")
    ]


def test_the_template_registry_and_docs_events_md_are_what_the_schemas_make():
    registered = {
        r["Properties"]["SchemaName"]
        for r in load_template()["Resources"].values()
        if r["Type"] == "AWS::EventSchemas::Schema"
    }

    assert event_schemas.stale() == [], event_schemas.REGENERATE
    assert registered == {s.slug for s in event_schemas.load()}
    assert len(registered) == len(schemas()) + len(CONSUMED)


def test_a_schema_changed_without_regenerating_fails_the_check():
    current = event_schemas.load()
    sent = current[0].schema
    sent["properties"]["address"] = {"description": "added without regenerating", "type": "string"}
    edited = [replace(current[0], text=json.dumps(sent, indent=2) + "\n"), *current[1:]]
    template = event_schemas.template_with(  # the template as generated from the files
        (ROOT / "template.yaml").read_text(), event_schemas.template_block(current)
    )

    assert event_schemas.template_block_in(template) == event_schemas.template_block(current)
    assert event_schemas.template_block_in(template) != event_schemas.template_block(edited)
    assert "`address`" in event_schemas.reference_page(edited)
    assert "`address`" not in event_schemas.reference_page(current)
