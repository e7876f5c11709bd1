"""API Gateway REST (v1) proxy events and a Lambda context, as SAM CLI and API Gateway send them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from urllib.parse import urlencode

STAGE = "v1"


class LambdaContext:
    function_name = "local"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:local"
    memory_limit_in_mb = 512

    def __init__(self, remaining_ms: int = 28_000) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining_ms


def rest_event(
    method: str,
    path: str,
    *,
    query: dict[str, list[str] | str] | None = None,
    headers: dict[str, str] | None = None,
    cookies: list[str] | None = None,
    body: str | dict | None = None,
) -> dict:
    multi_query = None
    if query is not None:
        multi_query = {k: v if isinstance(v, list) else [v] for k, v in query.items()}
    headers = dict(headers or {})
    if isinstance(body, dict):
        body = json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    multi_headers = {k: [v] for k, v in headers.items()}
    if cookies:
        multi_headers["Cookie"] = list(cookies)
        headers["Cookie"] = "; ".join(cookies)
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": (
            {k: v[-1] for k, v in multi_query.items()} if multi_query is not None else None
        ),
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "stage": STAGE,
            "httpMethod": method,
            "path": f"/{STAGE}{path}",
            "resourcePath": path,
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": body,
        "isBase64Encoded": False,
    }


def event_time() -> str:
    """An EventBridge event's `time`: now, to the second, as EventBridge writes it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def eventbridge_event(detail_type: str, detail: dict, *, event_id: str | None = None) -> dict:
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "platform.payments",
        "account": "123456789012",
        "time": event_time(),
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


def scheduled_event() -> dict:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": event_time(),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/sweep"],
        "detail": {},
    }


def query_of(url: str) -> dict[str, list[str]]:
    from urllib.parse import parse_qs, urlsplit

    return parse_qs(urlsplit(url).query, keep_blank_values=True)


def with_query(path: str, params: dict) -> str:
    return f"{path}?{urlencode(params)}"
