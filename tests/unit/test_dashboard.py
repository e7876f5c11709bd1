"""The operator's dashboard (template.yaml's OperationsDashboard) cannot drift from the code.

Every metric it shows is one the code emits (found in the functions and the layer, the way they
emit: `add_metric("Name", ...)`, `single_metric(name="Name", ...)`) or one AWS publishes about a
resource of this stack; every metric the code emits is on it; the custom ones carry exactly the
dimensions the code gives them. And the emission itself works: the relay counts the outcomes it
delivers, the Dwolla adapter's attempts become the latency metric.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from local.provision import load_template
from reauth.outbox import Envelope
from reauth.relaying import Delivery

ROOT = Path(__file__).resolve().parents[2]
CODE = (ROOT / "functions", ROOT / "layers" / "reauth" / "reauth")
EMITTED = re.compile(r"""(?:add_metric|single_metric)\(\s*(?:name=)?["'](\w+)["']""")
SEARCH = re.compile(r"""SEARCH\('\{([^}]*)\}\s+MetricName="(\w+)"'""")
PLACEHOLDER = re.compile(r"\$\{([^}!][^}]*)\}")
# AWS's own metrics the dashboard may show, and the resource type each dimension names.
AWS_METRICS = {
    "AWS/Lambda": {"Errors", "Throttles", "Duration", "Invocations", "IteratorAge"},
    "AWS/SQS": {"ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"},
}
DIMENSION_RESOURCES = {"FunctionName": "AWS::Serverless::Function", "QueueName": "AWS::SQS::Queue"}
# Dimensions the code adds besides Powertools' own `service`: each metric's allowed sets (a
# funnel metric is emitted both as a total and by Channel).
EXTRA_DIMENSIONS = {
    "AttemptsFailed": ({"reason"},),
    "LinkSent": ({"Channel"},),
    "DeliveryFailed": ({"Channel"},),
    "RequestsReached": ({"Channel"},),
    "LinkOpened": ({"Channel"},),
    "AttemptsStarted": (set(), {"Channel"}),
    "RequestsReauthorized": (set(), {"Channel"}),
}
# The funnel, step by step: the metric each step is counted by (the dashboard draws these, in
# this order; a renamed metric fails here and in the emitted-metrics tests).
FUNNEL = ("SessionsCreated", "LinkSent", "LinkOpened", "AttemptsStarted", "RequestsReauthorized")


def _template() -> dict:
    return load_template()


def _environment() -> dict:
    return _template()["Globals"]["Function"]["Environment"]["Variables"]


def _dashboard() -> dict:
    """The dashboard's body with each ${Name} or ${Name.Attribute} of the !Sub as "<Name...>",
    every one of them checked to name a parameter, a pseudo parameter or a resource."""
    template = _template()
    body = template["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    assert isinstance(body, str), "DashboardBody is a single !Sub string"
    known = {*template["Resources"], *template["Parameters"]}
    for name in PLACEHOLDER.findall(body):
        assert name.startswith("AWS::") or name.split(".")[0] in known, name
    return json.loads(PLACEHOLDER.sub(lambda m: f"<{m.group(1)}>", body))


def _shown(widgets: list | None = None) -> list[tuple[str, str, dict[str, str]]]:
    """(namespace, metric, dimensions) of every metric the dashboard draws. A SEARCH expression
    counts with the dimension names it searches by (values "*"); metric math counts by the ids
    it names, each of which must be a row of its widget."""
    shown = []
    for widget in _dashboard()["widgets"] if widgets is None else widgets:
        if widget["type"] != "metric":
            continue
        previous: list = []
        rows = widget["properties"]["metrics"]
        ids = {
            options["id"] for *_, options in rows if isinstance(options, dict) and "id" in options
        }
        for row in rows:
            fields = [f for f in row if not isinstance(f, dict)]
            if not fields:  # an expression
                (options,) = row
                expression = options["expression"]
                if "SEARCH(" not in expression:  # metric math over the widget's own rows
                    named = set(re.findall(r"\b([a-z]\w*)\b", expression)) - {"FILL"}
                    assert named and named <= ids, (widget["properties"]["title"], expression)
                    continue
                ((keys, metric),) = SEARCH.findall(expression)
                namespace, *dimensions = (k.strip() for k in keys.split(","))
                shown.append((namespace, metric, dict.fromkeys(dimensions, "*")))
                continue
            fields = [previous[i] if f == "." else f for i, f in enumerate(fields)]
            previous = fields
            namespace, metric, *pairs = fields
            shown.append((namespace, metric, dict(zip(pairs[::2], pairs[1::2], strict=True))))
    return shown


def _emitted_here() -> set[str]:
    names = set()
    for folder in CODE:
        for source in folder.rglob("*.py"):
            names.update(EMITTED.findall(source.read_text()))
    return names


def _emitted() -> set[str]:
    return _emitted_here()


def test_the_code_emits_metrics_the_scan_finds():
    """The scan itself works (or every other test here would pass on nothing)."""
    assert {"SessionsCreated", "DwollaErrors", "EventsRelayed", "DwollaLatency"} <= _emitted()


def test_every_custom_metric_on_the_dashboard_is_emitted_by_the_code():
    namespace = _environment()["POWERTOOLS_METRICS_NAMESPACE"]
    custom = {metric for ns, metric, _ in _shown() if ns == namespace}
    assert custom, "the dashboard shows none of the service's own metrics"
    assert custom - _emitted() == set(), "on the dashboard but emitted nowhere"


def test_every_metric_the_code_emits_is_on_the_dashboard():
    namespace = _environment()["POWERTOOLS_METRICS_NAMESPACE"]
    custom = {metric for ns, metric, _ in _shown() if ns == namespace}
    assert _emitted() - custom == set(), "emitted but not on the dashboard: add a widget row"


def test_custom_metrics_carry_the_dimensions_the_code_gives_them():
    """Powertools adds `service` (POWERTOOLS_SERVICE_NAME) to every metric; a metric drawn with
    other dimensions would be another metric, empty."""
    environment = _environment()
    for namespace, metric, dimensions in _shown():
        if namespace != environment["POWERTOOLS_METRICS_NAMESPACE"]:
            continue
        allowed = [{"service", *extra} for extra in EXTRA_DIMENSIONS.get(metric, (set(),))]
        assert set(dimensions) in allowed, metric
        assert dimensions["service"] in ("*", environment["POWERTOOLS_SERVICE_NAME"]), metric
    source = "\n".join(p.read_text() for folder in CODE for p in folder.rglob("*.py"))
    for metric, sets in EXTRA_DIMENSIONS.items():
        for name in set().union(*sets):
            emitted = re.search(
                rf'single_metric\(name="{metric}".*?\n\s*\w+\.add_dimension\(name="{name}"',
                source,
            )
            assert emitted, (metric, name)


def _funnel_widgets() -> list[dict]:
    return [
        w
        for w in _dashboard()["widgets"]
        if w["type"] == "metric" and w["properties"]["title"].startswith("Funnel")
    ]


def test_the_funnel_shows_each_step_in_order_all_and_by_channel():
    """sent -> opened -> started -> re-authorized, from created; by every channel the code
    knows (model.Channel) and "none" (the platform delivered the link itself)."""
    from reauth.model import Channel

    everything, by_channel = _funnel_widgets()
    steps = [metric for _, metric, _ in _shown([everything])]
    assert list(dict.fromkeys(steps)) == list(FUNNEL)
    channels = {*(c.value for c in Channel), "none"}
    drawn = {(metric, dims["Channel"]) for _, metric, dims in _shown([by_channel])}
    for channel in channels:
        for metric in FUNNEL[2:]:
            assert (metric, channel) in drawn, (metric, channel)
        if channel != "none":
            assert ("LinkSent", channel) in drawn, channel
    assert {channel for _, channel in drawn} == channels


def test_the_completion_rate_is_reauthorized_over_reached_and_over_created():
    """Per channel: requests re-authorized over requests whose first message went that way
    (RequestsReached), not over messages (LinkSent counts the reminders too)."""
    (widget,) = [
        w for w in _dashboard()["widgets"] if w["properties"].get("title") == "Completion rate (%)"
    ]
    rows = widget["properties"]["metrics"]
    by_id = {row[-1]["id"]: row for row in rows}
    rates = [row[0]["expression"] for row in rows if "expression" in row[0]]
    assert "100 * FILL(reauthorized, 0) / created" in rates
    assert by_id["created"][1] == "SessionsCreated"
    assert by_id["reauthorized"][1] == "RequestsReauthorized"
    from reauth.model import Channel

    for channel in Channel:
        name = channel.value.capitalize()
        assert f"100 * FILL(reauthorized{name}, 0) / reached{name}" in rates
        assert by_id[f"reached{name}"][1:4] == ["RequestsReached", "Channel", channel.value]
        assert by_id[f"reauthorized{name}"][1:4] == [
            "RequestsReauthorized",
            "Channel",
            channel.value,
        ]


def test_aws_metrics_are_about_resources_of_this_stack():
    resources = _template()["Resources"]
    namespace = _environment()["POWERTOOLS_METRICS_NAMESPACE"]
    for ns, metric, dimensions in _shown():
        if ns == namespace:
            continue
        assert metric in AWS_METRICS.get(ns, ()), (ns, metric)
        for name, value in dimensions.items():
            resource = value.strip("<>").split(".")[0]
            assert resources[resource]["Type"] == DIMENSION_RESOURCES[name], (metric, value)


def test_the_alarmed_metrics_are_on_the_dashboard():
    shown = {(ns, metric) for ns, metric, _ in _shown()}
    for alarm in _template()["Resources"].values():
        if alarm["Type"] == "AWS::CloudWatch::Alarm":
            props = alarm["Properties"]
            assert (props["Namespace"], props["MetricName"]) in shown, props["MetricName"]


def test_the_widgets_fit_the_grid():
    for widget in _dashboard()["widgets"]:
        assert widget["x"] >= 0 and widget["x"] + widget["width"] <= 24, widget
        assert widget["properties"].get("region", "<AWS::Region>") == "<AWS::Region>", widget


# ---- the emission ------------------------------------------------------------------------------
def _emf_lines(output: str) -> list[dict]:
    lines = []
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            lines.append(json.loads(line))
    return lines


@pytest.fixture
def metrics_env(monkeypatch):
    environment = _environment()
    for name in ("POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_SERVICE_NAME"):
        monkeypatch.setenv(name, environment[name])
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.setenv(name, "us-east-1")
    from aws_lambda_powertools import Metrics

    Metrics().clear_metrics()
    yield environment
    Metrics().clear_metrics()


def _envelope(detail_type: str, **detail) -> Envelope:
    return Envelope(f"evt-{detail_type}-{detail}", detail_type, json.dumps(detail))


def test_the_relay_counts_the_outcomes_it_delivers(metrics_env, capsys):
    from reauth import events, runtime
    from tests.support.apigw import LambdaContext
    from tests.support.functions import load_function

    sent = (
        _envelope(events.SESSION_CREATED, requestId="r1"),
        _envelope(events.EXCHANGE_REAUTHORIZED, requestId="r1"),
        _envelope(events.EXCHANGE_REAUTHORIZED, requestId="r5", reachedBy="email"),
        _envelope(events.ATTEMPT_FAILED, requestId="r2", reason="USER_CANCELLED"),
        _envelope(events.ATTEMPT_FAILED, requestId="r3", reason="USER_CANCELLED"),
        _envelope(events.ATTEMPT_FAILED, requestId="r4", reason="NOT_REPAIRED"),
    )

    class Delivered:
        def deliver(self, records):
            return Delivery(len(sent), 0, None, sent)

    relay = load_function("relay")
    runtime.use_relay(Delivered())
    try:
        relay.handler({"Records": []}, LambdaContext())
    finally:
        runtime.use_relay(None)
    emitted = _emf_lines(capsys.readouterr().out)
    namespace, service = metrics_env["POWERTOOLS_METRICS_NAMESPACE"], "dwolla-reauth"
    totals = {}
    for line in emitted:
        (directive,) = line["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == namespace
        assert line["service"] == metrics_env["POWERTOOLS_SERVICE_NAME"] == service
        for definition in directive["Metrics"]:
            key = (definition["Name"], line.get("reason") or line.get("Channel"))
            value = line[definition["Name"]]
            totals[key] = totals.get(key, 0) + (sum(value) if isinstance(value, list) else value)
    assert totals[("EventsRelayed", None)] == 6
    assert totals[("RequestsReauthorized", None)] == 2  # the total, and by the first message:
    assert totals[("RequestsReauthorized", "none")] == 1  # the platform delivered the link
    assert totals[("RequestsReauthorized", "email")] == 1
    assert totals[("AttemptsFailed", "USER_CANCELLED")] == 2
    assert totals[("AttemptsFailed", "NOT_REPAIRED")] == 1


def test_each_dwolla_attempt_is_a_latency_sample(metrics_env):
    """The composition root gives the Dwolla adapter an observer that records DwollaLatency."""
    from aws_lambda_powertools import Metrics

    from reauth import runtime

    runtime.dwolla_attempt_observed("GET", "/exchanges/{id}", 200, 42)
    runtime.dwolla_attempt_observed("POST", "/token", None, 3050)
    recorded = Metrics().metric_set["DwollaLatency"]
    assert recorded["Unit"] == "Milliseconds"
    assert recorded["Value"] == [42, 3050]
