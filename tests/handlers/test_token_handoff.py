"""POST /reauth-sessions/{sessionId}/complete: a platform that runs Plaid Link itself reports how
it ended. A success is a claim: only Dwolla's balance check makes the request reauthorized."""

import pytest

from tests.support.apigw import LambdaContext, scheduled_event


@pytest.fixture
def token_session(api, dwolla):
    exchange = dwolla.seed_exchange("plaid")
    _, session, _ = api.create(exchange["id"])
    return exchange, session


def _finish_at_the_bank(dwolla, session: dict, outcome: str = "success") -> None:
    """Plaid Link ran in the platform's page: the bank leg really happened at the sandbox."""
    dwolla.complete_exchange_session(session["attempts"][-1]["id"], outcome)


def test_complete_after_link_success_reauthorizes_once(api, dwolla, token_session, published):
    exchange, session = token_session
    _finish_at_the_bank(dwolla, session)
    published()

    status, body, _ = api.complete(session["id"], {})
    again_status, again, _ = api.complete(session["id"], {})

    assert (status, body["status"]) == (200, "reauthorized")
    assert body["attempts"][0]["state"] == "reauthorized"
    assert body["verification"]["result"] == "confirmed"
    assert (again_status, again["status"]) == (200, "reauthorized")
    events = published()
    assert [e["detail-type"] for e in events] == ["Exchange Reauthorized"]
    assert events[0]["detail"]["verifiedBy"] == "balance-check"
    assert api.status(exchange["id"])[1]["status"] == "reauthorized"


def test_a_success_claim_dwolla_does_not_confirm_reauthorizes_nothing(
    api, dwolla, token_session, published
):
    exchange, session = token_session  # Plaid Link never ran
    published()

    status, body, _ = api.complete(session["id"], {})

    assert (status, body["status"]) == (200, "pending")
    attempt = body["attempts"][0]
    assert (attempt["state"], attempt["reason"], attempt["recoverable"]) == (
        "unverified",
        "NOT_REPAIRED",
        True,
    )
    assert body["verification"]["result"] == "not_repaired"
    assert [e["detail-type"] for e in published()] == ["Reauth Attempt Failed"]
    assert dwolla.balance_error(exchange["fundingSourceId"])["code"] == "UpdateCredentials"


def test_complete_with_an_error_ends_the_attempt_not_the_request(api, token_session, published):
    _, session = token_session
    published()

    status, body, _ = api.complete(session["id"], {"error": "USER_CANCELLED"})

    assert (status, body["status"]) == (200, "pending")
    attempt = body["attempts"][0]
    assert (attempt["state"], attempt["reason"], attempt["recoverable"]) == (
        "failed",
        "USER_CANCELLED",
        True,
    )
    [event] = published()
    assert event["detail-type"] == "Reauth Attempt Failed"
    assert event["detail"]["reason"] == "USER_CANCELLED"
    assert event["detail"]["recoverable"] is True
    assert event["detail"]["attemptId"] == attempt["id"]


def test_authentication_error_is_not_recoverable(api, token_session):
    _, session = token_session
    _, body, _ = api.complete(session["id"], {"error": "AUTHENTICATION_ERROR"})
    assert body["attempts"][0]["recoverable"] is False


def test_a_later_real_success_replaces_a_reported_error(api, dwolla, token_session):
    _, session = token_session
    api.complete(session["id"], {"error": "TEMPORARY_ERROR"})
    _finish_at_the_bank(dwolla, session)

    status, body, _ = api.complete(session["id"], {})

    assert (status, body["status"]) == (200, "reauthorized")


def test_complete_without_body_means_success(api, dwolla, token_session):
    _, session = token_session
    _finish_at_the_bank(dwolla, session)
    status, body, _ = api.call("POST", f"/reauth-sessions/{session['id']}/complete")
    assert (status, body["status"]) == (200, "reauthorized")


@pytest.mark.parametrize("body", [{"error": "NOPE"}, {"error": None, "x": 1}, {"status": "ok"}])
def test_unknown_completion_is_refused(api, token_session, body):
    _, session = token_session
    status, answer, _ = api.complete(session["id"], body)
    assert (status, answer["code"]) == (400, "InvalidCompletion")
    assert api.session(session["id"])[1]["status"] == "pending"


def test_repeating_an_error_changes_nothing(api, token_session, published):
    _, session = token_session
    api.complete(session["id"], {"error": "USER_CANCELLED"})
    published()
    status, answer, _ = api.complete(session["id"], {"error": "AUTHENTICATION_ERROR"})
    assert (status, answer["attempts"][0]["reason"]) == (200, "USER_CANCELLED")
    assert published() == []


def test_redirect_sessions_are_not_completed_through_the_api(api, dwolla):
    exchange = dwolla.seed_exchange("mx")
    _, session, _ = api.create(exchange["id"])
    status, answer, _ = api.complete(session["id"], {})
    assert (status, answer["code"]) == (409, "HandoffNotToken")


def test_a_request_past_its_deadline_cannot_be_completed(api, dwolla, token_session, clock):
    _, session = token_session
    clock.advance(days=7, minutes=1)
    api.module.handler(scheduled_event(), LambdaContext())

    status, answer, _ = api.complete(session["id"], {})

    assert (status, answer["code"]) == (409, "SessionNotPending")
    assert api.session(session["id"])[1]["status"] == "expired"


def test_the_answer_to_a_confirmed_completion_is_exactly_what_is_stored(api, dwolla):
    exchange = dwolla.seed_exchange("plaid")
    _, session, _ = api.create(exchange["id"], {"fundingSourceId": exchange["fundingSourceId"]})
    dwolla.complete_exchange_session(session["handoff"]["token"])

    _, answered, _ = api.complete(session["id"], {})  # built without reading it back
    _, stored, _ = api.session(session["id"])

    assert answered == stored
