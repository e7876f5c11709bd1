"""EventBridge in: "Exchange Reauth Requested" and "Dwolla UpdateCredentials" create sessions."""

import uuid

import pytest

from reauth.relaying import PublishFailed
from tests.support.apigw import LambdaContext, eventbridge_event
from tests.support.constants import RETURN_URL


def _update_credentials(exchange_id: str, **extra) -> dict:
    return {
        "code": "UpdateCredentials",
        "message": "Re-authentication is required in order to access account data.",
        "_links": {
            "about": {
                "href": f"https://api.dwolla.com/exchanges/{exchange_id}/exchange-sessions",
                "type": "application/vnd.dwolla.v1.hal+json",
                "resource-type": "exchange-session",
            }
        },
        **extra,
    }


def test_reauth_requested_event_creates_a_session_and_announces_it(
    functions, api, dwolla, published
):
    exchange = dwolla.seed_exchange("mx")
    customer = str(uuid.uuid4())
    event = eventbridge_event(
        "Exchange Reauth Requested",
        {"exchangeId": exchange["id"], "customerId": customer, "returnUrl": RETURN_URL},
    )

    result = functions.api.handler(event, LambdaContext())

    session = api.session(result["sessionId"])[1]
    assert (session["status"], session["customerId"]) == ("pending", customer)
    events = published()
    assert [e["detail-type"] for e in events] == ["Reauth Session Created"]
    assert events[0]["detail"]["trigger"] == "event"
    assert events[0]["detail"]["startUrl"].startswith("https://reauth.example.test/v1/")


def test_update_credentials_event_names_the_exchange_through_its_link(functions, api, dwolla):
    exchange = dwolla.seed_exchange("plaid")
    event = eventbridge_event("Dwolla UpdateCredentials", _update_credentials(exchange["id"]))

    result = functions.api.handler(event, LambdaContext())

    assert api.session(result["sessionId"])[1]["exchangeId"] == exchange["id"]


def test_duplicate_delivery_creates_one_session(functions, dwolla, published):
    exchange = dwolla.seed_exchange("mx")
    event = eventbridge_event("Exchange Reauth Requested", {"exchangeId": exchange["id"]})

    first = functions.api.handler(event, LambdaContext())
    second = functions.api.handler(event, LambdaContext())

    assert first["sessionId"] == second["sessionId"]
    assert second["replayed"] is True
    assert len(dwolla.exchange_sessions()) == 1
    assert len(published()) == 1


def test_malformed_events_are_dropped_without_a_dwolla_call(functions, dwolla):
    dwolla.clear_requests()
    for detail_type, detail in [
        ("Exchange Reauth Requested", {"exchangeId": "nope"}),
        ("Dwolla UpdateCredentials", {"code": "UpdateCredentials", "_links": {}}),
        ("Dwolla UpdateCredentials", {"code": "Other"}),
        (
            "Dwolla UpdateCredentials",
            _update_credentials(str(uuid.uuid4()), returnUrl="https://evil.example"),
        ),
    ]:
        result = functions.api.handler(eventbridge_event(detail_type, detail), LambdaContext())
        assert "refused" in result
    assert dwolla.requests() == []


def test_dwolla_outage_raises_so_lambda_retries_the_event(functions, dwolla):
    import pytest

    exchange = dwolla.seed_exchange("mx")
    dwolla.inject_fault("/exchanges/*/exchange-sessions", method="POST", times=10, status=503)
    event = eventbridge_event("Exchange Reauth Requested", {"exchangeId": exchange["id"]})

    with pytest.raises(Exception, match="Dwolla"):
        functions.api.handler(event, LambdaContext())


def test_an_event_made_request_is_announced_even_when_the_bus_was_down(
    functions, dwolla, published, failing_bus
):
    exchange = dwolla.seed_exchange("mx")
    event = eventbridge_event("Exchange Reauth Requested", {"exchangeId": exchange["id"]})
    failing_bus.down = True

    made = functions.api.handler(event, LambdaContext())  # the request does not wait for the bus
    with pytest.raises(PublishFailed):  # the relay fails (an error its alarm sees) and retries
        published()
    failing_bus.down = False
    again = functions.api.handler(event, LambdaContext())  # a redelivery changes nothing

    created = [e for e in published() if e["detail-type"] == "Reauth Session Created"]
    assert [e["detail"]["sessionId"] for e in created] == [made["sessionId"]]
    assert created[0]["detail"]["startUrl"]
    assert again == {"sessionId": made["sessionId"], "replayed": True}
    assert len(dwolla.exchange_sessions()) == 1
