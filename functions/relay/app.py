"""RelayFunction: the outbox's DynamoDB stream in, the service's events on EventBridge out.

Triggered by the table's stream (only new OUTBOX# items, by the event source mapping's filter),
with partial batch responses: what it reports as the first failure, Lambda retries from. A
PutEvents call that fails before any event of the batch was delivered fails the invocation
(reauth.relaying.PublishFailed): an error the RelayFunction errors alarm counts, and Lambda
retries the whole batch, none of which was sent. Retries end at the event source mapping's
bounds (template.yaml: 6 h of record age); what is given up is re-driven from the outbox
(python -m reauth.redrive).

Every outcome, whichever route or schedule made it, passes here as an event: the re-authorized
requests and the failed attempts (by the provider's reason) are counted as they are delivered.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from reauth import events, runtime, snapstart  # noqa: F401  (snapstart: SnapStart's hooks)
from reauth.outbox import Envelope

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
# The reauth package's own loggers go through Powertools' handler too (JSON, to CloudWatch).
copy_config_to_registered_loggers(source_logger=logger, include={"reauth"})
metrics = Metrics()


def _count_outcomes(sent: tuple[Envelope, ...]) -> None:
    reauthorized = [e for e in sent if e.detail_type == events.EXCHANGE_REAUTHORIZED]
    metrics.add_metric("RequestsReauthorized", MetricUnit.Count, len(reauthorized))
    channels = Counter(str(json.loads(e.detail).get("reachedBy") or "none") for e in reauthorized)
    for channel, count in channels.items():  # the funnel's last step, by the first message's
        with single_metric(name="RequestsReauthorized", unit=MetricUnit.Count, value=count) as m:
            m.add_dimension(name="Channel", value=channel)
    reasons = Counter(
        str(json.loads(e.detail).get("reason") or "unknown")
        for e in sent
        if e.detail_type == events.ATTEMPT_FAILED
    )
    for reason, count in reasons.items():  # the provider's error codes and NOT_REPAIRED
        with single_metric(name="AttemptsFailed", unit=MetricUnit.Count, value=count) as metric:
            metric.add_dimension(name="reason", value=reason)


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    delivery = runtime.relay().deliver(event.get("Records") or [])
    metrics.add_metric("EventsRelayed", MetricUnit.Count, delivery.delivered)
    metrics.add_metric("EventsDeadLettered", MetricUnit.Count, delivery.dead_lettered)
    _count_outcomes(delivery.sent)
    if delivery.retry_from is None:
        return {"batchItemFailures": []}
    metrics.add_metric("RelayRetries", MetricUnit.Count, 1)
    return {"batchItemFailures": [{"itemIdentifier": delivery.retry_from}]}
