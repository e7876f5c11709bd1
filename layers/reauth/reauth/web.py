"""The HTTP edge shared by both functions: the error body, JSON bodies, browser pages.

Every error a caller sees is `{"code", "message", "requestId"}` with a code from errors.ErrorCode.
Browser pages are small, static and generic: they never echo input or explain a refusal.
"""

from __future__ import annotations

import html
import json
import logging

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from .errors import ErrorCode, ServiceError

MAX_BODY_BYTES = 16 * 1024
logger = logging.getLogger(__name__)

# Browser answers: no caching, no referrer (the start link carries a key), nothing embeddable.
BROWSER_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
}
DONE_MESSAGES = {
    "reauthorized": "Your bank connection is working again. You can close this window.",
    "failed": "Your bank connection could not be renewed. Please try again from the app.",
}


def error_response(error: ServiceError, request_id: str | None) -> Response:
    body = {"code": error.code, "message": error.message, "requestId": request_id}
    return Response(
        status_code=error.status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body),
        headers={"Cache-Control": "no-store"},
    )


def json_response(status: int, body: dict, headers: dict | None = None) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body),
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def install_error_handlers(app, metrics, *, browser_paths: tuple[str, ...] = ()) -> None:
    """One exception-handler table: domain errors, unknown routes, everything else.
    Requests under `browser_paths` get an HTML page instead of the JSON error body.
    Dwolla failures also count in the DwollaErrors metric (the template alarms on it)."""

    def request_id() -> str | None:
        return app.current_event.request_context.request_id

    def answer(error: ServiceError) -> Response:
        if browser_paths and app.current_event.path.startswith(browser_paths):
            return error_page(error)
        return error_response(error, request_id())

    @app.exception_handler(ServiceError)
    def _service_error(error: ServiceError) -> Response:
        level = logging.ERROR if error.status >= 500 else logging.INFO
        logger.log(level, "request refused", extra={"errorCode": error.code})
        if error.code.startswith("Dwolla"):
            metrics.add_metric("DwollaErrors", "Count", 1)
        return answer(error)

    @app.not_found
    def _not_found(_: NotFoundError) -> Response:
        return answer(ServiceError(ErrorCode.NOT_FOUND))

    @app.exception_handler(Exception)
    def _unexpected(_: Exception) -> Response:
        logger.exception("unexpected error")
        return answer(ServiceError(ErrorCode.INTERNAL_ERROR))


def json_body(event, *, required: bool = False) -> dict:
    """The request's JSON object body ({} when absent and optional), or InvalidRequest."""
    raw = event.decoded_body if event.body is not None else None
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


def raw_body(event) -> bytes:
    """The body exactly as sent (webhook signatures are over these bytes)."""
    if event.body is None:
        return b""
    if event.is_base64_encoded:
        import base64

        return base64.b64decode(event.body)
    return event.body.encode()


def header(event, name: str) -> str | None:
    """A request header's value, whatever its case."""
    name = name.lower()
    for key, value in (event.headers or {}).items():
        if key.lower() == name:
            return value
    return None


def header_values(event, name: str) -> list[str]:
    name = name.lower()
    values: list[str] = []
    for key, found in (event.multi_value_headers or {}).items():
        if key.lower() == name:
            values.extend(found or [])
    if not values and (single := header(event, name)) is not None:
        values.append(single)
    return values


def page(status: int, title: str, message: str, headers: dict | None = None) -> Response:
    body = (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title>"
        '<body style="font-family:sans-serif;max-width:32rem;margin:4rem auto">'
        f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>"
    )
    return Response(
        status_code=status,
        content_type=content_types.TEXT_HTML,
        body=body,
        headers={**BROWSER_HEADERS, **(headers or {})},
    )


def error_page(error: ServiceError) -> Response:
    """A browser's view of a service error: try again later for faults, else the refusal."""
    if error.status >= 500:
        return page(
            503 if error.status in (502, 503, 504) else 500,
            "Temporarily unavailable",
            "We could not finish connecting your bank just now. Please reload this page in a "
            "moment.",
        )
    return refused_page()


def refused_page() -> Response:
    """The one answer to any browser request that is not honoured."""
    return page(
        400,
        "This link can't be used",
        "It may have expired or already been used. Please start again from the app.",
    )


def redirect(location: str, headers: dict | None = None) -> Response:
    return Response(
        status_code=302,
        content_type=content_types.TEXT_HTML,
        body="",
        headers={**BROWSER_HEADERS, "Location": location, **(headers or {})},
    )
