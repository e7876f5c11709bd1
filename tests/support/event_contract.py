"""The event contract: docs/events/<detail-type>.schema.json (JSON Schema draft-04, what the
EventBridge schema registry takes), one per detail-type the service publishes, and
docs/events/consumed/ for the two it listens for. Every event a test reads off the bus (the
`published` fixtures) is checked against its schema: a field the code adds without its schema, or
a schema field the code stops sending, fails the test that saw it."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from jsonschema import Draft4Validator

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "docs" / "events"
CONSUMED_DIR = SCHEMAS_DIR / "consumed"


@cache
def schemas(folder: Path = SCHEMAS_DIR) -> dict[str, dict]:
    """detail-type -> its schema (the schema's `title` is the detail-type): the published ones,
    or those in `folder`."""
    found = {}
    for path in sorted(folder.glob("*.schema.json")):
        schema = json.loads(path.read_text())
        Draft4Validator.check_schema(schema)
        found[schema["title"]] = schema
    return found


def violations(detail_type: str, detail: object) -> list[str]:
    """What is wrong with this event's detail against the contract (nothing: it conforms)."""
    schema = schemas().get(detail_type) or schemas(CONSUMED_DIR).get(detail_type)
    if schema is None:
        return [f"no schema for detail-type {detail_type!r} in {SCHEMAS_DIR}"]
    errors = Draft4Validator(schema).iter_errors(detail)
    return [
        f"{detail_type}: {'/'.join(map(str, e.path)) or '(detail)'}: {e.message}" for e in errors
    ]


def assert_conforms(events: list[dict], source: str = "dwolla-reauth") -> list[dict]:
    """Every one of the service's events (by `source`) conforms to its schema; returns them."""
    problems = [
        problem
        for event in events
        if event.get("source") == source
        for problem in violations(event["detail-type"], event["detail"])
    ]
    assert not problems, "events off the contract:\n" + "\n".join(problems)
    return events
