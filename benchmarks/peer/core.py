"""What the peer's functions share: Powertools' Logger and Metrics (one of each per function,
as in the product), and the baseline's answers (API Gateway dicts) as the resolver's Response."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response

logger = Logger(service="dwolla-reauth-peer")
metrics = Metrics(namespace="DwollaReauthPeer", service="dwolla-reauth-peer")


def response(answer: dict) -> Response:
    """A baseline answer (statusCode, headers, body) as Powertools' Response."""
    headers = dict(answer.get("headers") or {})
    content_type = headers.pop("Content-Type", None)
    return Response(
        status_code=answer["statusCode"],
        content_type=content_type,
        body=answer.get("body") or "",
        headers=headers,
    )
