"""docs/openapi.yaml is the API's contract: valid OpenAPI, the routes template.yaml deploys (no
more, no fewer), SigV4 exactly on the IAM routes, and the error codes of reauth.errors with
their statuses. (tests/e2e/test_openapi_schemathesis.py holds the running functions to it.)"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate

from local.provision import load_template
from reauth.errors import ErrorCode, ServiceError
from reauth.model import (
    NOT_REPAIRED,
    PROVIDER_ERRORS,
    Attempt,
    AttemptOutcome,
    ExchangeRecord,
    ExchangeStatus,
    HandoffType,
    ReauthRequest,
    RequestStatus,
    Verification,
    VerificationResult,
)
from reauth.web import error_response, public_exchange, public_request

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "openapi.yaml"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# API Gateway's catch-all answers (template.yaml's GatewayResponses DEFAULT_4XX / DEFAULT_5XX)
# carry one code whatever the status; every other code has exactly its table's status.
CATCH_ALL = {"RequestRefused": range(400, 500), "InternalError": range(500, 600)}


@pytest.fixture(scope="module")
def document() -> dict:
    return yaml.safe_load(DOCUMENT.read_text())


def _resolve(document: dict, node):
    while isinstance(node, dict) and "$ref" in node:
        target = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def api_events() -> dict[tuple[str, str], dict]:
    """(path, method) -> the event's properties, for every Api event in template.yaml."""
    events = {}
    for resource in load_template()["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in (resource["Properties"].get("Events") or {}).values():
            if event["Type"] == "Api":
                props = event["Properties"]
                events[(props["Path"], props["Method"].lower())] = props
    return events


def error_codes(document: dict) -> list[tuple[str, str, int, str]]:
    """(path, method, status, code) for every code an error answer of the document lists."""
    found = []
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            response = _resolve(document, response)
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            for part in (schema or {}).get("allOf", []):
                code = _resolve(document, part).get("properties", {}).get("code", {})
                found.extend((path, method, int(status), c) for c in code.get("enum", []))
    return found


def test_the_document_is_valid_openapi(document):
    validate(document)
    assert document["openapi"].startswith("3.")


def test_it_describes_exactly_the_routes_the_template_deploys(document):
    documented = {(path, method) for path, method, _ in operations(document)}
    deployed = set(api_events())
    assert documented - deployed == set(), "documented but not deployed"
    assert deployed - documented == set(), "deployed but not documented"
    assert ("/reauth/link/{sessionId}", "head") in documented


def test_sigv4_is_required_exactly_on_the_iam_routes(document):
    scheme = document["components"]["securitySchemes"]["sigv4"]
    assert scheme["type"] == "apiKey"
    assert scheme["in"] == "header"
    assert scheme["name"] == "Authorization"
    assert scheme["x-amazon-apigateway-authtype"] == "awsSigv4"
    events = api_events()
    for path, method, operation in operations(document):
        iam = (events[(path, method)].get("Auth") or {}).get("Authorizer") == "AWS_IAM"
        security = operation.get("security", document.get("security", []))
        if iam:
            assert security == [{"sigv4": []}], (path, method)
            assert "403" in operation["responses"], (path, method)
        else:
            assert all("sigv4" not in requirement for requirement in security), (path, method)


def test_every_listed_error_code_exists_with_its_status(document):
    table = {error.code: error.status for error in ErrorCode}
    listed = error_codes(document)
    assert listed, "the document lists no error codes"
    for path, method, status, code in listed:
        assert code in table, f"{method.upper()} {path} {status}: unknown code {code}"
        allowed = CATCH_ALL.get(code, (table[code],))
        assert status in allowed, f"{method.upper()} {path}: {code} is {table[code]}, not {status}"


def test_every_error_code_of_the_table_is_documented(document):
    listed = {code for *_, code in error_codes(document)}
    assert {error.code for error in ErrorCode} - listed == set()


def test_every_route_documents_api_gateways_own_answers(document):
    """Throttling, a timeout and a failed function reach every route, JSON, whatever it is."""
    for path, method, _ in operations(document):
        if method == "head":
            continue  # no body to describe
        codes = {
            (status, code)
            for p, m, status, code in error_codes(document)
            if (p, m) == (path, method)
        }
        for expected in ((429, "TooManyRequests"), (504, "GatewayTimeout"), (500, "InternalError")):
            assert expected in codes, (path, method, expected)


# A browser route a page's script calls, answering JSON (its refusal too).
SCRIPT_ROUTES = {("/reauth/link/{sessionId}/status", "get")}


def test_browser_pages_are_html_and_platform_answers_json(document):
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            types = set(_resolve(document, response).get("content", {}))
            if (path, method) in SCRIPT_ROUTES and status == "400":
                assert "application/json" in types, (path, method, status)
            elif path.startswith("/reauth/") and method != "head" and status in ("400", "410"):
                assert types == {"text/html"}, (path, method, status)
            if not path.startswith("/reauth/"):
                assert types <= {"application/json"}, (path, method, status)


def test_created_and_see_other_answers_carry_a_location(document):
    create = document["paths"]["/exchanges/{exchangeId}/reauth-sessions"]["post"]["responses"]
    for status in ("200", "201"):
        assert _resolve(document, create[status]["headers"]["Location"])["required"] is True
    callback = document["paths"]["/reauth/callback"]["get"]["responses"]
    assert set(callback) & {"301", "302", "303", "307"} == {"303"}
    assert callback["303"]["headers"]["Location"]["required"] is True


def test_the_return_urls_statuses_are_the_ones_the_service_can_send(document):
    """A landing carries the request's status, or attempt_failed with the attempt's reason: the
    document lists each one, and /reauth/done takes exactly those."""
    statuses = document["components"]["schemas"]["LandingStatus"]["enum"]
    assert set(statuses) == {s.value for s in RequestStatus} | {"attempt_failed"}
    done = {p["name"]: p for p in document["paths"]["/reauth/done"]["get"]["parameters"]}
    assert _resolve(document, done["status"]["schema"])["enum"] == statuses
    assert set(done["reason"]["schema"]["enum"]) == {*PROVIDER_ERRORS, NOT_REPAIRED}
    for status in statuses:
        assert f"`{status}`:" in document["components"]["schemas"]["LandingStatus"]["description"]


# ---- the code's answers, against the document's schemas ----------------------------------
NOW = datetime(2026, 12, 1, 23, 0, tzinfo=UTC)


def schema_validator(document: dict, name: str) -> OAS30Validator:
    root = {**document, "$ref": f"#/components/schemas/{name}"}
    return OAS30Validator(root, format_checker=OAS30Validator.FORMAT_CHECKER)


def attempt(number: int, handoff: HandoffType, **changes) -> Attempt:
    return replace(
        Attempt(
            id=str(uuid.UUID(int=number)),
            created_at=NOW - timedelta(minutes=40),
            expires_at=NOW - timedelta(minutes=10),
            handoff_type=handoff,
            handoff_url="https://bank.example.com/login"
            if handoff is HandoffType.REDIRECT
            else None,
            handoff_token="link-sandbox-1" if handoff is HandoffType.TOKEN else None,
        ),
        **changes,
    )


def requests_in_every_state():
    for handoff in HandoffType:
        attempts = (
            attempt(
                1,
                handoff,
                started_at=NOW,
                ended_at=NOW,
                outcome=AttemptOutcome.FAILED,
                reason="USER_CANCELLED",
            ),
            attempt(
                2,
                handoff,
                started_at=NOW,
                ended_at=NOW,
                outcome=AttemptOutcome.UNVERIFIED,
                reason="NOT_REPAIRED",
            ),
            attempt(3, handoff),  # never used: expired
            attempt(4, handoff, expires_at=NOW + timedelta(minutes=20)),  # replaced
            attempt(5, handoff, started_at=NOW, expires_at=NOW + timedelta(minutes=20)),
        )
        for status in RequestStatus:
            for verification in (
                None,
                Verification(VerificationResult.UNAVAILABLE, NOW, NOW + timedelta(minutes=1)),
                Verification(VerificationResult.CONFIRMED, NOW),
            ):
                yield ReauthRequest(
                    id=str(uuid.UUID(int=100)),
                    exchange_id=str(uuid.UUID(int=200)),
                    customer_id=None if status is RequestStatus.PENDING else str(uuid.UUID(int=3)),
                    status=status,
                    return_url="https://app.example.com/back" if verification else None,
                    created_at=NOW - timedelta(days=1),
                    expires_at=NOW + timedelta(days=6),
                    updated_at=NOW,
                    attempts=attempts,
                    current_attempt_id=attempts[-1].id,
                    funding_source_id=str(uuid.UUID(int=4)) if verification else None,
                    reauthorized_at=NOW if status.value.startswith("reauthorized") else None,
                    verification=verification,
                )


def test_the_requests_the_code_answers_match_the_schema(document):
    validator = schema_validator(document, "ReauthRequest")
    start_url = "https://reauth.example.com/v1/reauth/link/x?key=abc"
    for request in requests_in_every_state():
        answer = json.loads(json.dumps(public_request(request, NOW, start_url)))
        errors = [e.message for e in validator.iter_errors(answer)]
        assert errors == [], (request.status, request.handoff_type, errors)


def test_the_exchange_records_the_code_answers_match_the_schema(document):
    validator = schema_validator(document, "ExchangeStatus")
    for status in ExchangeStatus:
        for filled in (False, True):
            record = ExchangeRecord(
                exchange_id=str(uuid.UUID(int=200)),
                status=status,
                customer_id=str(uuid.UUID(int=3)) if filled else None,
                last_session_id=str(uuid.UUID(int=100)) if filled else None,
                pending_session_id=str(uuid.UUID(int=100)) if filled else None,
                updated_at=NOW,
                reauth_required_at=NOW if filled else None,
                reauthorized_at=NOW if filled else None,
            )
            validator.validate(json.loads(json.dumps(public_exchange(record))))


def test_every_error_body_the_code_answers_matches_the_schema(document):
    validator = schema_validator(document, "Error")
    for error in ErrorCode:
        for request_id in ("c0ffee00-0000-4000-8000-000000000000", None):
            answer = error_response(ServiceError(error), request_id)
            validator.validate(json.loads(answer.body))
