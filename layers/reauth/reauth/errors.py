"""Every error a caller can see: a stable code, an HTTP status and a human message.

`ErrorCode` is the one table of codes; it depends on nothing. (The table mapping Dwolla's answers
onto it is dwolla_errors.py, beside the Dwolla adapter.)
Messages never carry secrets, tokens or Dwolla's raw bodies; they name the problem and the fix.
"""

from __future__ import annotations

from enum import Enum


class ErrorCode(Enum):
    # code (stable, documented)          HTTP  message
    INVALID_REQUEST = ("InvalidRequest", 400, "The request is malformed.")
    INVALID_EXCHANGE_ID = ("InvalidExchangeId", 400, "The exchange id must be a UUID.")
    INVALID_SESSION_ID = ("InvalidSessionId", 400, "The session id must be a UUID.")
    INVALID_CUSTOMER_ID = ("InvalidCustomerId", 400, "The customer id must be a UUID.")
    INVALID_FUNDING_SOURCE_ID = (
        "InvalidFundingSourceId",
        400,
        "The funding source id must be a UUID.",
    )
    INVALID_IDEMPOTENCY_KEY = (
        "InvalidIdempotencyKey",
        400,
        "The Idempotency-Key header must be 1-255 printable ASCII characters.",
    )
    FUNDING_SOURCE_NOT_OF_EXCHANGE = (
        "FundingSourceNotOfExchange",
        400,
        "Dwolla does not link this funding source to the exchange (and its customer); send the"
        " exchange's own funding source, or none.",
    )
    INVALID_CONTACT = (
        "InvalidContact",
        400,
        "The contact must be an object with an email address, a phone number in E.164 form "
        "(+ and up to 15 digits), or both; firstName up to 60 characters, locale a language tag "
        "and timeZone an IANA time zone name.",
    )
    INVALID_LOCALE = (
        "InvalidLocale",
        400,
        'The locale must be a language tag such as "es-MX" or "en".',
    )
    RETURN_URL_NOT_ALLOWED = (
        "ReturnUrlNotAllowed",
        400,
        "The returnUrl is not on the service's allow-list of return URLs.",
    )
    NOT_BOUND = (
        "NotBound",
        400,
        "Only the browser that started this re-authentication can follow it.",
    )
    INVALID_COMPLETION = (
        "InvalidCompletion",
        400,
        'The body must be {} or {"error": "AUTHENTICATION_ERROR" | "USER_CANCELLED" | '
        '"TEMPORARY_ERROR"}.',
    )
    INVALID_SIGNATURE = ("InvalidSignature", 401, "The webhook signature is missing or wrong.")
    NOT_FOUND = ("NotFound", 404, "No such route.")
    SESSION_NOT_FOUND = ("SessionNotFound", 404, "No re-authentication session has this id.")
    EXCHANGE_NOT_FOUND = ("ExchangeNotFound", 404, "Dwolla knows no exchange with this id.")
    EXCHANGE_RECORD_NOT_FOUND = (
        "ExchangeRecordNotFound",
        404,
        "This service has no re-authentication record for the exchange.",
    )
    IDEMPOTENCY_KEY_REUSED = (
        "IdempotencyKeyReused",
        409,
        "The Idempotency-Key was already used with a different request (another exchange or body).",
    )
    SESSION_NOT_PENDING = (
        "SessionNotPending",
        409,
        "The session is closed (expired, superseded, rejected, cancelled or reauthorized).",
    )
    HANDOFF_NOT_TOKEN = (
        "HandoffNotToken",
        409,
        "Only token handoffs are completed through this route; redirect handoffs use the callback.",
    )
    CONFLICT = ("Conflict", 409, "The request changed concurrently; retry the request.")
    PAYLOAD_TOO_LARGE = ("PayloadTooLarge", 413, "The request body is too large.")
    UNSUPPORTED_MEDIA_TYPE = ("UnsupportedMediaType", 415, "The body must be application/json.")
    INTERNAL_ERROR = ("InternalError", 500, "An internal error occurred.")
    # Answered by API Gateway itself (template.yaml's GatewayResponses), in the same shape:
    ACCESS_DENIED = ("AccessDenied", 403, "The request is not signed, or not allowed.")
    REQUEST_REFUSED = ("RequestRefused", 400, "API Gateway refused the request.")
    TOO_MANY_REQUESTS = ("TooManyRequests", 429, "Too many requests; retry with backoff.")
    GATEWAY_TIMEOUT = ("GatewayTimeout", 504, "The service did not answer in time; retry.")
    DWOLLA_REDIRECT_URL_INVALID = (
        "DwollaRedirectUrlInvalid",
        502,
        "Dwolla rejected the configured callback URL as invalid (check CallbackUrl).",
    )
    DWOLLA_REDIRECT_URL_NOT_REGISTERED = (
        "DwollaRedirectUrlNotRegistered",
        502,
        "The callback URL is not registered with Dwolla for this account (ask Dwolla to add it).",
    )
    DWOLLA_SCOPE_MISSING = (
        "DwollaScopeMissing",
        502,
        "The Dwolla application lacks the open-banking scopes for re-authentication.",
    )
    DWOLLA_CREDENTIALS_INVALID = (
        "DwollaCredentialsInvalid",
        502,
        "Dwolla rejected the key/secret stored in the Dwolla credentials secret.",
    )
    DWOLLA_FORBIDDEN = (
        "DwollaForbidden",
        502,
        "Dwolla does not allow this application to re-authenticate the exchange.",
    )
    DWOLLA_REQUEST_REJECTED = (
        "DwollaRequestRejected",
        502,
        "Dwolla rejected the request.",
    )
    DWOLLA_BAD_RESPONSE = ("DwollaBadResponse", 502, "Dwolla's answer could not be used.")
    DWOLLA_UNAVAILABLE = (
        "DwollaUnavailable",
        503,
        "Dwolla is unavailable or rate-limiting; retry later with the same Idempotency-Key.",
    )
    DWOLLA_TIMEOUT = (
        "DwollaTimeout",
        504,
        "Dwolla did not answer in time; retry later with the same Idempotency-Key.",
    )

    def __init__(self, code: str, status: int, message: str) -> None:
        self.code = code
        self.status = status
        self.message = message


class ServiceError(Exception):
    """An error with a stable code; the handlers turn it into `{"code", "message", "requestId"}`."""

    def __init__(self, error: ErrorCode, message: str | None = None) -> None:
        super().__init__(message or error.message)
        self.error = error
        self.code = error.code
        self.status = error.status
        self.message = message or error.message

    @property
    def retryable(self) -> bool:
        """Worth trying again later with the same input (faults and lost races)."""
        return self.status >= 500 or self.error is ErrorCode.CONFLICT
