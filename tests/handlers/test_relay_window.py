"""At least once, with a stated window: the relay retries an event until it is 6 h old, well
inside the stream's 24 h, then gives it up to the dead-letter queue (from where it is re-driven
from the outbox: tests/handlers/test_redrive.py); a PutEvents call that fails as a whole is an
error the alarms see, and loses nothing; a relay that falls behind, fails, or gives anything up
fires an alarm.

The alarms are read from template.yaml and evaluated the way CloudWatch does (the statistic per
period, M of the last N periods against the threshold), on the datapoints each situation makes.
"""

from __future__ import annotations

import pytest

from local.provision import drain_events, load_template
from reauth.relaying import PublishFailed

STREAM_RETENTION_SECONDS = 24 * 3600  # DynamoDB Streams keeps a record 24 h, not configurable
DLQ_ARN = {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}


def _mapping() -> dict:
    events = load_template()["Resources"]["RelayFunction"]["Properties"]["Events"]
    (mapping,) = (e["Properties"] for e in events.values() if e["Type"] == "DynamoDB")
    return mapping


def _alarm_on(namespace: str, metric: str, dimension_value) -> dict:
    resources = load_template()["Resources"].values()
    found = [
        r["Properties"]
        for r in resources
        if r["Type"] == "AWS::CloudWatch::Alarm"
        and r["Properties"]["Namespace"] == namespace
        and r["Properties"]["MetricName"] == metric
        and dimension_value in [d["Value"] for d in r["Properties"]["Dimensions"]]
    ]
    assert found, f"no alarm on {namespace} {metric} of {dimension_value}"
    (alarm,) = found
    return alarm


def fires(alarm: dict, datapoints: list[float | None]) -> bool:
    """Would `alarm` be in ALARM after these per-period values of its statistic (oldest first;
    None: no data)? DatapointsToAlarm of the last EvaluationPeriods breach."""
    compare = {
        "GreaterThanOrEqualToThreshold": lambda v: v >= alarm["Threshold"],
        "GreaterThanThreshold": lambda v: v > alarm["Threshold"],
    }[alarm["ComparisonOperator"]]
    assert alarm.get("TreatMissingData") == "notBreaching"
    recent = datapoints[-alarm["EvaluationPeriods"] :]
    breaching = sum(1 for v in recent if v is not None and compare(v))
    return breaching >= alarm.get("DatapointsToAlarm", alarm["EvaluationPeriods"])


def _periods(alarm: dict, seconds: int) -> int:
    return max(1, seconds // alarm["Period"])


# ---- the window ---------------------------------------------------------------------------------
def test_the_relay_stops_retrying_well_before_the_stream_drops_the_records():
    mapping = _mapping()
    age = mapping["MaximumRecordAgeInSeconds"]
    assert 60 <= age <= STREAM_RETENTION_SECONDS / 2, "retries end with hours of retention left"
    assert 0 <= mapping["MaximumRetryAttempts"] <= 10_000  # a stated bound, not -1 (forever)
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == DLQ_ARN
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]  # retried from there


def test_what_the_relay_gives_up_reaches_the_dead_letter_queue_whose_alarm_fires_for_one():
    mapping = _mapping()
    assert mapping["MaximumRecordAgeInSeconds"] > 0  # the relay gives up at all
    assert mapping["DestinationConfig"]["OnFailure"] == {"Type": "SQS", "Destination": DLQ_ARN}
    alarm = _alarm_on(
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]},
    )
    assert alarm["Statistic"] == "Maximum" and alarm["Period"] <= 300
    assert fires(alarm, [1])  # one message, seen once
    assert not fires(alarm, [0])


def test_a_relay_falling_behind_is_alarmed_long_before_it_gives_anything_up():
    alarm = _alarm_on("AWS/Lambda", "IteratorAge", {"Ref": "RelayFunction"})
    window_ms = _mapping()["MaximumRecordAgeInSeconds"] * 1000
    assert alarm["Statistic"] == "Maximum"
    behind = [alarm["Threshold"]] * alarm["EvaluationPeriods"]
    assert fires(alarm, behind)
    alerted_after_ms = alarm["Threshold"] + alarm["Period"] * alarm["EvaluationPeriods"] * 1000
    assert alerted_after_ms <= window_ms / 10, "an operator has most of the window to act"
    assert not fires(alarm, [1_000] * alarm["EvaluationPeriods"])  # a second behind: normal


def test_a_relay_that_keeps_failing_is_alarmed_and_one_retried_call_is_not():
    alarm = _alarm_on("AWS/Lambda", "Errors", {"Ref": "RelayFunction"})
    assert alarm["Statistic"] == "Sum"
    five_minutes = _periods(alarm, 300)
    assert fires(alarm, [1] * five_minutes)  # a bus down: the relay fails every minute
    assert not fires(alarm, [None] * (five_minutes - 1) + [1])  # one blip, retried fine


# ---- a PutEvents call that fails as a whole -----------------------------------------------------
def _ids(events: list[dict]) -> list[str]:
    return [e["detail"]["eventId"] for e in events]


def test_a_call_that_fails_before_anything_was_delivered_fails_the_invocation_and_loses_nothing(
    functions, api, dwolla, relay, failing_bus
):
    for _ in range(3):
        api.create(dwolla.seed_exchange("mx")["id"])
    failing_bus.down = True

    with pytest.raises(PublishFailed):  # Lambda counts it in the function's Errors
        relay.pump()
    with pytest.raises(PublishFailed):  # and again, for as long as the bus is down
        relay.pump()
    assert drain_events(functions.session, functions.resources.tap_queue_url) == []

    failing_bus.down = False
    assert relay.pump() == 3  # the whole batch, retried from its first record
    events = drain_events(functions.session, functions.resources.tap_queue_url)
    assert len(events) == len(set(_ids(events))) == 3  # every one, once
    assert [len(call) for call in failing_bus.calls] == [3, 3, 3]


def test_a_call_that_fails_after_part_went_out_is_retried_from_there_then_is_an_error(
    functions, api, dwolla, relay, failing_bus
):
    for _ in range(12):  # two PutEvents calls' worth
        api.create(dwolla.seed_exchange("mx")["id"])
    real = failing_bus.put_events

    def down_after_the_first_call(Entries):
        if failing_bus.calls:
            failing_bus.down = True
        return real(Entries)

    failing_bus.put_events = down_after_the_first_call

    assert relay.pump() == 10  # the first ten went out: retried from the eleventh, no error
    with pytest.raises(PublishFailed):  # the retry starts with the failing call: an error
        relay.pump()
    failing_bus.down = False
    failing_bus.put_events = real
    relay.pump()

    events = drain_events(functions.session, functions.resources.tap_queue_url)
    assert len(events) == len(set(_ids(events))) == 12  # nothing lost, nothing sent twice
    assert [len(call) for call in failing_bus.calls] == [10, 2, 2, 2]
