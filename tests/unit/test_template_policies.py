"""Least privilege, measured: every AWS call the functions make is allowed by their policy in
template.yaml, and every permission the template grants is used by some call.

The flows run with a botocore hook that records, per function, each IAM action a call needs, on
which resource, with which partition key (DynamoDB's fine-grained `dynamodb:LeadingKeys`).
Transactions count as the per-item actions IAM checks (Put → PutItem, Update → UpdateItem, ...).
cfn-lint's serverless rules and checkov (local/check_template.sh, in `make lint`) check the rest of
the template; the operational must-haves are asserted at the end of this module.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
import uuid
from pathlib import Path

import pytest

from local.provision import load_template
from tests.conftest import RETURN_URL, WEBHOOK_SECRET
from tests.support.apigw import LambdaContext, eventbridge_event, rest_event, scheduled_event
from tests.support.flow import Browser, location

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ("ApiFunction", "CallbackFunction")
# Granted but not called by the code: Lambda itself uses the role to dead-letter failed
# asynchronous invocations (the function's DeadLetterQueue).
USED_BY_LAMBDA = {("ApiFunction", "sqs:SendMessage", "dlq")}
TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def _resource_symbol(value) -> str:
    text = json.dumps(value)
    if "ReauthTable" in text:
        return "table" + (text[text.index("/index/") :].rstrip('"}') if "/index/" in text else "")
    for needle, symbol in (
        ("ServiceBus", "bus"),
        ("DwollaSecret", "secret"),
        ("public-base-url", "ssm-parameter"),
        ("DeadLetterQueue", "dlq"),
    ):
        if needle in text:
            return symbol
    raise AssertionError(f"a resource the test does not know: {text}")


def granted(function: str) -> list[dict]:
    """The function's policy statements as (actions, resource symbols, leading-key patterns)."""
    props = load_template()["Resources"][function]["Properties"]
    statements = []
    for policy in props["Policies"]:
        for statement in policy["Statement"]:
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

    def __init__(self) -> None:
        self.current: str | None = None
        self.needs: set[tuple[str, str, str, str | None]] = set()

    def __call__(self, params, model, **_) -> None:
        assert self.current, f"an AWS call outside a function: {model.name}"
        service = model.service_model.endpoint_prefix
        if service == "dynamodb":
            if model.name == "TransactWriteItems":
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
            self._need(f"secretsmanager:{model.name}", "secret", None)
        elif service == "ssm":
            self._need(f"ssm:{model.name}", "ssm-parameter", None)
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
    from tests.conftest import load_function, reset_runtime

    session, resources = aws
    parameter = service_env["PUBLIC_BASE_URL_PARAMETER"]
    session.client("ssm").put_parameter(
        Name=parameter, Value="https://reauth.example.test/v1", Type="String", Overwrite=True
    )
    monkeypatch.setenv("PUBLIC_BASE_URL", "")
    recorder = Recorder()
    api, callback = load_function("api"), load_function("callback")

    def new_container() -> None:
        """Each function runs in its own containers: nothing cached is shared between them."""
        reset_runtime()
        runtime._boto_session().events.register("before-parameter-build", recorder)

    new_container()

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
        def get(self, url):
            recorder.current = "CallbackFunction"
            try:
                return super().get(url)
            finally:
                recorder.current = None

    # ApiFunction: create (and replay), read, status, complete, an event, the sweep.
    mx, plaid = dwolla.seed_exchange("mx"), dwolla.seed_exchange("plaid")
    key = {"Idempotency-Key": "policy-1"}
    body = {"returnUrl": RETURN_URL}
    api_call("POST", f"/exchanges/{mx['id']}/reauth-sessions", body, key)
    session_ = api_call("POST", f"/exchanges/{mx['id']}/reauth-sessions", body, key)  # replay
    api_call("GET", f"/reauth-sessions/{session_['id']}")
    api_call("GET", f"/exchanges/{mx['id']}/reauth-status")
    token = api_call("POST", f"/exchanges/{plaid['id']}/reauth-sessions")
    dwolla.complete_exchange_session(token["id"])
    api_call("POST", f"/reauth-sessions/{token['id']}/complete", {})
    run(
        "ApiFunction",
        api,
        eventbridge_event("Exchange Reauth Requested", {"exchangeId": plaid["id"]}),
    )
    # CallbackFunction: start, callback, done page, webhooks (recorded, duplicate, failed).
    new_container()
    browser = Watched(callback)
    back = browser.visit_bank(location(browser.get(session_["startUrl"])))
    browser.get(back)
    browser.get("https://reauth.example.test/v1/reauth/done?status=reauthorized")

    def webhook():
        raw = json.dumps(
            {
                "id": str(uuid.uuid4()),
                "topic": "customer_exchange_reauth_required",
                "_links": {"resource": {"href": f"https://api.dwolla.com/exchanges/{mx['id']}"}},
            }
        )
        signature = hmac.new(WEBHOOK_SECRET.encode(), raw.encode(), hashlib.sha256).hexdigest()
        return rest_event(
            "POST",
            "/webhooks/dwolla",
            body=raw,
            headers={"Content-Type": "application/json", "X-Request-Signature-SHA-256": signature},
        )

    delivery = webhook()
    run("CallbackFunction", callback, delivery)
    run("CallbackFunction", callback, delivery)
    publisher = runtime.service()._publisher

    def eventbridge_down(*args, **kwargs):
        raise RuntimeError("EventBridge is down")

    publisher.publish = eventbridge_down
    try:  # handling fails after the delivery was recorded: the record is removed again
        assert run("CallbackFunction", callback, webhook())["statusCode"] == 500
    finally:
        del publisher.publish
    # The sweep, an hour later.
    from datetime import timedelta

    from reauth.model import utcnow

    new_container()
    api_call("POST", f"/exchanges/{mx['id']}/reauth-sessions")
    runtime.service()._clock = lambda: utcnow() + timedelta(hours=1)
    assert run("ApiFunction", api, scheduled_event())["expired"] >= 1
    reset_runtime()
    return recorder.needs


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
    assert unused == [], f"granted but never needed: {unused}"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_wildcards_in_the_functions_policies(function):
    for statement in granted(function):
        assert all("*" not in action for action in statement["actions"]), statement
    props = load_template()["Resources"][function]["Properties"]
    for policy in props["Policies"]:
        for statement in policy["Statement"]:
            assert statement["Resource"] != "*", statement


def test_the_internet_facing_function_can_only_put_and_delete_webhook_records():
    statements = granted("CallbackFunction")
    for action in ("dynamodb:PutItem", "dynamodb:DeleteItem"):
        assert allows(statements, action, "table", "WEBHOOK#x")
        for other in ("SESSION#x", "EXCHANGE#x", "IDEMPOTENCY#x"):
            assert not allows(statements, action, "table", other), (action, other)


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
    for function in FUNCTIONS:
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
    props = load_template()["Resources"]["ApiFunction"]["Properties"]
    assert props["DeadLetterQueue"]["TargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    for name, event in props["Events"].items():
        if event["Type"] in ("EventBridgeRule", "Schedule"):
            config = event["Properties"]["DeadLetterConfig"]
            assert config["Arn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}, name


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
