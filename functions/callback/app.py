"""CallbackFunction: what a browser (and Dwolla's webhooks) reach; no IAM, every input checked.

Routes
  GET  /reauth-sessions/{sessionId}/start?key=…   bind the browser, 302 to the bank
  GET  /reauth/callback?exchange=…|error=…        Dwolla's redirect back, 302 to the return URL
  GET  /reauth/done?status=…&session=…            the built-in return page
  POST /webhooks/dwolla                           Dwolla webhooks (signed)
"""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from reauth import runtime, web
from reauth.service import BrowserRejected

logger = Logger()
metrics = Metrics()
app = APIGatewayRestResolver()
web.install_error_handlers(app, metrics, browser_paths=("/reauth-sessions/", "/reauth/"))


@app.exception_handler(BrowserRejected)
def _refused(rejection: BrowserRejected):
    logger.info("browser request refused", extra={"reason": str(rejection)})
    metrics.add_metric("BrowserRequestsRefused", MetricUnit.Count, 1)
    return web.refused_page()


@app.get("/reauth-sessions/<session_id>/start")
def start(session_id: str):
    query = app.current_event.resolved_query_string_parameters
    keys = query.get("key") or []
    answer = runtime.service().start(session_id, keys[0] if len(keys) == 1 else None)
    return web.redirect(answer.location, {"Set-Cookie": answer.set_cookie})


@app.get("/reauth/callback")
def callback():
    event = app.current_event
    answer = runtime.service().callback(
        web.header_values(event, "cookie"), event.resolved_query_string_parameters
    )
    return web.redirect(answer.location)


@app.get("/reauth/done")
def done():
    statuses = app.current_event.resolved_query_string_parameters.get("status") or []
    message = web.DONE_MESSAGES.get(statuses[0] if len(statuses) == 1 else "")
    if message is None:
        return web.refused_page()
    return web.page(200, "Bank connection", message)


@app.post("/webhooks/dwolla")
def dwolla_webhook():
    event = app.current_event
    outcome = runtime.service().handle_webhook(
        web.raw_body(event), web.header(event, "x-request-signature-sha-256")
    )
    metrics.add_metric("WebhooksReceived", MetricUnit.Count, 1)
    return web.json_response(200, {"outcome": outcome})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    runtime.service().set_time_budget(lambda: context.get_remaining_time_in_millis() / 1000)
    return app.resolve(event, context)
