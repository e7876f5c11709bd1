"""Every error body the sandbox can answer with, in one table.

Wording comes from, in order: the per-endpoint examples in Dwolla's openapi.yml, the NOTES.md beside
it, and Dwolla's published "Common errors" table. Where none of them words an answer the entry says
"sandbox wording" so nobody mistakes it for Dwolla's.
"""

from __future__ import annotations

import copy
import uuid
from http import HTTPStatus

HAL_JSON = "application/vnd.dwolla.v1.hal+json"
OAUTH_JSON = "application/json"  # what openapi.yml gives for POST /token answers

_COMMON_FORBIDDEN = "The supplied credentials are not authorized for this resource."

# name -> (HTTP status, body). Bodies are copied before use; "{error_id}" is filled per answer.
DWOLLA_ERRORS: dict[str, tuple[int, dict]] = {
    # Common errors table (developers.dwolla.com, "Errors")
    "BadRequest": (
        400,
        {"code": "BadRequest", "message": "The request body contains bad syntax or is incomplete."},
    ),
    "InvalidCredentials": (
        401,
        {"code": "InvalidCredentials", "message": "Missing or invalid Authorization header."},
    ),
    "InvalidAccessToken": (401, {"code": "InvalidAccessToken", "message": "Invalid access token."}),
    "ExpiredAccessToken": (
        401,
        {
            "code": "ExpiredAccessToken",
            "message": "Generate a new access token using a valid refresh token.",
        },
    ),
    "Forbidden": (403, {"code": "Forbidden", "message": _COMMON_FORBIDDEN}),
    "NotFound": (404, {"code": "NotFound", "message": "The requested resource was not found."}),
    "MethodNotAllowed": (
        405,
        {"code": "MethodNotAllowed", "message": "Method not allowed on this resource."},
    ),
    "InvalidVersion": (
        406,
        {"code": "InvalidVersion", "message": "Missing or invalid API version."},
    ),
    "ServerError": (
        500,
        {"code": "ServerError", "message": "A server error occurred. Error ID: {error_id}."},
    ),
    # 429: components/schemas/TooManyRequestsError message, code as in TooManyRequestsErrorError
    "TooManyRequests": (
        429,
        {
            "code": "TooManyRequests",
            "message": "Please wait a short period of time before re-attempting the request.",
        },
    ),
    # 409 while the first request with the same Idempotency-Key is processing (sandbox wording:
    # Dwolla documents the status, not the body; "Conflict" is the code its SDKs map to 409)
    "IdempotencyKeyInProgress": (
        409,
        {
            "code": "Conflict",
            "message": "A request with this Idempotency-Key is still being processed.",
        },
    ),
    # POST /webhook-subscriptions over the limit (components/schemas/MaxSubscriptionsReachedError)
    "MaxNumberOfResources": (
        400,
        {
            "code": "MaxNumberOfResources",
            "message": "The maximum number of subscriptions has been reached.",
        },
    ),
    # POST /exchanges/{id}/exchange-sessions (NOTES.md, openapi.yml)
    "InvalidScope": (
        401,
        {"code": "InvalidScope", "message": "Missing or invalid scopes for requested endpoint."},
    ),
    "CreateExchangeSessionForbidden": (
        403,
        {
            "code": "forbidden",
            "message": "Not authorized to create re-authentication exchange session.",
        },
    ),
    # GET /exchange-sessions/{id} (openapi.yml examples)
    "RetrieveExchangeSessionForbidden": (
        403,
        {"code": "forbidden", "message": "Not authorized to retrieve exchange session."},
    ),
    "ExchangeSessionNotFound": (
        404,
        {"code": "notFound", "message": "Exchange session not found."},
    ),
    # GET /exchanges/{id} (openapi.yml example)
    "ExchangeNotFound": (
        404,
        {"code": "NotFound", "message": "The requested resource was not found. Check Exchange ID."},
    ),
    # GET /funding-sources/{id} and .../balance (openapi.yml examples; UpdateCredentials: NOTES.md)
    "FundingSourceNotFound": (
        404,
        {"code": "notFound", "message": "Funding source not found."},
    ),
    # GET /customers/{id}/funding-sources (openapi.yml examples)
    "CustomerNotFound": (404, {"code": "notFound", "message": "Customer not found."}),
    "ListFundingSourcesForbidden": (
        403,
        {"code": "forbidden", "message": "Not authorized to list funding sources."},
    ),
    "UpdateCredentials": (
        400,
        {
            "code": "UpdateCredentials",
            "message": (
                "Re-authentication is required in order to access account data. "
                "Please initiate the exchange session flow to regain access."
            ),
        },
    ),
}

# POST /token answers. openapi.yml gives the OAuth form ({"error": "invalid_client"}, as
# application/json); NOTES.md names the 401 code InvalidCredentials. The sandbox sends both, so a
# client keyed on either field works; a client should prefer "error" (what the spec promises).
TOKEN_ERRORS: dict[str, tuple[int, dict]] = {
    "invalid_client": (
        401,
        {
            "error": "invalid_client",
            "code": "InvalidCredentials",
            "message": "Missing or invalid Authorization header.",
        },
    ),
    "invalid_request": (
        400,
        {
            "error": "invalid_request",
            "code": "BadRequest",
            "message": "grant_type is required.",  # sandbox wording
        },
    ),
    "unsupported_grant_type": (
        400,
        {
            "error": "unsupported_grant_type",
            "code": "BadRequest",
            "message": "grant_type must be client_credentials.",  # sandbox wording
        },
    ),
}

# Embedded validation errors on the session POST (NOTES.md wording, except where marked).
REDIRECT_URL_PATH = "/_links/redirect-url/href"
REDIRECT_URL_INVALID = "/_links/redirect-url/href is invalid."
REDIRECT_URL_NOT_CONFIGURED = (
    "The provided redirect URL must exactly match one of the configured URLs for the account."
)
REDIRECT_URL_REQUIRED = "/_links/redirect-url/href is required."  # sandbox wording
IDEMPOTENCY_KEY_REUSED = (  # sandbox wording
    "The Idempotency-Key was already used with a different request."
)
VALIDATION_MESSAGE = "Validation error(s) present. See embedded errors list for more details."
# GET /events with a limit or offset that is not a number in range (sandbox wording; the spec
# lists no 400 for /events, Dwolla's common errors answer bad input with ValidationError)
EVENTS_LIMIT_INVALID = "limit must be an integer from 1 to 200."
EVENTS_OFFSET_INVALID = "offset must be an integer of 0 or more."


# POST /webhook-subscriptions (components/schemas InvalidUrlFormatError, SecretTooLongError; the
# "Required" ones are sandbox wording)
SUBSCRIPTION_ERRORS = {
    "url": ("InvalidFormat", "Url must be a valid url.", "/url"),
    "secret": ("InvalidFormat", "Secret must be 128 or fewer characters.", "/secret"),
    "url_required": ("Required", "Url is required.", "/url"),
    "secret_required": ("Required", "Secret is required.", "/secret"),
}


def dwolla_error(name: str) -> tuple[int, dict]:
    """(status, body) for a named error of the table, with a fresh Error ID where one is shown."""
    status, body = DWOLLA_ERRORS[name]
    body = copy.deepcopy(body)
    body["message"] = body["message"].replace("{error_id}", str(uuid.uuid4()))
    return status, body


def token_error(name: str) -> tuple[int, dict]:
    status, body = TOKEN_ERRORS[name]
    return status, copy.deepcopy(body)


def validation_error(code: str, message: str, path: str) -> tuple[int, dict]:
    """Dwolla's 400 ValidationError with one embedded error."""
    return 400, {
        "code": "ValidationError",
        "message": VALIDATION_MESSAGE,
        "_embedded": {"errors": [{"code": code, "message": message, "path": path, "_links": {}}]},
    }


def update_credentials(about_href: str) -> tuple[int, dict]:
    status, body = dwolla_error("UpdateCredentials")
    body["_links"] = {
        "about": {"href": about_href, "type": HAL_JSON, "resource-type": "exchange-session"}
    }
    return status, body


def fault_error(status: int, route: str | None) -> dict:
    """Dwolla's body for a status injected by a fault on the given route (see server.ROUTES)."""
    if status == 403:
        name = {
            "create_exchange_session": "CreateExchangeSessionForbidden",
            "get_exchange_session": "RetrieveExchangeSessionForbidden",
            "list_customer_funding_sources": "ListFundingSourcesForbidden",
        }.get(route or "", "Forbidden")
        return dwolla_error(name)[1]
    by_status = {
        400: "BadRequest",
        401: "InvalidAccessToken",
        404: "NotFound",
        405: "MethodNotAllowed",
        406: "InvalidVersion",
        409: "IdempotencyKeyInProgress",
        429: "TooManyRequests",
    }
    if status in by_status:
        return dwolla_error(by_status[status])[1]
    if status >= 500:
        return dwolla_error("ServerError")[1]
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return {"code": phrase.replace(" ", ""), "message": phrase + "."}
