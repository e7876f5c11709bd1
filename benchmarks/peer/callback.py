"""Peer CallbackFunction: the customer's browser (open, start, callback, the Plaid page's
complete) behind Powertools' REST resolver (the I/O is the baseline's,
benchmarks/baseline/callback.py)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from benchmarks.baseline import callback as io

from .core import logger, metrics, response

app = APIGatewayRestResolver()


def _headers() -> dict:
    return app.current_event.multi_value_headers or {}


def _noted(route: str, answer: dict) -> Response:
    if answer["statusCode"] >= 400:
        metrics.add_metric(name="Refused", unit=MetricUnit.Count, value=1)
    logger.info(route, extra={"status": answer["statusCode"]})
    return response(answer)


@app.get("/reauth/link/<request_id>")
def open_link(request_id: str) -> Response:
    query = app.current_event.multi_value_query_string_parameters or {}
    return _noted("open", io.open_link(request_id, query.get("key") or []))


@app.post("/reauth/link/<request_id>")
def start(request_id: str) -> Response:
    answer = io.start(request_id, _headers(), app.current_event.body or "")
    if answer["statusCode"] == 200:
        metrics.add_metric(name="AttemptsStarted", unit=MetricUnit.Count, value=1)
    return _noted("start", answer)


@app.get("/reauth/callback")
def callback() -> Response:
    query = app.current_event.multi_value_query_string_parameters or {}
    answer = io.callback(_headers(), query)
    if answer["statusCode"] == 303:
        metrics.add_metric(name="RequestsReauthorized", unit=MetricUnit.Count, value=1)
    return _noted("callback", answer)


@app.post("/reauth/link/<request_id>/complete")
def complete(request_id: str) -> Response:
    answer = io.complete(request_id, _headers(), app.current_event.body or "")
    if answer["statusCode"] == 200:
        metrics.add_metric(name="RequestsReauthorized", unit=MetricUnit.Count, value=1)
    return _noted("complete", answer)


@app.not_found
def not_found(_: Exception) -> Response:
    return response(io.refused())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    return app.resolve(event, context)
