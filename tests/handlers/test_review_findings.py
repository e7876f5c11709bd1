"""What a review of the service found, each reproduced and now held: idempotency keys across
concurrent bodies and namespaces, retryable conditions on EventBridge, DynamoDB contention."""

import pytest

from reauth.errors import ErrorCode, ServiceError
from tests.support.apigw import LambdaContext, eventbridge_event
from tests.support.constants import OTHER_RETURN_URL, RETURN_URL
from tests.support.faults import aws_error, hook_aws
from tests.support.functions import new_container


def test_the_same_key_with_another_body_sent_concurrently_is_refused(api, dwolla, monkeypatch):
    from reauth import runtime

    exchange = dwolla.seed_exchange("mx")
    key = {"Idempotency-Key": "race-1"}
    _, winner, _ = api.create(exchange["id"], {"returnUrl": RETURN_URL}, key)
    repo = runtime.service().ctx.repo
    real = repo.get_idempotency
    seen = {"first": True}

    def not_yet_committed(key_hash):  # the loser read before the winner's transaction landed
        if seen["first"]:
            seen["first"] = False
            return None
        return real(key_hash)

    monkeypatch.setattr(repo, "get_idempotency", not_yet_committed)

    status, body, _ = api.create(exchange["id"], {"returnUrl": OTHER_RETURN_URL}, key)

    assert (status, body["code"]) == (409, "IdempotencyKeyReused")
    assert api.session(winner["id"])[1]["status"] == "pending"  # the winner's link lives on


def test_an_api_key_shaped_like_an_event_id_lands_on_no_event_made_request(functions, api, dwolla):
    exchange = dwolla.seed_exchange("mx")
    event = eventbridge_event("Exchange Reauth Requested", {"exchangeId": exchange["id"]})
    made = functions.api.handler(event, LambdaContext())

    status, body, _ = api.create(exchange["id"], None, {"Idempotency-Key": f"event:{event['id']}"})

    assert status == 201 and body["id"] != made["sessionId"]


def test_an_eventbridge_request_that_meets_a_conflict_is_retried_not_dropped(
    functions, dwolla, monkeypatch
):
    from reauth import runtime

    exchange = dwolla.seed_exchange("mx")

    def conflict(*_args, **_kwargs):
        raise ServiceError(ErrorCode.CONFLICT)

    monkeypatch.setattr(runtime.service().creating, "create", conflict)
    event = eventbridge_event("Exchange Reauth Requested", {"exchangeId": exchange["id"]})

    with pytest.raises(ServiceError, match="concurrently"):
        functions.api.handler(event, LambdaContext())  # Lambda retries, then dead-letters


def _contended():
    """From now on (a new container) every transaction is cancelled for another transaction
    (not for our conditions)."""
    new_container()
    hook_aws(
        "before-call.dynamodb.TransactWriteItems",
        lambda **_: aws_error(
            "TransactionCanceledException",
            "conflict",
            CancellationReasons=[{"Code": "TransactionConflict"}, {"Code": "None"}],
        ),
    )


def test_contention_is_not_read_as_another_writer_finished(api, dwolla, monkeypatch):
    exchange = dwolla.seed_exchange("plaid")
    _, session, _ = api.create(exchange["id"])
    _contended()

    status, body, _ = api.complete(session["id"], {"error": "USER_CANCELLED"})

    assert (status, body["code"]) == (409, "Conflict")
    assert api.session(session["id"])[1]["attempts"][0]["state"] == "open"


def test_a_browser_meeting_contention_gets_the_reload_page(api, dwolla, browser, monkeypatch):
    from tests.support.flow import bank_url

    exchange = dwolla.seed_exchange("mx")
    _, session, _ = api.create(exchange["id"])
    back = browser.visit_bank(bank_url(browser.click_start(session["startUrl"])))
    _contended()

    answer = browser.get(back)

    assert answer["statusCode"] == 503
    assert "reload" in answer["body"].lower()


def test_api_gateways_own_answers_speak_the_documented_error_shape():
    import json
    from pathlib import Path

    from local.provision import load_template

    api = load_template()["Resources"]["Api"]["Properties"]
    codes = {code.code for code in ErrorCode}
    documented = Path(__file__).resolve().parents[2].joinpath("docs", "errors.md").read_text()
    for name in ("DEFAULT_4XX", "DEFAULT_5XX", "ACCESS_DENIED", "THROTTLED"):
        template = api["GatewayResponses"][name]["ResponseTemplates"]["application/json"]
        body = json.loads(
            template.replace("$context.error.messageString", '"m"').replace("$context.", "")
        )
        assert set(body) == {"code", "message", "requestId"}
        assert body["code"] in codes and f"`{body['code']}`" in documented


def test_the_account_wide_api_gateway_setting_is_off_by_default():
    from local.provision import load_template

    parameter = load_template()["Parameters"]["ConfigureApiGatewayLogging"]
    assert parameter["Default"] == "false"
