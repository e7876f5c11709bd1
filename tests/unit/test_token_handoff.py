"""POST /reauth-sessions/{sessionId}/complete: the platform reports how Plaid Link ended."""

import pytest


@pytest.fixture
def token_session(api, dwolla):
    exchange = dwolla.seed_exchange("plaid")
    _, session, _ = api.create(exchange["id"])
    return exchange, session


def test_complete_after_link_success_reauthorizes_once(api, dwolla, token_session, published):
    exchange, session = token_session
    dwolla.complete_exchange_session(session["id"])
    published()

    status, body, _ = api.complete(session["id"], {})
    again_status, again, _ = api.complete(session["id"], {})

    assert (status, body["status"]) == (200, "reauthorized")
    assert (again_status, again["status"]) == (200, "reauthorized")
    assert [e["detail-type"] for e in published()] == ["Exchange Reauthorized"]
    assert api.status(exchange["id"])[1]["status"] == "reauthorized"


def test_complete_with_an_error_fails_the_session(api, token_session, published):
    _, session = token_session
    published()

    status, body, _ = api.complete(session["id"], {"error": "USER_CANCELLED"})

    assert (status, body["status"], body["failureReason"]) == (200, "failed", "USER_CANCELLED")
    assert [e["detail-type"] for e in published()] == ["Reauth Session Failed"]


def test_complete_without_body_means_success(api, dwolla, token_session):
    _, session = token_session
    dwolla.complete_exchange_session(session["id"])
    status, body, _ = api.call("POST", f"/reauth-sessions/{session['id']}/complete")
    assert (status, body["status"]) == (200, "reauthorized")


@pytest.mark.parametrize("body", [{"error": "NOPE"}, {"error": None, "x": 1}, {"status": "ok"}])
def test_unknown_completion_is_refused(api, token_session, body):
    _, session = token_session
    status, answer, _ = api.complete(session["id"], body)
    assert (status, answer["code"]) == (400, "InvalidCompletion")
    assert api.session(session["id"])[1]["status"] == "pending"


def test_a_different_outcome_after_completion_is_a_conflict(api, token_session):
    _, session = token_session
    api.complete(session["id"], {"error": "USER_CANCELLED"})
    status, answer, _ = api.complete(session["id"], {"error": "AUTHENTICATION_ERROR"})
    assert (status, answer["code"]) == (409, "SessionNotPending")


def test_redirect_sessions_are_not_completed_through_the_api(api, dwolla):
    exchange = dwolla.seed_exchange("mx")
    _, session, _ = api.create(exchange["id"])
    status, answer, _ = api.complete(session["id"], {})
    assert (status, answer["code"]) == (409, "HandoffNotToken")


def test_expired_session_cannot_be_completed(api, dwolla, token_session, clock):
    _, session = token_session
    dwolla.complete_exchange_session(session["id"])
    clock.advance(minutes=31)

    status, answer, _ = api.complete(session["id"], {})

    assert (status, answer["code"]) == (409, "SessionNotPending")
    assert api.session(session["id"])[1]["status"] == "expired"
