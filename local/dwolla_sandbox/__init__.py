"""A local Dwolla: a real HTTP server that answers like Dwolla's API for the re-authentication flow.

    from local.dwolla_sandbox import DwollaSandbox
    with DwollaSandbox(host="127.0.0.1", port=0) as sandbox:   # or .start() / .stop()
        sandbox.base_url                                        # http://127.0.0.1:<port>

    python -m local.dwolla_sandbox [--host 127.0.0.1] [--port 8787] [--key K] [--secret S]
        [--public-url URL] [--token-ttl 3600] [--redirect-url URL ...] [--verbose]

Sources: /work/shared/dwolla/openapi.yml (Dwolla's spec) and NOTES.md; every error body lives in
errors.py, with where its wording comes from.

What it emulates
----------------
POST /token
    Basic key:secret (or client_id/client_secret in the body), form grant_type=client_credentials
    -> 200 application/json {"access_token", "token_type": "bearer", "expires_in": token_ttl}.
    Bad or missing credentials -> 401 {"error": "invalid_client", "code": "InvalidCredentials", ...}
    (the spec's OAuth form plus NOTES.md's code); grant_type missing -> 400 invalid_request,
    other grant_type -> 400 unsupported_grant_type. Minting never revokes earlier tokens.
Every other Dwolla call (answers application/vnd.dwolla.v1.hal+json)
    Accept must list application/vnd.dwolla.v1.hal+json -> else 406 InvalidVersion.
    Authorization: Bearer <token> -> missing/not Bearer 401 InvalidCredentials, unknown token
    401 InvalidAccessToken, expired token (after token_ttl or /_admin/tokens/expire)
    401 ExpiredAccessToken.
POST /exchanges/{id}/exchange-sessions
    201, empty body, Location: {base}/exchange-sessions/{sessionId}. Checks, in order: scope
    (401 InvalidScope when /_admin/scopes says openBanking false), Idempotency-Key (below),
    exchange exists (404 NotFound), body is JSON (400 BadRequest), redirect URL: partners "mx"
    and "visa" need _links.redirect-url.href (missing -> 400 ValidationError, embedded "Required");
    "plaid" does not. A redirect URL that is not an absolute http(s) URL -> 400 ValidationError
    "/_links/redirect-url/href is invalid."; one not configured (exact string match) -> 400
    ValidationError "The provided redirect URL must exactly match one of the configured URLs for
    the account." Both embedded as {"code": "Invalid", "path": "/_links/redirect-url/href"}.
Idempotency-Key (POST /exchanges/{id}/exchange-sessions)
    Same key, same request (path + JSON body, key order ignored) within 24 h -> the original 201
    and Location, nothing created. Same key while the first request is still processing -> 409.
    Same key with a different body or exchange -> 400 ValidationError (embedded "Invalid",
    path ""): Dwolla's docs are silent, and neither replaying an answer to a different request
    nor silently creating a second session is safe, so the sandbox refuses (and does not make a
    retrying client loop, as a 409 would). Only a 201 is remembered: a request that failed
    frees its key, so a corrected retry with the same key can succeed.
GET /exchange-sessions/{id}
    200 {"created", "_links": {"self", "exchange-partner", ...}}: mx/visa add
    _links.external-provider-session.href = {public base}/_provider/{id}; plaid adds
    externalProviderSessionToken "link-sandbox-...". 404 notFound "Exchange session not found."
GET /exchanges/{id}
    200 {"_links": {"self", "exchange-partner", "customer"}, "id", "status", "created"};
    404 NotFound "The requested resource was not found. Check Exchange ID."
GET /funding-sources/{id}/balance
    While the exchange holding that funding source needs re-authentication: 400
    UpdateCredentials with _links.about.href = {base}/exchanges/{exchangeId}/exchange-sessions.
    Otherwise 200 (bank balance shape: available, closing, lastUpdated), for a bank funding
    source made without an exchange too. Unknown: 404 notFound.
    The flag flips only when an exchange session finishes with success (the bank page, the Plaid
    bank UI or the admin's complete call): creating or reading a session changes nothing.
Funding sources (one per seeded exchange, made from it: "Create Funding Source via Exchange";
and banks added by account and routing numbers, seeded with POST /_admin/funding-sources)
    GET /funding-sources/{id} -> 200 FundingSource {"_links": {"self", "customer", "exchange"
    ({base}/exchanges/{exchangeId}; absent for a bank added by numbers), "balance"}, "id",
    "status": "verified", "type": "bank", "bankAccountType", "name", "created", "removed",
    "channels": ["ach"], "bankName"}; unknown -> 404 notFound "Funding source not found."
    GET /customers/{id}/funding-sources[?removed=false] -> 200 FundingSources {"_links": {"self",
    "customer"}, "_embedded": {"funding-sources": [...]}, "total"}: the funding sources of the
    exchanges seeded with that customerId, then its banks added by numbers; removed ones are
    listed unless removed=false (the spec's default is true). A customer that no exchange or
    funding source names -> 404 notFound "Customer not found.";
    a 403 fault answers "Not authorized to list funding sources."
GET /events[?limit=25&offset=0], GET /events/{id}
    Events newest first, kept 30 days (by the sandbox clock): {"_links": {"self", "first",
    "last", "next" (when more), "prev" (when offset > 0)}, "_embedded": {"events": [{"_links":
    {"self", "account", "resource", "customer"?}, "id", "created", "topic", "resourceId"}]},
    "total"}. limit above 200 counts as 200; a limit < 1 or offset < 0 or not a number -> 400
    ValidationError (sandbox wording). Unknown event -> 404 NotFound. Events are made by
    POST /_admin/exchanges/{id}/reauth-required (topic customer_exchange_reauth_required) and
    POST /_admin/events.
Other paths: 404 NotFound; a known path with another method: 405 MethodNotAllowed.
Links (Location, _links) use --public-url if given, else http://<Host header>.

The bank
--------
GET /_provider/{sessionId}[?outcome=success|AUTHENTICATION_ERROR|USER_CANCELLED|TEMPORARY_ERROR]
    302 to the session's redirect URL + ?exchange=<exchangeId> (success) or ?error=<CODE>; the
    outcome defaults to the exchange's providerOutcome. Success makes the exchange "active" and
    no longer in need of re-authentication. Single use: a second visit -> 410 HTML page.
    Unknown session -> 404 HTML; a Plaid session (no redirect URL) -> 400 HTML.

Plaid Link stand-in (see plaid.py; no auth, logged and faultable like the bank page)
-------------------------------------------------------------------------------------
GET  /_plaid/link-initialize.js   application/javascript: window.Plaid = {create(config)} with
                                  Plaid's API ({token, onSuccess, onExit, onEvent, onLoad} ->
                                  {open, exit, destroy}); open() shows a full-window iframe on
GET  /_plaid/link?token=T         "Sandbox bank", a self-contained page (nonce CSP, framable by
                                  any http(s) page) that after ~300 ms calls
POST /_plaid/link/finish          {"token": T} (application/json, same origin) -> 200 {"outcome":
                                  the exchange's providerOutcome, "institution", "publicToken"
                                  on success}; unknown token 404 / used token 410 {"outcome":
                                  "INVALID_LINK_TOKEN"}; then postMessages the outcome to the
                                  parent, and the script calls onSuccess / onExit like Plaid.

Admin API (JSON, no auth, never logged, never faulted)
------------------------------------------------------
POST   /_admin/reset                       everything back to the start state
POST   /_admin/exchanges                   {"id"?, "partner": "mx"|"plaid"|"visa",
                                           "status"?: "active", "reauthRequired"?: true,
                                           "providerOutcome"?: "success", "fundingSourceId"?,
                                           "customerId"?, "fundingSourceRemoved"?: false}
                                           -> 201 as stored (ids generated)
GET    /_admin/exchanges[/{id}]            stored exchange(s)
POST   /_admin/funding-sources             {"customerId", "id"?, "removed"?: false}: a bank added
                                           by account and routing numbers (no exchange; its
                                           balance answers) -> 201 as stored
POST   /_admin/exchanges/{id}/reauth-required  the exchange needs re-authentication again
                                           (stays "active") and a customer_exchange_reauth_required
                                           event is recorded -> {"exchange", "event"}
POST   /_admin/events                      {"topic", "resourceId", "resourcePath"? (else from
                                           the topic), "customerId"?} -> 201 the event; a list of
                                           them -> 201 the events, all with one `created` (the
                                           last newest), as Dwolla writes events in one ms
GET    /_admin/events                      every event kept, newest first
PUT    /_admin/redirect-urls               {"urls": [...]} configured redirect URLs (GET reads them)
PUT    /_admin/scopes                      {"openBanking": bool} (GET reads it)
GET    /_admin/exchange-sessions           [{"id", "exchangeId", "partner", "redirectUrl",
                                           "idempotencyKey", "used", "outcome", "created"}]
POST   /_admin/exchange-sessions/{id}/complete  {"outcome"?} Plaid Link finished (410 if used);
                                           {id}: the session's id or its Plaid Link token
POST   /_admin/tokens/expire               every issued token answers 401 ExpiredAccessToken
POST   /_admin/faults                      {"method"?, "path" (fnmatch), "times"?: 1, "status"?,
                                           "retryAfter"?, "body"?, "delay"?, "drop"?, "query"?:
                                           {"offset": "100"} (only requests with those query
                                           values: one page of GET /events)} -> 201
GET    /_admin/faults, DELETE /_admin/faults
GET    /_admin/requests                    [{"method", "path", "query", "headers" (Authorization
                                           shown as "<scheme> [REDACTED]"), "idempotencyKey",
                                           "status" (null when dropped)}]; DELETE clears it

Faults apply to the next `times` requests matching method, path and query (Dwolla side and the
bank).
"delay" sleeps before answering; with "status" the answer is that status with Dwolla's body for it
(403 forbidden, 429 TooManyRequests + Retry-After (1 unless "retryAfter"), 5xx ServerError, ...)
unless "body" is given; "drop" closes the socket without answering. A delay-only fault lets the
request through and sleeps while it is "processing" (for the session POST: after its
Idempotency-Key is claimed, so a concurrent retry gets the 409).
"""

from .server import DwollaSandbox

__all__ = ["DwollaSandbox"]
