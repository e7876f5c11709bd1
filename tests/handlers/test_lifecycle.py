"""Expiry (on read and by the scheduled sweep) and Dwolla's webhooks."""

import json
import uuid
from datetime import timedelta

from reauth.model import iso, utcnow
from tests.support.apigw import LambdaContext, scheduled_event
from tests.support.constants import WEBHOOK_SECRET
from tests.support.functions import serve
from tests.support.webhooks import webhook_event


def test_the_deadline_is_enforced_on_read(api, dwolla, clock):
    exchange = dwolla.seed_exchange("mx")
    _, session, _ = api.create(exchange["id"])
    clock.advance(minutes=31)
    body = api.session(session["id"])[1]
    assert body["status"] == "pending"  # the first attempt expired; the request lives on
    assert body["attempts"][0]["state"] == "expired"
    clock.advance(days=7)
    body = api.session(session["id"])[1]
    assert (body["status"], body["startUrl"]) == ("expired", None)


def test_sweep_marks_overdue_sessions_expired_once_and_announces_it(
    functions, api, dwolla, clock, published
):
    overdue = [api.create(dwolla.seed_exchange("mx")["id"])[1] for _ in range(3)]
    published()
    clock.advance(days=7, minutes=1)
    fresh = api.create(dwolla.seed_exchange("mx")["id"])[1]
    published()

    first = functions.api.handler(scheduled_event(), LambdaContext())
    second = functions.api.handler(scheduled_event(), LambdaContext())

    assert (first["expired"], second["expired"]) == (3, 0)
    events = published()
    assert sorted(e["detail"]["sessionId"] for e in events) == sorted(s["id"] for s in overdue)
    assert {e["detail-type"] for e in events} == {"Reauth Session Expired"}
    assert api.session(fresh["id"])[1]["status"] == "pending"
    record = api.status(overdue[0]["exchangeId"])[1]
    assert record["pendingSessionId"] is None


def test_sweep_is_bounded_per_run(functions, api, dwolla, clock):
    for _ in range(3):
        api.create(dwolla.seed_exchange("mx")["id"])
    clock.advance(days=8)
    serve(clock=clock.now, sweep_batch_size=2)

    assert functions.api.handler(scheduled_event(), LambdaContext())["expired"] == 2
    assert functions.api.handler(scheduled_event(), LambdaContext())["expired"] == 1


def _webhook(body: dict, secret: str = WEBHOOK_SECRET, signature: str | None = None) -> dict:
    return webhook_event(json.dumps(body), secret, signature, topic=body.get("topic", ""))


def _reauth_required(exchange_id: str, customer_id: str, created: str | None = None) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "topic": "customer_exchange_reauth_required",
        "resourceId": exchange_id,
        "created": created or iso(utcnow()),
        "_links": {
            "self": {"href": f"https://api.dwolla.com/events/{uuid.uuid4()}"},
            "account": {"href": f"https://api.dwolla.com/accounts/{uuid.uuid4()}"},
            "resource": {"href": f"https://api.dwolla.com/exchanges/{exchange_id}"},
            "customer": {"href": f"https://api.dwolla.com/customers/{customer_id}"},
        },
    }


def test_signed_reauth_required_webhook_marks_the_exchange_and_announces_it(
    functions, api, published
):
    exchange_id, customer_id = str(uuid.uuid4()), str(uuid.uuid4())
    event = _webhook(_reauth_required(exchange_id, customer_id))

    answer = functions.callback.handler(event, LambdaContext())
    again = functions.callback.handler(event, LambdaContext())

    assert answer["statusCode"] == 200
    assert json.loads(again["body"]) == {"outcome": "duplicate"}
    record = api.status(exchange_id)[1]
    assert (record["status"], record["customerId"]) == ("reauth_required", customer_id)
    events = published()
    assert [e["detail-type"] for e in events] == ["Exchange Reauth Required"]


def test_bad_signature_is_401_and_records_nothing(functions, api, published):
    exchange_id = str(uuid.uuid4())
    body = _reauth_required(exchange_id, str(uuid.uuid4()))
    for event in (_webhook(body, secret="not-the-secret"), _webhook(body, signature="00")):
        answer = functions.callback.handler(event, LambdaContext())
        assert answer["statusCode"] == 401
        assert json.loads(answer["body"])["code"] == "InvalidSignature"
    assert api.status(exchange_id)[1]["code"] == "ExchangeRecordNotFound"
    assert published() == []


def test_other_topics_are_acknowledged_and_ignored(functions, published):
    body = {"id": str(uuid.uuid4()), "topic": "customer_created", "_links": {}}
    answer = functions.callback.handler(_webhook(body), LambdaContext())
    assert json.loads(answer["body"]) == {"outcome": "ignored"}
    assert published() == []


def test_a_stale_webhook_never_undoes_a_reauthorization(functions, api, dwolla, browser, published):
    from tests.support.flow import bank_url

    exchange = dwolla.seed_exchange("mx")
    before = iso(utcnow())  # Dwolla said "reauth required" ...
    _, session, _ = api.create(exchange["id"])
    browser.get(browser.visit_bank(bank_url(browser.click_start(session["startUrl"]))))
    published()  # ... then the customer re-authenticated; the old news arrives late

    late = functions.callback.handler(
        _webhook(_reauth_required(exchange["id"], exchange["customerId"], before)), LambdaContext()
    )

    assert json.loads(late["body"]) == {"outcome": "stale"}
    assert api.status(exchange["id"])[1]["status"] == "reauthorized"
    assert published() == []


def test_a_signed_body_older_than_dwollas_retry_window_is_refused(functions, api, published):
    exchange_id = str(uuid.uuid4())
    long_ago = iso(utcnow() - timedelta(hours=73, minutes=1))
    replay = _webhook(_reauth_required(exchange_id, str(uuid.uuid4()), long_ago))

    answer = functions.callback.handler(replay, LambdaContext())

    assert json.loads(answer["body"]) == {"outcome": "stale"}
    assert api.status(exchange_id)[1]["code"] == "ExchangeRecordNotFound"
    assert published() == []


def test_a_body_naming_no_exchange_is_a_400_however_old(functions, published):
    for created in (utcnow(), utcnow() - timedelta(days=30)):
        body = _reauth_required(str(uuid.uuid4()), str(uuid.uuid4()), iso(created))
        body["_links"]["resource"]["href"] = "https://api.dwolla.com/exchanges/not-an-id"

        answer = functions.callback.handler(_webhook(body), LambdaContext())

        assert answer["statusCode"] == 400, created
        assert json.loads(answer["body"])["code"] == "InvalidRequest"
    assert published() == []


def test_the_catch_up_reads_what_a_paused_subscription_missed_once(
    functions, api, dwolla, published
):
    exchange = dwolla.seed_exchange("mx")
    missed = dwolla.require_reauth(exchange["id"])["event"]  # Dwolla's event; no webhook came

    first = functions.api.handler(scheduled_event(), LambdaContext())
    second = functions.api.handler(scheduled_event(), LambdaContext())

    assert first["eventsRecorded"] == 1 and second["eventsRead"] == 0  # the checkpoint moved
    record = api.status(exchange["id"])[1]
    assert record["status"] == "reauth_required"
    events = published()
    assert [e["detail"]["webhookId"] for e in events] == [missed["id"]]


def test_the_catch_up_and_the_webhook_never_handle_one_event_twice(functions, dwolla, published):
    exchange = dwolla.seed_exchange("mx")
    event = dwolla.require_reauth(exchange["id"])["event"]
    body = _reauth_required(exchange["id"], exchange["customerId"], event["created"])
    body["id"] = event["id"]

    delivered = functions.callback.handler(_webhook(body), LambdaContext())
    caught = functions.api.handler(scheduled_event(), LambdaContext())

    assert json.loads(delivered["body"]) == {"outcome": "recorded"}
    assert (caught["eventsRead"], caught["eventsRecorded"]) == (1, 0)
    assert len(published()) == 1
