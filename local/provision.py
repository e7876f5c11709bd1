"""Build the service's AWS resources on moto from template.yaml's own definitions.

moto's CloudFormation does not understand the SAM transform, so the resources the functions use
are created with boto3 from the very properties in template.yaml: the table (keys, index, TTL),
the event bus, the Dwolla secret, the link secret (generated as the template generates it),
plus a "tap" (a rule on the bus → an SQS queue) through which tests and the demo read the events
the functions publish. The functions' environment is taken from the template's Globals too,
with local values filled in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
FUNCTIONS = ("ApiFunction", "CallbackFunction")
LOCAL_EMAIL_SENDER = "reauth@acme-pay.example"
LOCAL_REMINDER_SCHEDULE = "1m"


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form intrinsics (!Ref, !Sub, ...) as plain dicts."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node):
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE) -> dict:
    return yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 (SafeLoader subclass)


def table_definition(template: dict, table_name: str) -> dict:
    """create_table arguments from the template's ReauthTable (plus its TTL setting)."""
    props = template["Resources"]["ReauthTable"]["Properties"]
    definition = {
        "TableName": table_name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props["BillingMode"],
    }
    if props.get("GlobalSecondaryIndexes"):
        definition["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if props.get("StreamSpecification"):
        definition["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    return definition


def ttl_attribute(template: dict) -> str:
    return template["Resources"]["ReauthTable"]["Properties"]["TimeToLiveSpecification"][
        "AttributeName"
    ]


@dataclass(frozen=True)
class LocalResources:
    table_name: str
    event_bus_name: str
    secret_id: str
    tap_queue_url: str
    event_source: str
    dead_letter_queue_url: str = ""
    link_secret_id: str = ""
    email_sender: str = ""


@dataclass(frozen=True)
class DwollaSecretValue:
    key: str
    secret: str
    webhook_secret: str

    def as_json(self) -> str:
        return json.dumps(
            {"key": self.key, "secret": self.secret, "webhookSecret": self.webhook_secret}
        )


def generated_link_secret(secrets, template: dict) -> str:
    """A value as the template's LinkSecret generates it (its GenerateSecretString)."""
    generate = template["Resources"]["LinkSecret"]["Properties"]["GenerateSecretString"]
    return secrets.get_random_password(**generate)["RandomPassword"]


def ensure_link_secret(secrets, name: str, template: dict, value: str | None = None) -> str:
    """The link secret's ARN: created when missing (with `value`, or generated); an existing
    one is kept as it is (its links keep working), or given `value` (a rotation)."""
    try:
        arn = secrets.describe_secret(SecretId=name)["ARN"]
    except secrets.exceptions.ResourceNotFoundException:
        value = value or generated_link_secret(secrets, template)
        return secrets.create_secret(Name=name, SecretString=value)["ARN"]
    if value is not None and secrets.get_secret_value(SecretId=arn)["SecretString"] != value:
        secrets.put_secret_value(SecretId=arn, SecretString=value)
    return arn


def provision(
    session,
    *,
    prefix: str = "dwolla-reauth-local",
    dwolla: DwollaSecretValue,
    link_secret: str | None = None,
    template: dict | None = None,
) -> LocalResources:
    """Create (or reuse) the table (with its stream), bus, secrets, event tap and dead-letter
    queue. Idempotent. The link secret is generated unless `link_secret` is given."""
    template = template or load_template()
    dynamodb = session.client("dynamodb")
    events = session.client("events")
    secrets = session.client("secretsmanager")
    sqs = session.client("sqs")

    table_name = f"{prefix}-table"
    if table_name not in dynamodb.list_tables()["TableNames"]:
        dynamodb.create_table(**table_definition(template, table_name))
        dynamodb.get_waiter("table_exists").wait(TableName=table_name)
        dynamodb.update_time_to_live(
            TableName=table_name,
            TimeToLiveSpecification={"AttributeName": ttl_attribute(template), "Enabled": True},
        )

    bus_name = f"{prefix}-reauth"
    if not any(b["Name"] == bus_name for b in events.list_event_buses()["EventBuses"]):
        events.create_event_bus(Name=bus_name)

    secret_name = f"{prefix}/dwolla"
    try:
        secret_id = secrets.describe_secret(SecretId=secret_name)["ARN"]
        secrets.put_secret_value(SecretId=secret_name, SecretString=dwolla.as_json())
    except secrets.exceptions.ResourceNotFoundException:
        secret_id = secrets.create_secret(Name=secret_name, SecretString=dwolla.as_json())["ARN"]
    link_secret_id = ensure_link_secret(secrets, f"{prefix}/link", template, link_secret)

    event_source = template["Parameters"]["EventSource"]["Default"]
    queue_url = sqs.create_queue(QueueName=f"{prefix}-event-tap")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events.put_rule(
        Name=f"{prefix}-event-tap",
        EventBusName=bus_name,
        EventPattern=json.dumps({"source": [event_source]}),
    )
    events.put_targets(
        Rule=f"{prefix}-event-tap",
        EventBusName=bus_name,
        Targets=[{"Id": "tap", "Arn": queue_arn}],
    )
    dead_letters = sqs.create_queue(QueueName=f"{prefix}-dead-letters")["QueueUrl"]
    ensure_email_identity(session.client("sesv2"), LOCAL_EMAIL_SENDER)
    return LocalResources(
        table_name,
        bus_name,
        secret_id,
        queue_url,
        event_source,
        dead_letters,
        link_secret_id,
        LOCAL_EMAIL_SENDER,
    )


def ensure_email_identity(sesv2, address: str) -> None:
    """The sender identity SES sends from (verified at once on moto; on AWS the deployer
    verifies it before deploying with EmailSender set)."""
    try:
        sesv2.get_email_identity(EmailIdentity=address)
    except sesv2.exceptions.NotFoundException:
        sesv2.create_email_identity(EmailIdentity=address)


def delivery_environment(resources: LocalResources) -> dict[str, str]:
    """ApiFunction's delivery settings locally: email from the moto identity, SMS on, the first
    reminder a minute after the first message (so the demo can show one), no quiet hours (the
    demo and the tests run at any hour; the quiet hours themselves are tested on a frozen
    clock)."""
    return {
        "EMAIL_SENDER": resources.email_sender,
        "SES_CONFIGURATION_SET": "",
        "SMS_ENABLED": "true",
        "SMS_ORIGINATION_NUMBER": "",
        "REMINDER_SCHEDULE": LOCAL_REMINDER_SCHEDULE,
        "QUIET_HOURS": "off",
        "DEPLOYMENT_TIME_ZONE": "UTC",
    }


def function_environment(resources: LocalResources, overrides: dict[str, str]) -> dict[str, str]:
    """The functions' environment: the template's Globals, with local values for each variable."""
    template_vars = load_template()["Globals"]["Function"]["Environment"]["Variables"]
    local = {
        "TABLE_NAME": resources.table_name,
        "EVENT_BUS_NAME": resources.event_bus_name,
        "DWOLLA_SECRET_ID": resources.secret_id,
        "LINK_SECRET_ID": resources.link_secret_id,
        "DWOLLA_ENVIRONMENT": "sandbox",
        "DWOLLA_API_BASE_URL": "",
        "PUBLIC_BASE_URL": "",
        "PUBLIC_BASE_URL_PARAMETER": "/dwolla-reauth-local/public-base-url",
        "CALLBACK_URL": "",
        "PLAID_REDIRECT_URL": "",  # off; local/stack.py sets the local one
        "RETURN_URL_ALLOWLIST": "",
        "SESSION_TTL_MINUTES": "30",
        "REQUEST_LIFETIME_DAYS": "7",
        "PLATFORM_DISPLAY_NAME": "Acme Pay",
        "DEFAULT_LOCALE": "en",
        "ALLOW_SELF_SERVICE_RENEWAL": "false",
        "PLAID_LINK_SCRIPT_URL": "https://cdn.plaid.com/link/v2/stable/link-initialize.js",
        "EVENT_SOURCE": resources.event_source,
        "SECRET_CACHE_SECONDS": "300",
        "POWERTOOLS_SERVICE_NAME": "dwolla-reauth",
        "POWERTOOLS_METRICS_NAMESPACE": "DwollaReauth",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "AWS_ENDPOINT_URL": "",
    }
    missing = set(template_vars) - set(local)
    if missing:
        raise KeyError(f"no local value for template variables: {sorted(missing)}")
    env = {name: local[name] for name in template_vars}
    env.update(overrides)
    return env


def subscribe_to_requests(
    session, resources: LocalResources, name: str, trigger_name: str = "ReauthRequested"
) -> str:
    """An SQS queue behind a rule with the template's own pattern for one of ApiFunction's
    EventBridge triggers (`trigger_name`): what is put on the bus arrives there exactly as the
    function gets it. Returns the queue URL (moto runs no Lambda; the queue stands in for the
    function)."""
    events, sqs = session.client("events"), session.client("sqs")
    trigger = load_template()["Resources"]["ApiFunction"]["Properties"]["Events"]
    pattern = json.dumps(trigger[trigger_name]["Properties"]["Pattern"]).replace(
        json.dumps({"Ref": "EventSource"}), json.dumps(resources.event_source)
    )
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    events.put_rule(Name=name, EventBusName=resources.event_bus_name, EventPattern=pattern)
    events.put_targets(
        Rule=name,
        EventBusName=resources.event_bus_name,
        Targets=[{"Id": "requests", "Arn": arn["Attributes"]["QueueArn"]}],
    )
    return queue_url


def put_platform_event(
    session,
    resources: LocalResources,
    detail_type: str,
    detail: dict,
    source: str = "platform.payments",
) -> None:
    session.client("events").put_events(
        Entries=[
            {
                "EventBusName": resources.event_bus_name,
                "Source": source,
                "DetailType": detail_type,
                "Detail": json.dumps(detail),
            }
        ]
    )


def drain_events(session, queue_url: str, wait_seconds: int = 0) -> list[dict]:
    """Every event waiting in the tap queue (EventBridge envelopes, detail parsed)."""
    sqs = session.client("sqs")
    found = []
    while True:
        answer = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
        )
        messages = answer.get("Messages", [])
        if not messages:
            return found
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        wait_seconds = 0
