"""RelayFunction: the outbox's DynamoDB stream in, the service's events on EventBridge out.

Triggered by the table's stream (only new OUTBOX# items, by the event source mapping's filter),
with partial batch responses: what it reports as the first failure, Lambda retries from.
"""

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

from reauth import runtime

logger = Logger()
# The reauth package's own loggers go through Powertools' handler too (JSON, to CloudWatch).
copy_config_to_registered_loggers(source_logger=logger, include={"reauth"})
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict, context) -> dict:
    delivery = runtime.relay().deliver(event.get("Records") or [])
    metrics.add_metric("EventsRelayed", MetricUnit.Count, delivery.delivered)
    metrics.add_metric("EventsDeadLettered", MetricUnit.Count, delivery.dead_lettered)
    if delivery.retry_from is None:
        return {"batchItemFailures": []}
    metrics.add_metric("RelayRetries", MetricUnit.Count, 1)
    return {"batchItemFailures": [{"itemIdentifier": delivery.retry_from}]}
