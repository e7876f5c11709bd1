"""ApiFunction: the platform backend's routes (IAM-signed), EventBridge requests, the schedule.

Routes
  POST /exchanges/{exchangeId}/reauth-sessions     create a re-authentication (optional
                                                   Idempotency-Key)
  GET  /reauth-sessions/{sessionId}                a re-authentication, its attempts, its link
  POST /reauth-sessions/{sessionId}/complete       report Plaid Link's end (platform-run Link)
  POST /reauth-sessions/{sessionId}/cancel         call it off: it ends `cancelled`
  GET  /exchanges/{exchangeId}/reauth-status       the exchange's record
EventBridge: "Exchange Reauth Requested", "Dwolla UpdateCredentials", the scheduled sweep,
the service's own "Reauth Link Requested" with selfService (a renewal: renewal.py), and SES's
"Email Bounced" / "Email Complained" about the service's emails (reauth/feedback.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, single_metric
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

from reauth import feedback, runtime, snapstart, web  # noqa: F401  (snapstart: SnapStart's hooks)
from reauth.errors import ServiceError
from reauth.events import LINK_REQUESTED

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from reauth.delivery import DeliveryReport
    from reauth.model import ReauthRequest

logger = Logger()
# The reauth package's own loggers go through Powertools' handler too (JSON, to CloudWatch).
copy_config_to_registered_loggers(source_logger=logger, include={"reauth"})
metrics = Metrics()
app = APIGatewayRestResolver()
web.install_error_handlers(app, metrics)


def _answer(
    status: int, request: ReauthRequest, headers: dict[str, str] | None = None
) -> Response[str]:
    service = runtime.service()
    start_url = service.ctx.links.start_url(request.id) if request.is_open() else None
    return web.json_response(status, web.public_request(request, service.now(), start_url), headers)


@app.post("/exchanges/<exchange_id>/reauth-sessions")
def create_reauth_session(exchange_id: str) -> Response[str]:
    body = web.json_body(app.current_event)
    created = runtime.service().creating.create(
        exchange_id,
        customer_id=body.get("customerId"),
        return_url=body.get("returnUrl"),
        funding_source_id=body.get("fundingSourceId"),
        idempotency_key=web.header(app.current_event, "idempotency-key"),
        contact=body.get("contact"),
        locale=body.get("locale"),
    )
    metrics.add_metric("SessionsCreated", MetricUnit.Count, 0 if created.replayed else 1)
    _delivery_metrics(created.delivery)
    location = f"{runtime.service().ctx.links.base_url()}/reauth-sessions/{created.request.id}"
    return _answer(201 if not created.replayed else 200, created.request, {"Location": location})


@app.get("/reauth-sessions/<session_id>")
def get_reauth_session(session_id: str) -> Response[str]:
    return _answer(200, runtime.service().lifecycle.get_request(session_id))


@app.post("/reauth-sessions/<session_id>/complete")
def complete_reauth_session(session_id: str) -> Response[str]:
    body = web.json_body(app.current_event)
    return _answer(200, runtime.service().verifying.complete(session_id, body))


@app.post("/reauth-sessions/<session_id>/cancel")
def cancel_reauth_session(session_id: str) -> Response[str]:
    return _answer(200, runtime.service().lifecycle.cancel(session_id))


@app.get("/exchanges/<exchange_id>/reauth-status")
def get_reauth_status(exchange_id: str) -> Response[str]:
    record = runtime.service().lifecycle.get_exchange(exchange_id)
    return web.json_response(200, web.public_exchange(record))


def _delivery_metrics(report: DeliveryReport) -> None:
    """LinkSent and DeliveryFailed (messages) and RequestsReached (requests whose first message
    went out: the funnel's per-channel denominator), by channel (dimension Channel)."""
    for channel, count in report.sent.items():
        with single_metric(name="LinkSent", unit=MetricUnit.Count, value=count) as metric:
            metric.add_dimension(name="Channel", value=channel.value)
    for channel, count in report.failed.items():
        with single_metric(name="DeliveryFailed", unit=MetricUnit.Count, value=count) as metric:
            metric.add_dimension(name="Channel", value=channel.value)
    for channel, count in report.reached.items():
        with single_metric(name="RequestsReached", unit=MetricUnit.Count, value=count) as metric:
            metric.add_dimension(name="Channel", value=channel.value)


def _on_event(event: dict[str, Any]) -> dict[str, Any]:
    """EventBridge: the scheduled sweep, a request to re-authenticate an exchange, or the
    service's own "Reauth Link Requested" (a self-service renewal)."""
    service = runtime.service()
    if event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event":
        swept = service.lifecycle.sweep()
        caught = service.webhooks.catch_up()
        metrics.add_metric("SessionsExpired", MetricUnit.Count, swept.expired)
        metrics.add_metric("VerificationsRetried", MetricUnit.Count, swept.verified)
        metrics.add_metric("DwollaEventsCaughtUp", MetricUnit.Count, caught.recorded)
        _delivery_metrics(swept.delivery)
        return {
            "expired": swept.expired,
            "verified": swept.verified,
            "messagesSent": sum(swept.delivery.sent.values()),
            "messagesFailed": sum(swept.delivery.failed.values()),
            "eventsRead": caught.read,
            "eventsRecorded": caught.recorded,
        }
    if event.get("source") == feedback.SOURCE:
        return _on_email_feedback(event)
    try:
        if event["detail-type"] == LINK_REQUESTED:  # the service's own: a self-service renewal
            created = service.renewing.renew(event.get("detail"), event["id"])
            if created is None:
                return {"sessionId": None, "replayed": False}
        else:
            created = service.creating.from_event(
                event["detail-type"], event.get("detail"), event["id"]
            )
    except ServiceError as error:
        if error.retryable:
            raise  # Dwolla or AWS trouble, a lost race: let Lambda retry, then the dead letters
        logger.warning("event refused", extra={"errorCode": error.code, "eventId": event["id"]})
        metrics.add_metric("EventsRefused", MetricUnit.Count, 1)
        return {"refused": error.code}
    metrics.add_metric("SessionsCreated", MetricUnit.Count, 0 if created.replayed else 1)
    _delivery_metrics(created.delivery)
    return {"sessionId": created.request.id, "replayed": created.replayed}


def _on_email_feedback(event: dict[str, Any]) -> dict[str, Any]:
    """SES's news about one of the service's emails. The event names the address: it is never
    logged; the answer and the logs say the request id and what was done only."""
    news = feedback.email_feedback(event.get("detail-type"), event.get("detail"))
    if news is None:  # a transient bounce, or an email that is not the service's
        logger.info("SES event ignored", extra={"eventId": event.get("id")})
        return {"ignored": event.get("detail-type")}
    outcome = runtime.service().delivery.on_email_feedback(news)
    _delivery_metrics(outcome.report)
    logger.info("SES feedback", extra={"sessionId": news.request_id, "outcome": outcome.note})
    return {
        "sessionId": news.request_id,
        "feedback": news.kind.value,
        "outcome": outcome.note,
        "messagesSent": sum(outcome.report.sent.values()),
    }


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    runtime.service().set_time_budget(lambda: context.get_remaining_time_in_millis() / 1000)
    if "httpMethod" in event:
        return app.resolve(event, context)
    if "detail-type" in event:
        return _on_event(event)
    raise ValueError("unsupported event")
