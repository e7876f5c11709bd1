"""The event contract's two generated copies, made from the schemas in docs/events/:

    docs/events/*.schema.json           what the service publishes (one per detail-type)
    docs/events/consumed/*.schema.json  what it listens for ("Exchange Reauth Requested",
                                        "Dwolla UpdateCredentials")
        ──▶ template.yaml   the EventBridge schema registry: one AWS::EventSchemas::Schema per
                            detail-type, its Content the schema file (between the BEGIN/END
                            marker lines)
        ──▶ docs/events.md  the events reference page

Edit a schema, then run `make event-schemas` (python -m local.event_schemas) to write both;
`python -m local.event_schemas --check` (and tests/unit/test_event_contract.py) fails when either
copy differs from what the schemas make.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS_DIR = ROOT / "docs" / "events"
CONSUMED_DIR = SCHEMAS_DIR / "consumed"
TEMPLATE = ROOT / "template.yaml"
REFERENCE = ROOT / "docs" / "events.md"
BEGIN = "  # BEGIN event schemas: generated from docs/events/ by `make event-schemas`; do not edit"
END = "  # END event schemas"
REGENERATE = "run `make event-schemas` (python -m local.event_schemas) and commit the result"


@dataclass(frozen=True)
class EventSchema:
    slug: str  # the file's name without .schema.json: the registry's schema name
    text: str  # the file, as it is: the registry's Content
    consumed: bool

    @property
    def schema(self) -> dict:
        return dict(json.loads(self.text))

    @property
    def detail_type(self) -> str:
        return str(self.schema["title"])

    @property
    def resource_name(self) -> str:
        """The template's logical id: "Reauth Session Created" -> ReauthSessionCreatedSchema."""
        return re.sub(r"[^A-Za-z0-9]", "", self.detail_type.title()) + "Schema"


def load() -> list[EventSchema]:
    """Every schema: the published ones (by file name), then the consumed ones."""
    return [
        EventSchema(path.name.removesuffix(".schema.json"), path.read_text(), consumed)
        for folder, consumed in ((SCHEMAS_DIR, False), (CONSUMED_DIR, True))
        for path in sorted(folder.glob("*.schema.json"))
    ]


# --- template.yaml ---------------------------------------------------------------------------


def template_block(schemas: list[EventSchema]) -> str:
    """The registry and its schemas, as the lines between (and including) the markers."""
    lines = [
        BEGIN,
        "  EventSchemaRegistry:  # consumers download code bindings from here (docs/events.md)",
        "    Type: AWS::EventSchemas::Registry",
        "    Properties:",
        '      RegistryName: !Sub "${AWS::StackName}-events"',
        "      Description: The dwolla-reauth service's events (published and consumed).",
    ]
    for item in schemas:
        direction = "consumed" if item.consumed else "published"
        lines += [
            f"  {item.resource_name}:",
            "    Type: AWS::EventSchemas::Schema",
            "    Properties:",
            "      RegistryName: !GetAtt EventSchemaRegistry.RegistryName",
            f"      SchemaName: {item.slug}",
            "      Type: JSONSchemaDraft4",
            f'      Description: "{direction}: detail of {item.detail_type}"',
            "      Content: |",
            *(f"        {line}" for line in item.text.splitlines()),
        ]
    return "\n".join([*lines, END]) + "\n"


def template_with(template: str, block: str) -> str:
    """The template with its generated block replaced by `block`."""
    start, end = template.index(BEGIN), template.index(END)
    return template[:start] + block + template[template.index("\n", end) + 1 :]


def template_block_in(template: str) -> str:
    start, end = template.index(BEGIN), template.index(END)
    return template[start : template.index("\n", end) + 1]


# --- docs/events.md --------------------------------------------------------------------------

_INTRO = """\
# Events

<!-- Generated from docs/events/*.schema.json by `make event-schemas`: do not edit by hand. -->

The service tells the platform what happens on its own EventBridge bus (stack output
`EventBusName`), with source `dwolla-reauth` (parameter `EventSource`); the platform asks for a
re-authentication on the same bus. Every detail-type below has a JSON Schema (draft-04) in
[`docs/events/`](events/), and the stack publishes them all in an EventBridge schema registry
(stack output `EventSchemaRegistryName`, one schema per detail-type, named as its file).

## The contract

- **At least once.** A state change and its event are written in one DynamoDB transaction (the
  outbox); the relay puts it on the bus after the commit and retries until it is delivered (for
  up to 6 hours, then it is dead-lettered and can be re-driven with `make redrive`). An event can
  arrive twice: **dedupe on `eventId`**, which a redelivery or a re-drive keeps.
- **Order by `sequence`, never by arrival.** `sequence` is 1, 2, 3 … per request (per exchange
  for `Exchange Reauth Required`), without gaps, written in the same transaction as the change it
  tells of. Neither EventBridge nor SQS keeps order, and a throttled entry is re-sent after later
  ones, so `Exchange Reauthorized` (sequence 3) may arrive before the `Reauth Attempt Failed`
  (sequence 2) it follows. Keep the highest `sequence` applied per `sessionId` and ignore what is
  at or below it.
- **`occurredAt`** is the change's time (ISO 8601, UTC, milliseconds). DynamoDB is the truth:
  the status routes answer from it.
- **No secrets.** Events never carry Dwolla credentials, access tokens, Plaid tokens, cookies,
  provider URLs or the customer's address; the start link (`startUrl` of `Reauth Session
  Created`) is the one secret they carry, by design: it is what the platform sends the customer.
- **Exactly these fields.** A published schema lists every field (`additionalProperties: false`);
  the tests check every event they see against its schema, so a field cannot be added, renamed
  or dropped without its schema and this page changing with it.

## Code bindings

The registry serves each schema's code binding (Python, TypeScript, Java, Go) for the event's
`detail`:

```sh
REGISTRY=$(aws cloudformation describe-stacks --stack-name <stack> \\
  --query "Stacks[0].Outputs[?OutputKey=='EventSchemaRegistryName'].OutputValue" --output text)
aws schemas put-code-binding --registry-name "$REGISTRY" \\
  --schema-name reauth-session-created --language Python36
aws schemas get-code-binding-source --registry-name "$REGISTRY" \\
  --schema-name reauth-session-created --language Python36 bindings.zip
```

`--language` is one of `Python36`, `TypeScript3`, `Java8`, `Go1`. The schema files themselves
work with any JSON Schema tool (e.g. `datamodel-code-generator`, `quicktype`).

"""


def reference_page(schemas: list[EventSchema]) -> str:
    """docs/events.md, from the schemas."""
    published = [s for s in schemas if not s.consumed]
    consumed = [s for s in schemas if s.consumed]
    parts = [_INTRO, "## Published\n\n", _index(published)]
    parts += [_section(item) for item in published]
    parts += [
        _CONSUMED,
        _index(consumed),
    ]
    parts += [_section(item) for item in consumed]
    return "".join(parts).rstrip("\n") + "\n"


_CONSUMED = """\
## Consumed

The platform puts these on the service's bus with any source but the service's own;
`ApiFunction` handles them, deduplicated on the EventBridge event id. The service also listens
to SES's `Email Bounced` and `Email Complained` on the account's default bus (when email is on)
and to its own `Reauth Link Requested` with `selfService: true` (the self-service renewal).

"""


def _index(items: list[EventSchema]) -> str:
    rows = [f"| [`{s.detail_type}`](#{_anchor(s.detail_type)}) | `{s.slug}` |" for s in items]
    return "\n".join(["| detail-type | schema |", "|---|---|", *rows]) + "\n\n"


def _anchor(title: str) -> str:
    return re.sub(r"[^a-z0-9 -]", "", title.lower()).replace(" ", "-")


def _section(item: EventSchema) -> str:
    schema = item.schema
    lines = [
        f"### {item.detail_type}",
        "",
        str(schema.get("description", "")),
        "",
        f"Schema: [`docs/events/{'consumed/' if item.consumed else ''}{item.slug}.schema.json`]"
        f"(events/{'consumed/' if item.consumed else ''}{item.slug}.schema.json), "
        f"registry name `{item.slug}`.",
        "",
        "| field | type | required | description |",
        "|---|---|---|---|",
        *_field_rows(schema),
        "",
    ]
    for example in schema.get("examples", []):
        lines += ["```json", json.dumps(example, indent=2, ensure_ascii=False), "```", ""]
    return "\n".join(lines) + "\n"


def _field_rows(schema: dict, prefix: str = "") -> list[str]:
    required = set(schema.get("required", []))
    rows = []
    for name, prop in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        must = "yes" if name in required else "no"
        description = str(prop.get("description", "")).replace("|", "\\|")
        rows.append(f"| `{path}` | {_type_of(prop)} | {must} | {description} |")
        if prop.get("type") == "object":
            rows += _field_rows(prop, prefix=f"{path}.")
    return rows


def _type_of(prop: dict) -> str:
    if "enum" in prop:
        return " \\| ".join("null" if v is None else f"`{json.dumps(v)}`" for v in prop["enum"])
    kinds = prop.get("type", "any")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    shown = " \\| ".join(kinds)
    if "format" in prop:
        shown += f" ({prop['format']})"
    elif "{4}-[0-9a-f" in prop.get("pattern", "").replace("A-F", "") and "{12}$" in prop["pattern"]:
        shown += " (uuid)"
    return shown


# --- the command -----------------------------------------------------------------------------


def stale() -> list[str]:
    """The generated copies that differ from what the schemas make (none: all up to date)."""
    schemas = load()
    template = TEMPLATE.read_text()
    found = []
    if template_block_in(template) != template_block(schemas):
        found.append(str(TEMPLATE.relative_to(ROOT)))
    if not REFERENCE.exists() or REFERENCE.read_text() != reference_page(schemas):
        found.append(str(REFERENCE.relative_to(ROOT)))
    return found


def main(argv: list[str]) -> int:
    if "--check" in argv:
        differ = stale()
        for path in differ:
            print(f"{path} differs from docs/events/*.schema.json: {REGENERATE}", file=sys.stderr)
        return 1 if differ else 0
    schemas = load()
    TEMPLATE.write_text(template_with(TEMPLATE.read_text(), template_block(schemas)))
    REFERENCE.write_text(reference_page(schemas))
    print(f"wrote {TEMPLATE.relative_to(ROOT)} (event schemas) and {REFERENCE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
