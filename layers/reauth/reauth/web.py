"""The HTTP edge shared by both functions: the error body, JSON and form bodies, the public JSON
shapes, browser pages as answers.

Every error a caller sees is `{"code", "message", "requestId"}` with a code from errors.ErrorCode.
Browser pages (pages.py) never echo input or explain a refusal.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from . import pages
from .errors import ErrorCode, ServiceError
from .model import OPEN_STATUSES, ExchangeRecord, HandoffType, ReauthRequest, iso
from .pages import Page
from .repository import Contention
from .timeline import public_timeline

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver
    from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

MAX_BODY_BYTES = 16 * 1024
FORM = "application/x-www-form-urlencoded"
logger = logging.getLogger(__name__)

# Browser answers: no caching, no referrer to other sites (the link carries a key), not embeddable.
# Each page brings its own Content-Security-Policy (a nonce per answer, see pages.py).
BROWSER_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",  # no-referrer would make the pages' POSTs say Origin: null
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
NO_CONTENT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"


def error_response(error: ServiceError, request_id: str | None) -> Response[str]:
    body = {"code": error.code, "message": error.message, "requestId": request_id}
    return Response(
        status_code=error.status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body),
        headers={"Cache-Control": "no-store"},
    )


def json_response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response[str]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body),
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def install_error_handlers(
    app: APIGatewayRestResolver,
    metrics: Metrics,
    *,
    browser_paths: tuple[str, ...] = (),
    platform: Callable[[], str] = lambda: "",
    locale: Callable[[], str | None] = lambda: None,
) -> None:
    """One exception-handler table: domain errors, unknown routes, everything else.
    Requests under `browser_paths` get an HTML page instead of the JSON error body, in the
    language `locale` picks (the browser's, else the deployment's: no request is read).
    Dwolla failures also count in the DwollaErrors metric (the template alarms on it)."""

    def request_id() -> str | None:
        return app.current_event.request_context.request_id

    def answer(error: ServiceError) -> Response[str]:
        if browser_paths and app.current_event.path.startswith(browser_paths):
            return error_page(error, _safely(platform), _safely(locale))
        return error_response(error, request_id())

    def service_error(error: ServiceError) -> Response[str]:
        level = logging.ERROR if error.status >= 500 else logging.INFO
        logger.log(level, "request refused", extra={"errorCode": error.code})
        if error.code.startswith("Dwolla"):
            metrics.add_metric("DwollaErrors", "Count", 1)
        return answer(error)

    def contention(_: Contention) -> Response[str]:
        logger.warning("DynamoDB contention: the caller is asked to retry")
        if browser_paths and app.current_event.path.startswith(browser_paths):
            page = pages.error_page(
                platform=_safely(platform), kind="unavailable", locale=_safely(locale)
            )
            return html_page(page)
        return error_response(ServiceError(ErrorCode.CONFLICT), request_id())

    def not_found(_: NotFoundError) -> Response[str]:
        return answer(ServiceError(ErrorCode.NOT_FOUND))

    def unexpected(_: Exception) -> Response[str]:
        logger.exception("unexpected error")
        return answer(ServiceError(ErrorCode.INTERNAL_ERROR))

    # Registered by call, not as decorators: Powertools' exception_handler() has no annotations,
    # and a decorator without them would leave the handlers untyped.
    app.exception_handler(ServiceError)(service_error)
    app.exception_handler(Contention)(contention)
    app.not_found(not_found)
    app.exception_handler(Exception)(unexpected)


def _safely(read: Callable[[], str | None]) -> str:
    try:
        return read() or ""
    except Exception:  # a configuration fault must not hide the page that reports it
        return ""


def json_body(event: APIGatewayProxyEvent, *, required: bool = False) -> dict[str, Any]:
    """The request's JSON object body ({} when absent and optional), or InvalidRequest."""
    raw = event.decoded_body  # None when there is no body
    if raw is None or raw.strip() == "":
        if required:
            raise ServiceError(ErrorCode.INVALID_REQUEST, "A JSON body is required.")
        return {}
    if len(raw.encode()) > MAX_BODY_BYTES:
        raise ServiceError(ErrorCode.PAYLOAD_TOO_LARGE)
    content_type = header(event, "content-type") or "application/json"
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise ServiceError(ErrorCode.UNSUPPORTED_MEDIA_TYPE)
    try:
        body = json.loads(raw)
    except ValueError:
        raise ServiceError(ErrorCode.INVALID_REQUEST, "The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ServiceError(ErrorCode.INVALID_REQUEST, "The body must be a JSON object.")
    return body


def raw_body(event: APIGatewayProxyEvent) -> bytes:
    """The body exactly as sent (webhook signatures are over these bytes)."""
    if event.body is None:
        return b""
    if event.is_base64_encoded:
        import base64

        return base64.b64decode(event.body)
    return event.body.encode()


def header(event: APIGatewayProxyEvent, name: str) -> str | None:
    """A request header's value, whatever its case."""
    name = name.lower()
    for key, value in (event.headers or {}).items():
        if key.lower() == name:
            return value
    return None


def header_values(event: APIGatewayProxyEvent, name: str) -> list[str]:
    name = name.lower()
    values: list[str] = []
    for key, found in (event.multi_value_headers or {}).items():
        if key.lower() == name:
            values.extend(found or [])
    if not values and (single := header(event, name)) is not None:
        values.append(single)
    return values


def html_page(page: Page, headers: dict[str, str] | None = None) -> Response[str]:
    return Response(
        status_code=page.status,
        content_type=content_types.TEXT_HTML,
        body=page.html,
        headers={**BROWSER_HEADERS, "Content-Security-Policy": page.csp, **(headers or {})},
    )


def error_page(error: ServiceError, platform: str, locale: str | None = None) -> Response[str]:
    """A browser's view of a service error: try again later for faults, else the refusal."""
    if error.status >= 500:
        return html_page(pages.error_page(platform=platform, kind="unavailable", locale=locale))
    return refused_page(platform, locale)


def refused_page(platform: str, locale: str | None = None) -> Response[str]:
    """The one answer to any browser request that is not honoured."""
    return html_page(pages.error_page(platform=platform, kind="refused", locale=locale))


def form_body(event: APIGatewayProxyEvent) -> dict[str, list[str]]:
    """An HTML form's fields (application/x-www-form-urlencoded), or InvalidRequest."""
    raw = event.decoded_body or ""
    if len(raw.encode()) > MAX_BODY_BYTES:
        raise ServiceError(ErrorCode.PAYLOAD_TOO_LARGE)
    content_type = header(event, "content-type") or ""
    if raw and content_type.split(";")[0].strip().lower() != FORM:
        raise ServiceError(ErrorCode.UNSUPPORTED_MEDIA_TYPE)
    try:
        return parse_qs(raw, strict_parsing=bool(raw), max_num_fields=8)
    except ValueError:
        raise ServiceError(ErrorCode.INVALID_REQUEST, "The form is malformed.") from None


# ---- the public JSON shapes ------------------------------------------------------------------
def public_request(request: ReauthRequest, now: datetime, start_url: str | None) -> dict[str, Any]:
    """A re-authentication request as the platform sees it (`GET /reauth-sessions/{id}`)."""
    current = request.current_attempt
    handoff: dict[str, Any] = {"type": current.handoff_type.value}
    if current.handoff_type is HandoffType.REDIRECT:
        handoff["url"] = current.handoff_url
    else:
        handoff["token"] = current.handoff_token
    status = request.effective_status(now)
    check = request.verification
    return {
        "id": request.id,
        "exchangeId": request.exchange_id,
        "customerId": request.customer_id,
        "fundingSourceId": request.funding_source_id,
        "status": status.value,
        "handoff": handoff,
        "startUrl": start_url if status in OPEN_STATUSES else None,
        "returnUrl": request.return_url,
        "createdAt": iso(request.created_at),
        "expiresAt": iso(request.expires_at),
        "updatedAt": iso(request.updated_at),
        "reauthorizedAt": _iso_or_none(request.reauthorized_at),
        "attempts": [
            {
                "id": a.id,
                "state": a.state(now, current=a.id == request.current_attempt_id),
                "createdAt": iso(a.created_at),
                "expiresAt": iso(a.expires_at),
                "startedAt": _iso_or_none(a.started_at),
                "endedAt": _iso_or_none(a.ended_at),
                "reason": a.reason,
                "recoverable": a.recoverable,
                "reportedBy": a.failure_reporter.value if a.failure_reporter else None,
            }
            for a in request.attempts
        ],
        "verification": None
        if check is None
        else {
            "result": check.result.value,
            "checkedAt": iso(check.checked_at),
            "nextCheckAt": _iso_or_none(check.next_check_at),
        },
        "timeline": public_timeline(request, now),
    }


def public_exchange(record: ExchangeRecord) -> dict[str, Any]:
    """An exchange's record (`GET /exchanges/{id}/reauth-status`)."""
    return {
        "exchangeId": record.exchange_id,
        "status": record.status.value,
        "customerId": record.customer_id,
        "lastSessionId": record.last_session_id,
        "pendingSessionId": record.pending_session_id,
        "reauthRequiredAt": _iso_or_none(record.reauth_required_at),
        "reauthorizedAt": _iso_or_none(record.reauthorized_at),
        "updatedAt": iso(record.updated_at),
    }


def _iso_or_none(moment: datetime | None) -> str | None:
    return iso(moment) if moment else None


def redirect(location: str, headers: dict[str, str] | None = None) -> Response[str]:
    """303 See Other: the browser GETs `location` (never re-POSTs)."""
    return Response(
        status_code=303,
        content_type=content_types.TEXT_HTML,
        body="",
        headers={
            **BROWSER_HEADERS,
            "Content-Security-Policy": NO_CONTENT_CSP,
            "Location": location,
            **(headers or {}),
        },
    )
