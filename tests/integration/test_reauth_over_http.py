"""The whole re-authentication over real HTTP: moto server and the Dwolla sandbox on 127.0.0.1."""

import uuid

import pytest

from local.provision import drain_events, put_platform_event, subscribe_to_requests
from tests.conftest import CALLBACK_URL, RETURN_URL
from tests.support.apigw import LambdaContext
from tests.support.flow import location


def test_create_start_bank_callback_status(api, browser, dwolla, functions, published):
    exchange = dwolla.seed_exchange("mx")
    status, session, _ = api.create(
        exchange["id"], {"returnUrl": RETURN_URL}, {"Idempotency-Key": "it-1"}
    )
    assert status == 201

    started = browser.get(session["startUrl"])
    back = browser.visit_bank(location(started))
    assert back == f"{CALLBACK_URL}?exchange={exchange['id']}"
    landed = browser.get(back)

    assert location(landed) == f"{RETURN_URL}?status=reauthorized&session={session['id']}"
    assert api.session(session["id"])[1]["status"] == "reauthorized"
    assert api.status(exchange["id"])[1]["status"] == "reauthorized"
    assert dwolla.exchange(exchange["id"])["status"] == "active"
    kinds = [e["detail-type"] for e in published()]
    assert kinds == ["Reauth Session Created", "Exchange Reauthorized"]


def test_token_handoff_complete(api, dwolla, published):
    exchange = dwolla.seed_exchange("plaid")
    _, session, _ = api.create(exchange["id"])
    dwolla.complete_exchange_session(session["id"])

    status, body, _ = api.complete(session["id"], {})

    assert (status, body["status"]) == (200, "reauthorized")
    kinds = [e["detail-type"] for e in published()]
    assert kinds == ["Reauth Session Created", "Exchange Reauthorized"]


@pytest.fixture
def inbox(functions):
    """Put a platform event on the bus; receive it as ApiFunction's rule delivers it."""
    session, resources = functions.session, functions.resources
    queue_url = subscribe_to_requests(session, resources, f"{resources.table_name}-inbox")

    def put_and_receive(detail_type: str, detail: dict, source: str = "platform.payments"):
        put_platform_event(session, resources, detail_type, detail, source)
        return drain_events(session, queue_url)

    return put_and_receive


def test_platform_event_on_the_bus_creates_a_session(functions, api, dwolla, inbox, published):
    exchange = dwolla.seed_exchange("mx")

    delivered = inbox("Exchange Reauth Requested", {"exchangeId": exchange["id"]})
    assert len(delivered) == 1
    results = [functions.api.handler(e, LambdaContext()) for e in delivered * 2]  # a redelivery

    assert results[0]["sessionId"] == results[1]["sessionId"]
    assert api.session(results[0]["sessionId"])[1]["status"] == "pending"
    created = [e for e in published() if e["detail-type"] == "Reauth Session Created"]
    assert len(created) == 1


def test_dwolla_update_credentials_on_the_bus_creates_a_session(functions, api, dwolla, inbox):
    exchange = dwolla.seed_exchange("mx", fundingSourceId=str(uuid.uuid4()))
    balance = dwolla.balance_error(exchange["fundingSourceId"])
    assert balance["code"] == "UpdateCredentials"

    delivered = inbox("Dwolla UpdateCredentials", balance)
    result = functions.api.handler(delivered[0], LambdaContext())

    assert api.session(result["sessionId"])[1]["exchangeId"] == exchange["id"]


def test_the_service_does_not_consume_its_own_events(inbox):
    assert (
        inbox("Exchange Reauth Requested", {"exchangeId": str(uuid.uuid4())}, "dwolla-reauth") == []
    )
