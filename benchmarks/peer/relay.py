"""Peer RelayFunction: the baseline's relay (benchmarks/baseline/relay.py) with Powertools'
Logger (the invocation's context) and Metrics (events relayed, flushed as EMF)."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from benchmarks.baseline import relay as io

from .core import logger, metrics


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    answer = io.handler(event, context)
    sent = len(event.get("Records") or []) - (1 if answer["batchItemFailures"] else 0)
    metrics.add_metric(name="EventsRelayed", unit=MetricUnit.Count, value=sent)
    logger.info("relayed", extra={"records": len(event.get("Records") or [])})
    return answer
