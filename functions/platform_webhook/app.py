"""PlatformWebhookFunction: the service's events, signed, to the platform's URL.

Triggered by PlatformWebhookQueue (fed by a rule on the service's bus matching the service's own
source), with partial batch responses: an event the platform did not answer 2xx is reported as a
failure, held back for its backoff (reauth.platform_webhooks.retry_delay) and tried again, until
SQS moves it to PlatformWebhookDeadLetterQueue (~24 h; its alarm fires). Only on when the stack's
PlatformWebhookUrl is set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

from reauth import runtime, snapstart  # noqa: F401  (snapstart: SnapStart's hooks)

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
copy_config_to_registered_loggers(source_logger=logger, include={"reauth"})
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcome = runtime.platform_webhooks().deliver(event.get("Records") or [])
    metrics.add_metric("PlatformWebhooksDelivered", MetricUnit.Count, outcome.delivered)
    metrics.add_metric("PlatformWebhooksFailed", MetricUnit.Count, len(outcome.failed))
    return {"batchItemFailures": [{"itemIdentifier": m} for m in outcome.failed]}
