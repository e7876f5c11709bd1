"""CallbackFunction: what a browser (and Dwolla's webhooks) reach; no IAM, every input checked.

Routes
  GET|HEAD /reauth/link/{sessionId}?key=…        the start page (changes nothing)
  POST     /reauth/link/{sessionId}              its button: bind this browser, go to the bank
  POST     /reauth/link/{sessionId}/complete     the Plaid page reports Link's end
  GET      /reauth/link/{sessionId}/status       the verifying page's poll (bound browser only;
                                                 read-only, no Dwolla call): JSON
  POST     /reauth/link/{sessionId}/renew        "Send me a new link" (an expired or cancelled
                                                 link's page): the platform is told
  GET      /reauth/callback?exchange=…|error=…   Dwolla's redirect back, 303 to the return URL
  GET      /reauth/plaid-oauth?oauth_state_id=…  Plaid's return from an OAuth bank (with
                                                 PLAID_REDIRECT_URL): the Plaid page again
  GET      /reauth/done?status=…&session=…       the built-in result page, for every status a
           [&lang=es]                            landing carries (see LANDING_OUTCOMES), in the
                                                 request's language
  POST     /webhooks/dwolla                      Dwolla webhooks (signed)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from reauth import inapp, pages, runtime, snapstart, web  # noqa: F401  (snapstart: SnapStart's hooks)
from reauth.errors import ErrorCode, ServiceError
from reauth.ids import normalize_uuid
from reauth.journey import Browser, BrowserRejected, PlaidReturn, Started, StartPage
from reauth.model import NOT_REPAIRED, PROVIDER_ERRORS, ReauthRequest, RequestStatus
from reauth.security import new_secret
from reauth.urls import with_query
from reauth.words import choose_locale, language

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
# The reauth package's own loggers go through Powertools' handler too (JSON, to CloudWatch).
copy_config_to_registered_loggers(source_logger=logger, include={"reauth"})
metrics = Metrics()
app = APIGatewayRestResolver()


def _platform() -> str:
    return runtime.config().platform_name


def _locale(request: ReauthRequest | None = None) -> str:
    """The language of this answer's page: the request's (when one is read), else the
    browser's Accept-Language, else the deployment's DEFAULT_LOCALE (words.choose_locale)."""
    accept = web.header(app.current_event, "accept-language")
    default = runtime.config().default_locale
    return choose_locale(request.locale if request else None, accept, default)


web.install_error_handlers(
    app, metrics, browser_paths=("/reauth/",), platform=_platform, locale=_locale
)


def _note_refusal(rejection: BrowserRejected) -> None:
    logger.info("browser request refused", extra={"reason": str(rejection)})
    metrics.add_metric("BrowserRequestsRefused", MetricUnit.Count, 1)


def _refused(rejection: BrowserRejected) -> Response[str]:
    _note_refusal(rejection)
    return web.refused_page(_platform(), _locale())


# By call, not as a decorator: Powertools' exception_handler() is unannotated (see web.py).
app.exception_handler(BrowserRejected)(_refused)


def _browser() -> Browser:
    event = app.current_event
    purpose = web.header(event, "sec-purpose") or web.header(event, "purpose") or ""
    return Browser(
        cookies=web.header_values(event, "cookie"),
        origin=web.header(event, "origin"),
        fetch_site=web.header(event, "sec-fetch-site"),
        prefetch="prefetch" in purpose.lower(),
    )


def _channel(request: ReauthRequest) -> str:
    """The funnel's Channel dimension: the first message's channel, or "none" (the platform
    delivered the link itself)."""
    channel = request.reached_by
    return channel.value if channel else "none"


def _one(values: list[str] | None) -> str | None:
    return values[0] if values and len(values) == 1 else None


def _status_page(shown: StartPage, key: str | None = None) -> Response[str]:
    """The page for a request that is not (or no longer) being started."""
    service = runtime.service()
    request, platform, locale = shown.request, _platform(), _locale(shown.request)
    return_url = request.return_url if request else None
    said = {"platform": platform, "locale": locale}
    if shown.kind == "start" and request is not None:
        user_agent = web.header(app.current_event, "user-agent")
        in_app = inapp.in_app_browser(user_agent) is not None
        page = pages.start_page(
            platform=platform,
            locale=locale,
            action_url=service.ctx.links.action_url(request.id),
            key=key,
            handoff=request.handoff_type.value,
            render=new_secret(),  # one rendering starts at most one attempt
            # Inside another app: lead with this link (the service's own) in the browser.
            in_app_link=service.ctx.links.start_url(request.id) if in_app else None,
            android=inapp.on_android(user_agent),
        )
    elif shown.kind == "done":  # reauthorized, here or elsewhere: nothing more to do
        page = pages.result_page(**said, outcome="already_done", return_url=return_url)
    elif shown.kind == "verifying" and request is not None:  # checks on its own till it ends
        # "Check again": the result page (the link key is never put on a page but the start's)
        page = pages.result_page(
            **said,
            outcome="verifying",
            return_url=return_url,
            status_url=service.ctx.links.status_url(request.id),
            check_url=_check_again_url(request.id, locale),
        )
    elif shown.kind == "too_many_attempts":  # for good: the platform must make a new request
        page = pages.error_page(**said, kind="too_many_attempts")
    elif shown.kind == "busy":  # lost to concurrent clicks on the link: "reload in a moment"
        page = pages.error_page(**said, kind="unavailable")
    elif shown.kind in pages.RENEWABLE and request is not None and key is not None:
        page = pages.closed_link_page(
            **said,
            reason=shown.kind,
            renew_action=service.ctx.links.renew_url(request.id),
            key=key,
        )
    elif shown.kind == "cancelled":  # no key to ask for a new link with
        page = pages.result_page(**said, outcome="cancelled", return_url=return_url)
    else:
        page = pages.error_page(**said, kind="closed")
    return web.html_page(page, {"Set-Cookie": shown.set_cookie} if shown.set_cookie else None)


@app.route("/reauth/link/<session_id>", method=["GET", "HEAD"])
def open_link(session_id: str) -> Response[str]:
    event = app.current_event
    key = _one(event.resolved_query_string_parameters.get("key"))
    head = event.http_method == "HEAD"
    shown = runtime.service().journey.open_link(session_id, key, _browser(), head=head)
    if shown.first_opened and shown.request is not None:  # once per request: the funnel's step
        with single_metric(name="LinkOpened", unit=MetricUnit.Count, value=1) as metric:
            metric.add_dimension(name="Channel", value=_channel(shown.request))
    return _status_page(shown, key)


@app.post("/reauth/link/<session_id>")
def start(session_id: str) -> Response[str]:
    service = runtime.service()
    form = web.form_body(app.current_event)
    key, render = _one(form.get("key")), _one(form.get("render"))
    answer = service.journey.start(session_id, key, _browser(), render)
    if isinstance(answer, StartPage):
        return _status_page(answer, key)
    metrics.add_metric("AttemptsStarted", MetricUnit.Count, 1)
    with single_metric(name="AttemptsStarted", unit=MetricUnit.Count, value=1) as metric:
        metric.add_dimension(name="Channel", value=_channel(answer.request))
    return web.html_page(_handoff_page(answer), {"Set-Cookie": answer.set_cookie})


def _handoff_page(started: Started) -> pages.Page:
    service, attempt = runtime.service(), started.attempt
    locale = _locale(started.request)
    if attempt.handoff_url:
        return pages.to_bank_page(platform=_platform(), bank_url=attempt.handoff_url, locale=locale)
    return pages.plaid_page(
        platform=_platform(),
        locale=locale,
        script_url=service.ctx.settings.plaid_link_script_url,
        token=attempt.handoff_token or "",
        complete_url=service.ctx.links.complete_url(started.request.id),
        csrf=started.csrf,
    )


@app.post("/reauth/link/<session_id>/renew")
def renew(session_id: str) -> Response[str]:
    """ "Send me a new link": the link's key in the form, from the service's own page."""
    service = runtime.service()
    key = _one(web.form_body(app.current_event).get("key"))
    asked = service.renewing.request_link(session_id, key, _browser())
    if asked.kind == "not_renewable":  # open, done or closed for good: the link's own page
        return _status_page(service.journey.open_link(session_id, key, _browser()), key)
    page = pages.link_requested_page(
        platform=_platform(),
        self_service=asked.self_service,
        already=asked.kind == "already",
        locale=_locale(),  # the renewal's answer names no request: the browser's language
    )
    return web.html_page(page)


@app.post("/reauth/link/<session_id>/complete")
def complete(session_id: str) -> Response[str]:
    event = app.current_event
    landing = runtime.service().journey.complete(
        session_id, _browser(), web.header(event, "x-reauth-csrf"), web.json_body(event)
    )
    return web.json_response(200, {"location": landing.location})


@app.get("/reauth/link/<session_id>/status")
def follow(session_id: str) -> Response[str]:
    """The verifying page's poll: `{"status": "verifying"}`, or the landing's status and
    `location` once the request has ended. A browser not bound to the request (or any malformed
    request) gets NotBound, and learns nothing."""
    try:
        followed = runtime.service().journey.follow(session_id, _browser())
    except BrowserRejected as rejection:  # JSON, not the refusal page: the poll reads it
        _note_refusal(rejection)
        request_id = app.current_event.request_context.request_id
        return web.error_response(ServiceError(ErrorCode.NOT_BOUND), request_id)
    if followed.location is None:
        return web.json_response(200, {"status": followed.status})
    return web.json_response(200, {"status": followed.status, "location": followed.location})


def _check_again_url(session_id: str, locale: str) -> str:
    """The result page of a verifying request, in `locale`: loaded again by a browser bound to
    it once the request has ended, it goes on to the landing (done())."""
    params = {"status": RequestStatus.VERIFYING.value, "session": session_id}
    if lang := language(locale):
        params["lang"] = lang
    return with_query(runtime.service().ctx.links.done_url(), params)


@app.get("/reauth/callback")
def callback() -> Response[str]:
    query = app.current_event.resolved_query_string_parameters
    landing = runtime.service().journey.callback(_browser(), query)
    return web.redirect(landing.location)


@app.get("/reauth/plaid-oauth")
def plaid_oauth_return() -> Response[str]:
    """Back from an OAuth bank: Link opens again on the same attempt (no new Dwolla session)."""
    query = app.current_event.resolved_query_string_parameters
    answer = runtime.service().journey.plaid_return(_browser(), query)
    if not isinstance(answer, PlaidReturn):
        return web.redirect(answer.location)  # that attempt is over: its result
    page = pages.plaid_page(
        platform=_platform(),
        locale=_locale(answer.request),
        script_url=runtime.service().ctx.settings.plaid_link_script_url,
        token=answer.attempt.handoff_token or "",
        complete_url=runtime.service().ctx.links.complete_url(answer.request.id),
        csrf=answer.csrf,
        received_redirect_uri=answer.received_redirect_uri,
    )
    return web.html_page(page)


# What the result page shows for each status a landing carries (journey._landing puts it on the
# return URL, or on /reauth/done when the platform gave none): the request's status, or
# attempt_failed (still pending; the bound attempt ended, with its reason).
LANDING_OUTCOMES = {
    RequestStatus.REAUTHORIZED: "reauthorized",
    RequestStatus.REAUTHORIZED_ELSEWHERE: "reauthorized_elsewhere",  # repaired meanwhile
    RequestStatus.VERIFYING: "verifying",
    RequestStatus.EXPIRED: "closed",
    RequestStatus.SUPERSEDED: "closed",
    RequestStatus.REJECTED: "closed",  # its funding source was not the exchange's
    RequestStatus.CANCELLED: "cancelled",  # the platform called it off
}


@app.get("/reauth/done")
def done() -> Response[str]:
    """The built-in result page: `?status=` is one of LANDING_OUTCOMES' statuses; or
    `attempt_failed` with `session` and a `reason` (NOT_REPAIRED or a provider error), or
    `pending` with `session` (the attempt's end not on record): both offer "Try again"."""
    query = app.current_event.resolved_query_string_parameters
    status, reason = _one(query.get("status")), _one(query.get("reason"))
    session_id = normalize_uuid(_one(query.get("session")))
    # Its language comes as `lang` (journey._landing puts it on this page's URL), else the
    # browser's, else the deployment's. Only a language we have is used. No request is read
    # here, but for `verifying` by a browser bound to it (one GetItem: has it ended?).
    platform = _platform()
    accept = web.header(app.current_event, "accept-language")
    locale = choose_locale(_one(query.get("lang")), accept, runtime.config().default_locale)
    if status == RequestStatus.VERIFYING and session_id is not None:
        return _verifying_done(session_id, platform, locale)
    if status in LANDING_OUTCOMES:
        outcome = LANDING_OUTCOMES[RequestStatus(status)]
        return web.html_page(pages.result_page(platform=platform, outcome=outcome, locale=locale))
    if session_id is None:
        return web.refused_page(platform, locale)
    retry = {"retry_action": runtime.service().ctx.links.action_url(session_id)}
    retry["retry_render"] = new_secret()  # one rendering starts at most one attempt
    if status == "attempt_failed" and reason in (*PROVIDER_ERRORS, NOT_REPAIRED):
        page = pages.result_page(
            platform=platform,
            outcome="unverified" if reason == NOT_REPAIRED else "failed",
            reason=None if reason == NOT_REPAIRED else reason,
            locale=locale,
            **retry,
        )
        return web.html_page(page)
    if status == RequestStatus.PENDING:
        page = pages.result_page(platform=platform, outcome="failed", locale=locale, **retry)
        return web.html_page(page)
    return web.refused_page(platform, locale)


def _verifying_done(session_id: str, platform: str, locale: str) -> Response[str]:
    """The verifying result page, which follows the request on its own; for a browser bound to
    it, once the request has ended, straight on to the landing (a reload, "Check again")."""
    links = runtime.service().ctx.links
    try:
        followed = runtime.service().journey.follow(session_id, _browser())
    except BrowserRejected:
        followed = None  # another browser: the page, as for anyone
    if followed is not None and followed.location is not None:
        return web.redirect(followed.location)
    page = pages.result_page(
        platform=platform,
        outcome="verifying",
        locale=locale,
        status_url=links.status_url(session_id),
        check_url=_check_again_url(session_id, locale),
    )
    return web.html_page(page)


@app.post("/webhooks/dwolla")
def dwolla_webhook() -> Response[str]:
    event = app.current_event
    outcome = runtime.service().webhooks.handle(
        web.raw_body(event), web.header(event, "x-request-signature-sha-256")
    )
    metrics.add_metric("WebhooksReceived", MetricUnit.Count, 1)
    return web.json_response(200, {"outcome": outcome})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    runtime.service().set_time_budget(lambda: context.get_remaining_time_in_millis() / 1000)
    return app.resolve(event, context)
