"""Peer ApiFunction: create, status and the platform's /complete behind Powertools' REST
resolver (the I/O is the baseline's, benchmarks/baseline/api.py)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from benchmarks.baseline import api as io
from benchmarks.baseline import core as baseline

from .core import logger, metrics, response

app = APIGatewayRestResolver()


@app.post("/exchanges/<exchange_id>/reauth-sessions")
def create(exchange_id: str) -> Response:
    answer = io.create(exchange_id, app.current_event.json_body or {})
    if answer["statusCode"] == 201:
        metrics.add_metric(name="SessionsCreated", unit=MetricUnit.Count, value=1)
    logger.info("create", extra={"exchange_id": exchange_id, "status": answer["statusCode"]})
    return response(answer)


@app.get("/exchanges/<exchange_id>/reauth-status")
def status(exchange_id: str) -> Response:
    return response(io.status(exchange_id))


@app.post("/reauth-sessions/<request_id>/complete")
def complete(request_id: str) -> Response:
    answer = io.complete(request_id, app.current_event.json_body or {})
    if answer["statusCode"] == 200:
        metrics.add_metric(name="SessionsCompleted", unit=MetricUnit.Count, value=1)
    logger.info("complete", extra={"request_id": request_id, "status": answer["statusCode"]})
    return response(answer)


@app.not_found
def not_found(_: Exception) -> Response:
    return response(baseline.respond(404, {"code": "NotFound"}))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    return app.resolve(event, context)
