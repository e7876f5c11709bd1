"""ApiFunction: the platform backend's routes (IAM-signed), EventBridge requests, the expiry sweep.

Routes
  POST /exchanges/{exchangeId}/reauth-sessions     create a session (optional Idempotency-Key)
  GET  /reauth-sessions/{sessionId}                a session
  POST /reauth-sessions/{sessionId}/complete       end a token handoff (Plaid Link)
  GET  /exchanges/{exchangeId}/reauth-status       the exchange's record
EventBridge: "Exchange Reauth Requested", "Dwolla UpdateCredentials", and the scheduled sweep.
"""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from reauth import runtime, web
from reauth.errors import ServiceError

logger = Logger()
metrics = Metrics()
app = APIGatewayRestResolver()
web.install_error_handlers(app, metrics)


@app.post("/exchanges/<exchange_id>/reauth-sessions")
def create_reauth_session(exchange_id: str):
    body = web.json_body(app.current_event)
    service = runtime.service()
    created = service.create_reauth_session(
        exchange_id,
        customer_id=body.get("customerId"),
        return_url=body.get("returnUrl"),
        idempotency_key=web.header(app.current_event, "idempotency-key"),
    )
    answer = created.session.to_public(service.now())
    answer["startUrl"] = created.start_url
    metrics.add_metric("SessionsCreated", MetricUnit.Count, 0 if created.replayed else 1)
    return web.json_response(
        200 if created.replayed else 201,
        answer,
        {"Location": f"/reauth-sessions/{created.session.id}"},
    )


@app.get("/reauth-sessions/<session_id>")
def get_reauth_session(session_id: str):
    service = runtime.service()
    return web.json_response(200, service.get_session(session_id).to_public(service.now()))


@app.post("/reauth-sessions/<session_id>/complete")
def complete_reauth_session(session_id: str):
    service = runtime.service()
    session = service.complete(session_id, web.json_body(app.current_event))
    return web.json_response(200, session.to_public(service.now()))


@app.get("/exchanges/<exchange_id>/reauth-status")
def get_reauth_status(exchange_id: str):
    return web.json_response(200, runtime.service().get_exchange_status(exchange_id))


def _on_event(event: dict) -> dict:
    """EventBridge: the scheduled sweep, or a request to re-authenticate an exchange."""
    service = runtime.service()
    if event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event":
        closed = service.sweep_expired()
        metrics.add_metric("SessionsExpired", MetricUnit.Count, closed)
        return {"expired": closed}
    try:
        created = service.create_from_event(event["detail-type"], event.get("detail"), event["id"])
    except ServiceError as error:
        if error.status >= 500:
            raise  # Dwolla or AWS trouble: let Lambda retry, then the dead-letter queue
        logger.warning("event refused", extra={"errorCode": error.code, "eventId": event["id"]})
        metrics.add_metric("EventsRefused", MetricUnit.Count, 1)
        return {"refused": error.code}
    metrics.add_metric("SessionsCreated", MetricUnit.Count, 0 if created.replayed else 1)
    return {"sessionId": created.session.id, "replayed": created.replayed}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    runtime.service().set_time_budget(lambda: context.get_remaining_time_in_millis() / 1000)
    if "httpMethod" in event:
        return app.resolve(event, context)
    if "detail-type" in event:
        return _on_event(event)
    raise ValueError("unsupported event")
