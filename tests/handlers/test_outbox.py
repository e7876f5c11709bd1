"""Events at least once: every state change and its event are one DynamoDB transaction (the
outbox), and the relay (RelayFunction, fed by the table's stream) delivers them to EventBridge,
whatever EventBridge does meanwhile."""

import json

import pytest

from local.provision import drain_events
from reauth.relaying import PublishFailed
from tests.support.flow import bank_url


def _reauthorize(api, dwolla, browser) -> dict:
    exchange = dwolla.seed_exchange("mx")
    _, session, _ = api.create(exchange["id"])
    started = browser.click_start(session["startUrl"])
    browser.get(browser.visit_bank(bank_url(started)))
    return session


def _kinds(events: list[dict]) -> list[str]:
    return [e["detail-type"] for e in events]


def test_a_bus_that_is_down_delays_the_events_and_loses_none(
    api, dwolla, browser, published, failing_bus
):
    failing_bus.down = True

    session = _reauthorize(api, dwolla, browser)

    assert api.session(session["id"])[1]["status"] == "reauthorized"  # committed regardless
    for _ in range(2):  # the relay keeps trying, each time an error its alarm counts
        with pytest.raises(PublishFailed):
            published()
    failing_bus.down = False
    events = published()
    assert _kinds(events) == ["Reauth Session Created", "Exchange Reauthorized"]
    assert published() == []  # and then nothing more


def test_every_event_carries_a_stable_event_id(api, dwolla, browser, published, failing_bus):
    failing_bus.refuse = [None, "ThrottlingException"]  # the second event is throttled once
    _reauthorize(api, dwolla, browser)

    events = published() + published()

    assert _kinds(events) == ["Reauth Session Created", "Exchange Reauthorized"]
    tried = [json.loads(e["Detail"])["eventId"] for call in failing_bus.calls for e in call]
    assert len(tried) == 3 and tried[1] == tried[2]  # the retry sends the same event id
    assert {e["detail"]["eventId"] for e in events} == set(tried)


def test_a_throttled_entry_is_retried_from_there_and_none_is_sent_twice_in_one_round(
    api, dwolla, published, failing_bus
):
    for _ in range(3):
        api.create(dwolla.seed_exchange("mx")["id"])
    failing_bus.refuse = [None, "ThrottlingException"]

    first = [e["detail"]["eventId"] for e in published()]
    second = [e["detail"]["eventId"] for e in published()]

    assert [len(call) for call in failing_bus.calls] == [3, 2]  # retried from the refused one
    assert len(set(first)) == len(first) == 2 and len(set(second)) == len(second) == 2
    assert len(set(first + second)) == 3  # the third came twice, the same id: consumers dedupe


def test_an_entry_eventbridge_will_never_take_goes_to_the_dead_letter_queue(
    functions, api, dwolla, published, failing_bus
):
    for _ in range(2):
        api.create(dwolla.seed_exchange("mx")["id"])
    failing_bus.refuse = ["MalformedDetail"]

    events = published()

    assert len(events) == 1  # the other one still went out
    [letter] = drain_events(functions.session, functions.resources.dead_letter_queue_url)
    body = letter if "eventId" in letter else json.loads(letter.get("Body", "{}"))
    assert body["errorCode"] == "MalformedDetail"
    assert body["detailType"] == "Reauth Session Created"
    assert published() == []  # not retried forever


def test_a_relay_that_crashes_mid_batch_loses_nothing(
    api, dwolla, browser, published, failing_bus, relay
):
    calls = {"n": 0}
    real = failing_bus.put_events

    def crash_on_the_second_call(Entries):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("the relay's container died")
        return real(Entries)

    failing_bus.put_events = crash_on_the_second_call
    for _ in range(12):  # two PutEvents calls' worth
        api.create(dwolla.seed_exchange("mx")["id"])

    events = published() + published()

    assert len({e["detail"]["eventId"] for e in events}) == 12
    assert len(events) == 12  # the first ten were not sent again


def test_a_requests_events_arrive_in_the_order_they_happened(api, dwolla, browser, published):
    exchange = dwolla.seed_exchange("mx", providerOutcome="USER_CANCELLED")
    _, session, _ = api.create(exchange["id"])
    browser.get(browser.visit_bank(bank_url(browser.click_start(session["startUrl"]))))
    dwolla.set_outcome(exchange, "success")
    browser.get(browser.visit_bank(bank_url(browser.click_start(session["startUrl"]))))

    events = [e for e in published() if e["detail"].get("sessionId") == session["id"]]

    assert _kinds(events) == [
        "Reauth Session Created",
        "Reauth Attempt Failed",
        "Exchange Reauthorized",
    ]


def test_a_failed_change_writes_no_event(api, dwolla, published):
    exchange = dwolla.seed_exchange("plaid")
    _, session, _ = api.create(exchange["id"])
    api.complete(session["id"], {"error": "USER_CANCELLED"})
    published()

    api.complete(session["id"], {"error": "USER_CANCELLED"})  # the attempt already ended

    assert published() == []


def test_the_local_relay_keeps_reading_after_a_rolled_back_transaction(api, dwolla, published):
    exchange = dwolla.seed_exchange("plaid")
    _, session, _ = api.create(exchange["id"])
    api.complete(session["id"], {"error": "USER_CANCELLED"})
    assert len(published()) == 2
    api.complete(session["id"], {"error": "USER_CANCELLED"})  # moto rolls this one back

    api.create(dwolla.seed_exchange("mx")["id"])

    assert _kinds(published()) == ["Reauth Session Created"]
