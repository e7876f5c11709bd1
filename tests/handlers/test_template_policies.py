"""Least privilege, measured: every AWS call the functions make is allowed by their policy in
template.yaml, and every permission the template grants is used by some call (each action on
each resource, and each key kind a `dynamodb:LeadingKeys` condition names).

The flows (the whole journey: create, the link, the start button, a fresh attempt, Dwolla's
redirect, the Plaid page's report, verifying, the sweep, webhooks) run with a botocore hook that
records, per function, each IAM action a call needs, on which resource, with which partition
key kind (`REQUEST#`, `EXCHANGE#`, `IDEMPOTENCY#`, `WEBHOOK#`: DynamoDB's fine-grained
`dynamodb:LeadingKeys`). Transactions count as the per-item actions IAM checks (Put → PutItem,
Update → UpdateItem, ...). The template's API events must route exactly what each function serves.
cfn-lint's serverless rules and checkov (local/check_template.sh, in `make lint`) check the rest of
the template; the operational must-haves are asserted at the end of this module.
"""

from __future__ import annotations

import fnmatch
import json
import re

import pytest

from local.provision import load_template
from tests.support.apigw import LambdaContext, eventbridge_event, rest_event, scheduled_event
from tests.support.clock import Clock
from tests.support.constants import PUBLIC_BASE_URL, RETURN_URL, ROOT
from tests.support.flow import Browser, bank_url, location, plaid_config
from tests.support.functions import load_function, serve
from tests.support.webhooks import reauth_required, webhook_event

FUNCTIONS = tuple(
    name
    for name, resource in load_template()["Resources"].items()
    if resource["Type"] == "AWS::Serverless::Function"
)
MODULES = {
    "ApiFunction": "api",
    "CallbackFunction": "callback",
    "RelayFunction": "relay",
    "PlatformWebhookFunction": "platform_webhook",
}
# Granted but not called by the code: Lambda itself uses the role to dead-letter failed
# asynchronous invocations (ApiFunction's DeadLetterQueue), and, for RelayFunction's stream
# event source mapping, to read the table's stream and send what it gives up on (OnFailure).
STREAM_READS = ("DescribeStream", "GetRecords", "GetShardIterator", "ListStreams")
USED_BY_LAMBDA = {
    ("ApiFunction", "sqs:SendMessage", "dlq"),
    ("RelayFunction", "sqs:SendMessage", "dlq"),
    *(("RelayFunction", f"dynamodb:{action}", "stream") for action in STREAM_READS),
    # PlatformWebhookFunction's SQS event source mapping reads and deletes its messages.
    *(
        ("PlatformWebhookFunction", f"sqs:{action}", "platform-webhook-queue")
        for action in ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes")
    ),
}
TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def _resource_symbol(value) -> str:
    text = json.dumps(value)
    if "ReauthTable" in text and "StreamArn" in text:
        return "stream"
    if "ReauthTable" in text:
        return "table" + (text[text.index("/index/") :].rstrip('"}') if "/index/" in text else "")
    for needle, symbol in (
        ("ServiceBus", "bus"),
        ("DwollaSecret", "secret"),
        ("LinkSecret", "link-secret"),
        ("public-base-url", "ssm-parameter"),
        ("PlatformWebhookSecret", "platform-webhook-secret"),
        ("PlatformWebhookQueue", "platform-webhook-queue"),
        ("DeadLetterQueue", "dlq"),
    ):
        if needle in text:
            return symbol
    raise AssertionError(f"a resource the test does not know: {text}")


# The template's conditional statements (delivery channels), as deployed with its defaults:
# email and SMS off. test_the_delivery_channels_are_granted_on_their_identities_only checks them on.
DEFAULT_CONDITIONS = {
    "EmailOn": False,
    "SmsOn": False,
    "HasSesConfigurationSet": False,
    "OwnSesConfigurationSet": False,
}


def policy_statements(function: str, conditions: dict[str, bool] = DEFAULT_CONDITIONS) -> list:
    """The function's statements, its `!If [Condition, statement, NoValue]` resolved."""
    props = load_template()["Resources"][function]["Properties"]
    statements = []
    for policy in props["Policies"]:
        for statement in policy["Statement"]:
            if "Fn::If" in statement:
                name, then, otherwise = statement["Fn::If"]
                statement = then if conditions[name] else otherwise
                if statement == {"Ref": "AWS::NoValue"}:
                    continue
            statements.append(statement)
    return statements


def granted(function: str) -> list[dict]:
    """The function's policy statements as (actions, resource symbols, leading-key patterns)."""
    statements = []
    for statement in policy_statements(function):
        assert statement["Effect"] == "Allow"
        actions = statement["Action"]
        resources = statement["Resource"]
        resources = resources if isinstance(resources, list) else [resources]
        condition = statement.get("Condition", {})
        leading = condition.get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys")
        assert set(condition) <= {"ForAllValues:StringLike"}, condition
        statements.append(
            {
                "sid": statement.get("Sid"),
                "actions": set(actions if isinstance(actions, list) else [actions]),
                "resources": {_resource_symbol(r) for r in resources},
                "leading_keys": leading,
            }
        )
    return statements


def allows(statements: list[dict], action: str, resource: str, key: str | None) -> bool:
    for statement in statements:
        if action not in statement["actions"] or resource not in statement["resources"]:
            continue
        patterns = statement["leading_keys"]
        if patterns is None or (
            key is not None and any(fnmatch.fnmatchcase(key, p) for p in patterns)
        ):
            return True
    return False


class Recorder:
    """What each function's calls need: {(function, action, resource, partition key)}."""

    def __init__(self, secrets: dict[str, str]) -> None:
        self.current: str | None = None
        self.needs: set[tuple[str, str, str, str | None]] = set()
        self.secrets = secrets  # {secret id: resource symbol}
        self.queues: dict[str, str] = {}  # {queue URL: resource symbol}; others: "dlq"

    def __call__(self, params, model, **_) -> None:
        assert self.current, f"an AWS call outside a function: {model.name}"
        service = model.service_model.endpoint_prefix
        if service == "dynamodb":
            if model.name == "BatchGetItem":
                for table in params["RequestItems"].values():
                    for key in table["Keys"]:
                        self._need("dynamodb:BatchGetItem", "table", key["pk"]["S"])
            elif model.name == "TransactWriteItems":
                for item in params["TransactItems"]:
                    ((kind, op),) = item.items()
                    key = (op.get("Item") or op.get("Key"))["pk"]["S"]
                    self._need(f"dynamodb:{TRANSACT_ACTIONS[kind]}", "table", key)
            else:
                key = (params.get("Item") or params.get("Key") or {}).get("pk", {}).get("S")
                index = params.get("IndexName")
                self._need(
                    f"dynamodb:{model.name}", f"table/index/{index}" if index else "table", key
                )
        elif service == "events":
            self._need(f"events:{model.name}", "bus", None)
        elif service == "secretsmanager":
            self._need(f"secretsmanager:{model.name}", self.secrets[params["SecretId"]], None)
        elif service == "ssm":
            self._need(f"ssm:{model.name}", "ssm-parameter", None)
        elif service == "sqs":
            self._need(f"sqs:{model.name}", self.queues.get(params["QueueUrl"], "dlq"), None)
        else:
            raise AssertionError(f"a call to a service the template grants nothing on: {service}")

    def _need(self, action: str, resource: str, key: str | None) -> None:
        prefix = key.split("#", 1)[0] + "#" if key else None
        self.needs.add((self.current, action, resource, prefix))


@pytest.fixture
def recorded(aws, dwolla, sandbox, monkeypatch, service_env):
    """Both functions, run through everything they do, with every AWS call recorded.
    The public base URL comes from SSM here (the template's default), so that read is seen too."""
    from reauth import runtime

    session, resources = aws
    parameter = service_env["PUBLIC_BASE_URL_PARAMETER"]
    session.client("ssm").put_parameter(
        Name=parameter, Value=PUBLIC_BASE_URL, Type="String", Overwrite=True
    )
    monkeypatch.setenv("PUBLIC_BASE_URL", "")
    monkeypatch.setenv("ALLOW_SELF_SERVICE_RENEWAL", "true")  # a closed request's contact kept
    recorder = Recorder({resources.secret_id: "secret", resources.link_secret_id: "link-secret"})
    clock = Clock()
    api, callback = load_function("api"), load_function("callback")

    def new_container() -> None:
        """Each function runs in its own containers: nothing cached is shared between them.
        The container's service runs on the flows' clock."""
        runtime.reset()
        runtime.boto_session().events.register("before-parameter-build", recorder)
        serve(clock=clock.now)

    def run(function: str, module, event):
        recorder.current = function
        try:
            return module.handler(event, LambdaContext())
        finally:
            recorder.current = None

    def api_call(method, path, body=None, headers=None):
        answer = run("ApiFunction", api, rest_event(method, path, body=body, headers=headers))
        return json.loads(answer["body"])

    class Watched(Browser):
        def call(self, method, url, **kwargs):
            recorder.current = "CallbackFunction"
            try:
                return super().call(method, url, **kwargs)
            finally:
                recorder.current = None

    from local.relay import StreamPump, load_handler

    relay_handler = _Handler(load_handler(ROOT))

    def relay() -> None:
        """RelayFunction in its own container: the outbox so far, on the bus. (A new pump
        each time: after a cancelled transaction, moto's stream goes on in a new shard object
        that an older pump's iterators never see.)"""
        new_container()
        pump = StreamPump(
            session,
            resources.table_name,
            lambda event, context: run("RelayFunction", relay_handler, event),
        )
        assert pump.pump() > 0, "the flows wrote no outbox event"

    try:
        new_container()
        flows(dwolla, clock, api_call, run, api, callback, Watched, new_container, relay)
        platform_webhooks(session, resources, recorder, run, new_container, monkeypatch)
    finally:
        new_container()
    return recorder.needs


def platform_webhooks(session, resources, recorder, run, new_container, monkeypatch) -> None:
    """PlatformWebhookFunction: the flows' events POSTed to a receiver that answers 500 once
    (the backoff: ChangeMessageVisibility), with the generated secret."""
    from local.platform_receiver import PlatformReceiver
    from local.platform_webhook import QueuePump, load_handler, provision

    made = provision(session, resources, prefix="policy")
    recorder.secrets[made.secret_id] = "platform-webhook-secret"
    recorder.queues[made.queue_url] = "platform-webhook-queue"
    # What the flows published so far went to the queues before this rule: publish one more.
    session.client("events").put_events(
        Entries=[
            {
                "EventBusName": resources.event_bus_name,
                "Source": resources.event_source,
                "DetailType": "Reauth Session Created",
                "Detail": "{}",
            }
        ]
    )
    with PlatformReceiver() as receiver:
        receiver.answers = [500]
        for name, value in made.environment(receiver.url).items():
            monkeypatch.setenv(name, value)
        new_container()
        handler = _Handler(load_handler(ROOT))
        pump = QueuePump(
            session, made.queue_url, lambda e, c: run("PlatformWebhookFunction", handler, e)
        )
        assert pump.pump() == 1 and [r.status for r in receiver.received] == [500]


class _Handler:
    """A bare handler function, shaped like the functions' modules."""

    def __init__(self, handler) -> None:
        self.handler = handler


def _create_with_contact(dwolla):
    """ApiFunction making a request with a contact on file (a handler, for `run`)."""

    def handler(event, context) -> dict:
        from reauth import runtime
        from reauth.model import Contact

        contact = Contact(
            email="ada@example.test", phone=None, first_name=None, locale=None, time_zone=None
        )
        created = runtime.service().creating.create(
            dwolla.seed_exchange("mx")["id"], return_url=RETURN_URL, contact=contact
        )
        return {"id": created.request.id, "startUrl": created.start_url}

    return handler


def flows(dwolla, clock, api_call, run, api, callback, Watched, new_container, relay) -> None:
    """Everything each function does, every DynamoDB item kind it touches."""

    balance_down = {"path": "/funding-sources/*/balance", "method": "GET", "times": 50}
    # ApiFunction: create (and replay), read, status; the platform-run Plaid Link (complete:
    # reauthorized, not repaired, an error, Dwolla unavailable: verifying, then a read that
    # finishes it); events; the sweep (re-check a due verification, expire past the deadline).
    mx, plaid, plaid2, plaid3 = (dwolla.seed_exchange(p) for p in ("mx", "plaid", "plaid", "plaid"))
    key = {"Idempotency-Key": "policy-1"}
    body = {"returnUrl": RETURN_URL}
    api_call("POST", f"/exchanges/{mx['id']}/reauth-sessions", body, key)
    request = api_call("POST", f"/exchanges/{mx['id']}/reauth-sessions", body, key)  # replay
    api_call("GET", f"/reauth-sessions/{request['id']}")
    api_call("GET", f"/exchanges/{mx['id']}/reauth-status")
    token = api_call("POST", f"/exchanges/{plaid['id']}/reauth-sessions")
    api_call("POST", f"/reauth-sessions/{token['id']}/complete", {})  # not repaired yet
    dwolla.complete_exchange_session(token["handoff"]["token"])
    done = api_call("POST", f"/reauth-sessions/{token['id']}/complete", {})
    assert done["status"] == "reauthorized"
    failed = api_call("POST", f"/exchanges/{plaid2['id']}/reauth-sessions")
    api_call("POST", f"/reauth-sessions/{failed['id']}/complete", {"error": "USER_CANCELLED"})
    waiting = api_call("POST", f"/exchanges/{plaid3['id']}/reauth-sessions")
    dwolla.complete_exchange_session(waiting["handoff"]["token"])
    dwolla.inject_fault(status=503, **balance_down)
    path = f"/reauth-sessions/{waiting['id']}/complete"
    assert api_call("POST", path, {})["status"] == "verifying"
    dwolla.clear_faults()
    clock.advance(minutes=2)
    assert api_call("GET", f"/reauth-sessions/{waiting['id']}")["status"] == "reauthorized"
    elsewhere = api_call("POST", f"/exchanges/{dwolla.seed_exchange('mx')['id']}/reauth-sessions")
    dwolla.complete_exchange_session(elsewhere["attempts"][0]["id"])  # repaired in another app
    clock.advance(minutes=16)  # a read checks with Dwolla at most every 15 minutes
    read = api_call("GET", f"/reauth-sessions/{elsewhere['id']}")
    assert read["status"] == "reauthorized_elsewhere"
    run(
        "ApiFunction",
        api,
        eventbridge_event("Exchange Reauth Requested", {"exchangeId": plaid["id"]}),
    )
    relay()
    # CallbackFunction: the link (GET, HEAD), the button (the first attempt, then a fresh one
    # after a cancel), Dwolla's redirect back (an error; a success Dwolla confirms; one it cannot
    # confirm yet: verifying), the Plaid page's report, the result page, webhooks (recorded,
    # a redelivery).
    new_container()
    browser = Watched(callback)
    start = request["startUrl"]
    assert browser.get(start)["statusCode"] == 200
    assert browser.call("HEAD", start)["statusCode"] == 200
    back = browser.visit_bank(bank_url(browser.click_start(start)), "USER_CANCELLED")
    assert browser.get(back)["statusCode"] == 303
    retried = browser.try_again(start.split("?", 1)[0])  # a fresh Dwolla exchange session
    back = browser.visit_bank(bank_url(retried))
    assert location(browser.get(back)).startswith(f"{RETURN_URL}?status=reauthorized")
    browser.get(f"{PUBLIC_BASE_URL}/reauth/done?status=reauthorized&session={request['id']}")
    redirect = dwolla.seed_exchange("mx")
    slow = api_call("POST", f"/exchanges/{redirect['id']}/reauth-sessions")
    back = browser.visit_bank(bank_url(browser.click_start(slow["startUrl"])))
    dwolla.inject_fault(status=503, **balance_down)
    assert "status=verifying" in location(browser.get(back))
    dwolla.clear_faults()
    elsewhere = api_call("POST", f"/exchanges/{dwolla.seed_exchange('mx')['id']}/reauth-sessions")
    browser.click_start(elsewhere["startUrl"])
    dwolla.complete_exchange_session(elsewhere["attempts"][0]["id"])  # repaired in another app
    assert browser.click_start(elsewhere["startUrl"])["statusCode"] == 200  # "already done"
    plaid4 = dwolla.seed_exchange("plaid")
    linked = api_call("POST", f"/exchanges/{plaid4['id']}/reauth-sessions")
    page = browser.click_start(linked["startUrl"])
    answer = browser.report_plaid(page, {"outcome": "success"})  # not repaired
    assert "NOT_REPAIRED" in json.loads(answer["body"])["location"]
    page = browser.try_again(linked["startUrl"].split("?", 1)[0])
    dwolla.complete_exchange_session(plaid_config(page)["token"])
    assert browser.report_plaid(page, {"outcome": "success"})["statusCode"] == 200

    # The platform cancels (the contact is kept for a renewal); "Send me a new link" tells it
    # and reserves the exchange's renewal; ApiFunction renews (and forgets the contact). A
    # cancelled request whose success at the bank counts after all forgets its contact too.
    kept = run("ApiFunction", _Handler(_create_with_contact(dwolla)), {})
    api_call("POST", f"/reauth-sessions/{kept['id']}/cancel")
    assert browser.ask_for_new_link(browser.get(kept["startUrl"]))["statusCode"] == 200
    asked = {"sessionId": kept["id"], "selfService": True}
    renewed = run("ApiFunction", api, eventbridge_event("Reauth Link Requested", asked))
    assert renewed["sessionId"], renewed
    late = run("ApiFunction", _Handler(_create_with_contact(dwolla)), {})
    back = browser.visit_bank(bank_url(browser.click_start(late["startUrl"])))
    api_call("POST", f"/reauth-sessions/{late['id']}/cancel")
    assert location(browser.get(back)).startswith(f"{RETURN_URL}?status=reauthorized")

    delivery = webhook_event(reauth_required(mx["id"], created=clock.now()))
    assert run("CallbackFunction", callback, delivery)["statusCode"] == 200
    assert run("CallbackFunction", callback, delivery)["statusCode"] == 200  # a redelivery
    relay()
    # The schedule: catching up Dwolla's events (news a webhook did not bring); then, past the
    # deadline, one verification still due (Dwolla is down) and one pending request to expire.
    new_container()
    dwolla.require_reauth(plaid["id"])
    caught = run("ApiFunction", api, scheduled_event())
    assert caught["eventsRecorded"] >= 1, caught
    api_call("POST", f"/exchanges/{dwolla.seed_exchange('mx')['id']}/reauth-sessions")
    dwolla.inject_fault(status=503, **balance_down)
    clock.advance(days=9)
    swept = run("ApiFunction", api, scheduled_event())
    assert swept["expired"] >= 1 and swept["verified"] >= 1, swept
    dwolla.clear_faults()
    relay()


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_call_the_function_makes_is_allowed_by_its_policy(recorded, function):
    statements = granted(function)
    needs = sorted(need for need in recorded if need[0] == function)
    assert needs, "the flows made no AWS call for this function"
    denied = [n for n in needs if not allows(statements, n[1], n[2], n[3] and n[3] + "x")]
    assert denied == [], f"AccessDenied in AWS for {denied}"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_permission_the_function_has_is_used(recorded, function):
    used = {(need[1], need[2]) for need in recorded if need[0] == function}
    unused = []
    for statement in granted(function):
        for action in statement["actions"]:
            for resource in statement["resources"]:
                if (action, resource) not in used and (
                    function,
                    action,
                    resource,
                ) not in USED_BY_LAMBDA:
                    unused.append((statement["sid"], action, resource))
            for pattern in statement["leading_keys"] or ():  # each key kind a condition names
                if not any(
                    need[0] == function
                    and need[1] == action
                    and need[3] is not None
                    and fnmatch.fnmatchcase(need[3] + "x", pattern)
                    for need in recorded
                ):
                    unused.append((statement["sid"], action, pattern))
    assert unused == [], f"granted but never needed: {unused}"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_wildcards_in_the_functions_policies(function):
    for statement in granted(function):
        assert all("*" not in action for action in statement["actions"]), statement
    for statement in policy_statements(function):
        assert statement["Resource"] != "*", statement


def test_the_delivery_channels_are_granted_on_their_identities_only():
    """Email on: ses:SendEmail only From the EmailSender address (on its identity, and the
    configuration set when one is named). SMS on: sns:Publish, whose phone-number form has no
    resource ARN ("*"), with every topic denied, so the role can text a phone and nothing else."""
    on = {"EmailOn": True, "SmsOn": True, "HasSesConfigurationSet": True}
    statements = {s["Sid"]: s for s in policy_statements("ApiFunction", on)}
    email = statements["SendTheLinkByEmail"]
    assert email["Action"] == ["ses:SendEmail"]
    assert email["Condition"] == {"StringEquals": {"ses:FromAddress": {"Ref": "EmailSender"}}}
    assert "identity/*" in json.dumps(email["Resource"][0])
    assert "configuration-set/${SesConfigurationSet}" in json.dumps(email["Resource"][1])
    sms, topics = statements["SendTheLinkBySms"], statements["NoTopicPublishes"]
    assert (sms["Effect"], sms["Action"], sms["Resource"]) == ("Allow", ["sns:Publish"], "*")
    assert (topics["Effect"], topics["Action"]) == ("Deny", ["sns:Publish"])
    assert json.dumps(topics["Resource"]).endswith(':sns:*:*:*"}')
    for name in ("CallbackFunction", "RelayFunction"):
        assert not any(
            "ses:" in json.dumps(s) or "sns:" in json.dumps(s) for s in policy_statements(name, on)
        )
    own = {**on, "HasSesConfigurationSet": False, "OwnSesConfigurationSet": True}
    email = {s["Sid"]: s for s in policy_statements("ApiFunction", own)}["SendTheLinkByEmail"]
    resource = email["Resource"][1]["Fn::If"]
    assert resource[0] == "HasSesConfigurationSet"
    assert "configuration-set/${EmailConfigurationSet}" in json.dumps(resource[2])


def test_email_on_makes_its_own_configuration_set_publishing_bounces_and_complaints():
    """With email on and no configuration set named, the stack's own set publishes bounces and
    complaints to the default bus (SES's only one), the functions send with it, and a rule on
    that bus (enabled only with email on) gives the service's tagged ones to ApiFunction."""
    template = load_template()
    conditions = template["Conditions"]
    own = json.dumps(conditions["OwnSesConfigurationSet"])  # EmailOn and not yours
    assert own.startswith('{"Fn::And"') and "EmailOn" in own
    assert '{"Fn::Not": [{"Fn::Condition": "HasSesConfigurationSet"}]}' in own
    resources = template["Resources"]
    assert resources["EmailConfigurationSet"]["Condition"] == "OwnSesConfigurationSet"
    destination = resources["EmailFeedbackDestination"]
    assert destination["Condition"] == "OwnSesConfigurationSet"
    props = destination["Properties"]["EventDestination"]
    assert props["Enabled"] is True
    assert sorted(props["MatchingEventTypes"]) == ["bounce", "complaint"]
    bus = json.dumps(props["EventBridgeDestination"]["EventBusArn"])
    assert bus.endswith(':event-bus/default"}')
    env = resources["ApiFunction"]["Properties"]["Environment"]["Variables"]
    assert "EmailConfigurationSet" in json.dumps(env["SES_CONFIGURATION_SET"])
    rule = resources["ApiFunction"]["Properties"]["Events"]["EmailFeedback"]["Properties"]
    assert "EventBusName" not in rule  # the default bus
    assert rule["Pattern"]["source"] == ["aws.ses"]
    assert sorted(rule["Pattern"]["detail-type"]) == ["Email Bounced", "Email Complained"]
    assert rule["State"] == {"Fn::If": ["EmailOn", "ENABLED", "DISABLED"]}
    dead_letters = json.dumps(resources["DeadLetterQueuePolicy"]["Properties"])
    assert "ApiFunctionEmailFeedback-*" in dead_letters


def test_the_internet_facing_function_can_only_put_webhook_records_and_outbox_events():
    """It changes requests and exchanges (UpdateItem), but never makes a request (nor a
    renewal's: ApiFunction does), an idempotency record, or deletes anything but a contact kept
    for a renewal (RENEWAL#: forgotten when its request is reauthorized after all)."""
    statements = granted("CallbackFunction")
    for key in ("WEBHOOK#x", "OUTBOX#x"):
        assert allows(statements, "dynamodb:PutItem", "table", key)
    for key in ("REQUEST#x", "EXCHANGE#x", "IDEMPOTENCY#x", "RENEWAL#x"):
        assert not allows(statements, "dynamodb:PutItem", "table", key), key
    for key in ("REQUEST#x", "EXCHANGE#x", "IDEMPOTENCY#x", "WEBHOOK#x", "OUTBOX#x"):
        assert not allows(statements, "dynamodb:DeleteItem", "table", key), key


def test_only_the_relay_publishes_events():
    """Events leave through the outbox: the functions that change state only write it."""
    for function in FUNCTIONS:
        may_publish = allows(granted(function), "events:PutEvents", "bus", None)
        assert may_publish == (function == "RelayFunction"), function


def _route_key(method: str, path: str) -> tuple[str, str]:
    return method.upper(), re.sub(r"\{[^}]+\}", "{}", path)


HTTP_METHODS = ("get", "head", "post", "put", "patch", "delete", "options")


def _served_routes(resolver) -> set[tuple[str, str]]:
    """(method, path) of every route the resolver serves, read from its OpenAPI document."""
    paths = resolver.get_openapi_schema().paths or {}
    return {
        _route_key(method, path)
        for path, item in paths.items()
        for method in item.model_dump(exclude_none=True)
        if method in HTTP_METHODS
    }


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_template_routes_exactly_what_the_function_serves(function):
    """Every route the function's resolver serves is an API event of that function in the
    template (or API Gateway would never deliver it), and no event routes to nothing. The
    platform's routes are IAM-signed; the browser's and Dwolla's are open."""
    module = load_function(MODULES[function])
    resolver = getattr(module, "app", None)
    served = _served_routes(resolver) if resolver else set()
    events = load_template()["Resources"][function]["Properties"]["Events"]
    api_events = [e["Properties"] for e in events.values() if e["Type"] == "Api"]
    assert {_route_key(e["Method"], e["Path"]) for e in api_events} == served
    # The API has no default authorizer: a route without Auth is open (SAM's transform refuses
    # `Authorizer: NONE` there), so only the platform's routes name one.
    expected = "AWS_IAM" if function == "ApiFunction" else None
    assert all(e.get("Auth", {}).get("Authorizer") == expected for e in api_events)


# ---- the operational must-haves ----------------------------------------------------------------
def _resources(kind: str) -> dict:
    return {n: r for n, r in load_template()["Resources"].items() if r["Type"] == kind}


def test_every_log_group_has_a_retention_and_every_function_logs_into_one():
    groups = _resources("AWS::Logs::LogGroup")
    assert groups and all(g["Properties"].get("RetentionInDays") for g in groups.values())
    for function in FUNCTIONS:
        config = load_template()["Resources"][function]["Properties"]["LoggingConfig"]
        assert config["LogGroup"]["Ref"] in groups


def test_alarms_cover_function_errors_dwolla_errors_and_the_dead_letter_queue():
    alarms = [a["Properties"] for a in _resources("AWS::CloudWatch::Alarm").values()]
    watched = {(a["Namespace"], a["MetricName"], json.dumps(a["Dimensions"])) for a in alarms}
    for function in ("ApiFunction", "CallbackFunction"):  # what platforms and customers call
        assert (
            "AWS/Lambda",
            "Errors",
            json.dumps([{"Name": "FunctionName", "Value": {"Ref": function}}]),
        ) in watched
    assert any(ns == "DwollaReauth" and metric == "DwollaErrors" for ns, metric, _ in watched)
    assert any(
        ns == "AWS/SQS"
        and metric == "ApproximateNumberOfMessagesVisible"
        and "DeadLetterQueue" in dims
        for ns, metric, dims in watched
    )


def test_every_eventbridge_target_and_async_invocation_has_a_dead_letter_queue():
    dlq = {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    props = load_template()["Resources"]["ApiFunction"]["Properties"]
    assert props["DeadLetterQueue"]["TargetArn"] == dlq
    for function in FUNCTIONS:
        events = load_template()["Resources"][function]["Properties"].get("Events", {})
        for name, event in events.items():
            if event["Type"] in ("EventBridgeRule", "Schedule"):
                assert event["Properties"]["DeadLetterConfig"]["Arn"] == dlq, name
            if event["Type"] == "DynamoDB":  # what the stream mapping gives up on
                destination = event["Properties"]["DestinationConfig"]["OnFailure"]
                assert destination["Destination"] == dlq, name


def test_the_functions_never_log_whole_events():
    """Events carry cookies and start keys: Powertools must not log them (no LOG_EVENT)."""
    variables = load_template()["Globals"]["Function"]["Environment"]["Variables"]
    assert "POWERTOOLS_LOGGER_LOG_EVENT" not in variables
    for function in FUNCTIONS:
        env = load_template()["Resources"][function]["Properties"].get("Environment", {})
        assert "POWERTOOLS_LOGGER_LOG_EVENT" not in env.get("Variables", {})


def test_make_lint_runs_the_template_checks():
    makefile = (ROOT / "Makefile").read_text()
    target = makefile.split("\nlint-template:", 1)[1].split("\n\n", 1)[0]
    assert "local/check_template.sh" in target
    script = (ROOT / "local" / "check_template.sh").read_text()
    for tool in ("cfn-lint --append-rules cfn_lint_serverless.rules", "checkov", "sam"):
        assert tool in script


def test_the_link_secret_is_generated_by_the_template_and_is_its_own_resource():
    """Start links are signed by LinkSecret: always created, its value generated (never typed
    in, never Dwolla's), read by the two functions that mint and check links, written by none."""
    template = load_template()
    link = template["Resources"]["LinkSecret"]
    assert link["Type"] == "AWS::SecretsManager::Secret" and "Condition" not in link
    props = link["Properties"]
    assert "SecretString" not in props
    assert props["GenerateSecretString"]["PasswordLength"] >= 32
    assert "SecretStringTemplate" not in props["GenerateSecretString"]  # a plain string
    dwolla = template["Resources"]["DwollaSecret"]["Properties"]["SecretString"]
    assert "link" not in dwolla.lower()
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["LINK_SECRET_ID"] == {"Ref": "LinkSecret"}
    assert "LinkSecret" not in json.dumps(variables["DWOLLA_SECRET_ID"])
    for function in FUNCTIONS:
        statements = granted(function)
        reads = allows(statements, "secretsmanager:GetSecretValue", "link-secret", None)
        assert reads == (function in ("ApiFunction", "CallbackFunction")), function
        for statement in statements:
            if "link-secret" in statement["resources"]:
                assert statement["resources"] == {"link-secret"}, statement
                assert statement["actions"] == {"secretsmanager:GetSecretValue"}, statement
    assert template["Outputs"]["LinkSecretArn"]["Value"] == {"Ref": "LinkSecret"}
