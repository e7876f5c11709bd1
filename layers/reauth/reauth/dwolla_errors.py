"""The one table mapping Dwolla's answers onto the service's error codes (errors.ErrorCode).

`from_dwolla(exc)` turns whatever the Dwolla adapter raised, after its retries, into the
ServiceError a caller sees: timeouts, dropped connections, unusable answers, 5xx, 404 (whose
meaning the call names), and the 4xx rows of DWOLLA_ERROR_TABLE, first match wins.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .dwolla import (
    DwollaApiError,
    DwollaBadResponse,
    DwollaConnectionError,
    DwollaError,
    DwollaTimeout,
)
from .errors import ErrorCode, ServiceError

# Dwolla's embedded errors, each `{"code", "message", "path"}` as sent.
EmbeddedErrors = tuple[Mapping[str, object], ...]
# A row's extra test on Dwolla's message and embedded errors.
ErrorTest = Callable[[str, EmbeddedErrors], bool]
ErrorRow = tuple[int | None, frozenset[str] | None, ErrorTest | None, ErrorCode]


def _redirect_url_message(message: str, errors: EmbeddedErrors) -> bool:
    texts = [message] + [f"{e.get('path', '')} {e.get('message', '')}" for e in errors]
    return any("redirect-url" in text or "redirect URL" in text for text in texts)


def _not_registered(message: str, errors: EmbeddedErrors) -> bool:
    texts = [message] + [str(e.get("message", "")) for e in errors]
    return any("exactly match" in text for text in texts)


# Dwolla's 4xx answers other than 404, first match wins. Each row: HTTP status, Dwolla codes
# (None: any), an extra test on (message, embedded errors) (None: none), the caller-facing code.
DWOLLA_ERROR_TABLE: tuple[ErrorRow, ...] = (
    (
        400,
        frozenset({"ValidationError"}),
        _not_registered,
        ErrorCode.DWOLLA_REDIRECT_URL_NOT_REGISTERED,
    ),
    (
        400,
        frozenset({"ValidationError"}),
        _redirect_url_message,
        ErrorCode.DWOLLA_REDIRECT_URL_INVALID,
    ),
    (401, frozenset({"InvalidScope", "InvalidScopes"}), None, ErrorCode.DWOLLA_SCOPE_MISSING),
    (401, frozenset({"InvalidCredentials"}), None, ErrorCode.DWOLLA_CREDENTIALS_INVALID),
    (401, None, None, ErrorCode.DWOLLA_CREDENTIALS_INVALID),
    (403, None, None, ErrorCode.DWOLLA_FORBIDDEN),
    (409, None, None, ErrorCode.DWOLLA_UNAVAILABLE),  # idempotent request still processing
    (429, None, None, ErrorCode.DWOLLA_UNAVAILABLE),
)


def from_dwolla(
    exc: DwollaError, not_found: ErrorCode = ErrorCode.EXCHANGE_NOT_FOUND
) -> ServiceError:
    """Map a Dwolla client error (after its retries) onto the caller-facing error table.

    `not_found` names what a 404 means for the call that failed (an unknown exchange, by default).
    """
    if isinstance(exc, DwollaTimeout):
        return ServiceError(ErrorCode.DWOLLA_TIMEOUT)
    if isinstance(exc, DwollaConnectionError):
        return ServiceError(ErrorCode.DWOLLA_UNAVAILABLE)
    if isinstance(exc, DwollaBadResponse):
        return ServiceError(ErrorCode.DWOLLA_BAD_RESPONSE)
    if isinstance(exc, DwollaApiError):
        if exc.status >= 500:
            return ServiceError(ErrorCode.DWOLLA_UNAVAILABLE)
        if exc.status == 404:
            return ServiceError(not_found)
        for status, codes, test, error in DWOLLA_ERROR_TABLE:
            if status is not None and status != exc.status:
                continue
            if codes is not None and exc.code not in codes:
                continue
            if test is not None and not test(exc.message or "", tuple(exc.errors or ())):
                continue
            return ServiceError(error)
        return ServiceError(ErrorCode.DWOLLA_REQUEST_REJECTED)
    return ServiceError(ErrorCode.DWOLLA_BAD_RESPONSE)
