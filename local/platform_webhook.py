"""Platform webhooks on one machine: what Lambda's SQS event source mapping does in AWS, played
against moto with PlatformWebhookFunction's own handler.

`provision` makes the template's PlatformWebhook* resources on moto from their definitions (the
rule's pattern, the queue's redrive to its dead-letter queue, the secret generated as the
template generates it). `QueuePump` receives what the queue holds, hands it to the handler as
Lambda's SQS records, deletes what the handler did not report as failed (ReportBatchItemFailures)
and leaves the failures to come back after the visibility timeout the handler set.

    python -m local.platform_webhook [STATE_DIR]   # `make up` with PLATFORM_WEBHOOK_URL set
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from local.provision import LocalResources, load_template
from local.relay import load_function_handler


@dataclass(frozen=True)
class PlatformWebhookResources:
    queue_url: str
    dead_letter_queue_url: str
    secret_id: str

    def environment(self, url: str) -> dict[str, str]:
        """PlatformWebhookFunction's own variables (beside the Globals)."""
        return {
            "PLATFORM_WEBHOOK_URL": url,
            "PLATFORM_WEBHOOK_SECRET_ID": self.secret_id,
            "PLATFORM_WEBHOOK_QUEUE_URL": self.queue_url,
        }


def provision(session, resources: LocalResources, prefix: str) -> PlatformWebhookResources:
    """The rule, queue, dead-letter queue and secret, from template.yaml's definitions."""
    template = load_template()["Resources"]
    sqs, events = session.client("sqs"), session.client("events")
    secrets = session.client("secretsmanager")
    dead = sqs.create_queue(QueueName=f"{prefix}-platform-webhook-dlq")["QueueUrl"]
    dead_arn = _arn(sqs, dead)
    props = template["PlatformWebhookQueue"]["Properties"]
    redrive = {
        "deadLetterTargetArn": dead_arn,
        "maxReceiveCount": str(props["RedrivePolicy"]["maxReceiveCount"]),
    }
    queue = sqs.create_queue(
        QueueName=f"{prefix}-platform-webhook",
        Attributes={
            "VisibilityTimeout": str(props["VisibilityTimeout"]),
            "MessageRetentionPeriod": str(props["MessageRetentionPeriod"]),
            "RedrivePolicy": json.dumps(redrive),
        },
    )["QueueUrl"]
    rule = template["PlatformWebhookRule"]["Properties"]
    assert rule["EventPattern"] == {"source": [{"Ref": "EventSource"}]}, "update local/"
    events.put_rule(
        Name=f"{prefix}-platform-webhook",
        EventBusName=resources.event_bus_name,
        EventPattern=json.dumps({"source": [resources.event_source]}),
    )
    events.put_targets(
        Rule=f"{prefix}-platform-webhook",
        EventBusName=resources.event_bus_name,
        Targets=[{"Id": "PlatformWebhookQueue", "Arn": _arn(sqs, queue)}],
    )
    name = f"{prefix}/platform-webhook"
    try:
        secret_id = secrets.describe_secret(SecretId=name)["ARN"]
    except secrets.exceptions.ResourceNotFoundException:
        generate = template["PlatformWebhookSecret"]["Properties"]["GenerateSecretString"]
        value = secrets.get_random_password(**generate)["RandomPassword"]
        secret_id = secrets.create_secret(Name=name, SecretString=value)["ARN"]
    return PlatformWebhookResources(queue, dead, secret_id)


def _arn(sqs, queue_url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return attributes["Attributes"]["QueueArn"]


class _LambdaContext:
    function_name = "PlatformWebhookFunction"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:PlatformWebhookFunction"
    memory_limit_in_mb = 512
    aws_request_id = "local-platform-webhook"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


class QueuePump:
    """Lambda's SQS event source mapping, one round at a time."""

    def __init__(self, session, queue_url: str, handler: Callable[[dict, object], dict]) -> None:
        self._sqs = session.client("sqs")
        self._queue_url = queue_url
        self._handler = handler
        self._arn = _arn(self._sqs, queue_url)

    def pump(self, batch_size: int = 5) -> int:
        """One batch through the handler; returns how many messages it was given."""
        answer = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=batch_size,
            MessageSystemAttributeNames=["All"],
        )
        messages = answer.get("Messages", [])
        if not messages:
            return 0
        records = [self._record(m) for m in messages]
        result = self._handler({"Records": records}, _LambdaContext()) or {}
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures") or []}
        for message in messages:
            if message["MessageId"] not in failed:
                self._sqs.delete_message(
                    QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        return len(messages)

    def _record(self, message: dict) -> dict:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {},
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self._arn,
            "awsRegion": "us-east-1",
        }


def load_handler(root: Path) -> Callable[[dict, object], dict]:
    """PlatformWebhookFunction's handler (functions/platform_webhook/app.py)."""
    return load_function_handler(root, "platform_webhook")


def main(argv: list[str]) -> int:
    """`make up`'s platform webhooks: the stack's moto server, the function's handler."""
    from local import stack as local_stack
    from local.provision import function_environment

    state_dir = Path(argv[0]) if argv else local_stack.ROOT / ".local"
    stack = local_stack.Stack.load(state_dir)
    if stack is None or not stack.platform_webhook:
        print(f"no local stack with platform webhooks in {state_dir}", file=sys.stderr)
        return 1
    session = stack.aws()
    webhook = PlatformWebhookResources(**stack.platform_webhook)
    os.environ.update(
        function_environment(
            stack.local_resources(),
            {
                "AWS_ENDPOINT_URL": stack.moto_url,
                "PUBLIC_BASE_URL": stack.api_url,
                **webhook.environment(stack.platform_webhook_url),
            },
        )
    )
    sys.path.insert(0, str(local_stack.ROOT / "layers" / "reauth"))
    pump = QueuePump(session, webhook.queue_url, load_handler(local_stack.ROOT))
    while True:
        try:
            if pump.pump():
                continue
        except Exception as error:  # moto restarting, a handler fault: go on, as Lambda does
            print(f"platform webhook: {error!r}", file=sys.stderr, flush=True)
        time.sleep(0.3)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
