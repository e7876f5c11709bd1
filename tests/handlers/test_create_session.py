"""POST /exchanges/{exchangeId}/reauth-sessions: the platform asks for a re-authentication."""

import uuid

import pytest

from tests.support.constants import CALLBACK_URL, OTHER_RETURN_URL, RETURN_URL


def test_create_answers_201_with_the_session_and_a_start_link(api, dwolla):
    exchange = dwolla.seed_exchange("mx")
    customer = str(uuid.uuid4())

    status, body, headers = api.create(
        exchange["id"], {"customerId": customer, "returnUrl": RETURN_URL}
    )

    assert status == 201
    assert headers["location"] == f"https://reauth.example.test/v1/reauth-sessions/{body['id']}"
    assert body["exchangeId"] == exchange["id"]
    assert body["customerId"] == customer
    assert body["status"] == "pending"
    assert body["handoff"]["type"] == "redirect"
    assert body["handoff"]["url"].startswith(dwolla.base_url)
    assert body["startUrl"].startswith(
        f"https://reauth.example.test/v1/reauth/link/{body['id']}?key="
    )
    assert body["createdAt"] < body["expiresAt"]
    [attempt] = body["attempts"]
    assert attempt["state"] == "open" and attempt["startedAt"] is None
    assert attempt["id"] == dwolla.exchange_sessions()[0]["id"]
    assert body["verification"] is None


def test_create_asks_dwolla_with_the_registered_callback_and_an_idempotency_key(api, dwolla):
    exchange = dwolla.seed_exchange("mx")
    dwolla.clear_requests()

    api.create(exchange["id"])

    posts = [
        r for r in dwolla.requests() if r["method"] == "POST" and "exchange-sessions" in r["path"]
    ]
    assert len(posts) == 1
    assert posts[0]["path"] == f"/exchanges/{exchange['id']}/exchange-sessions"
    assert posts[0]["idempotencyKey"]
    assert [s["redirectUrl"] for s in dwolla.exchange_sessions()] == [CALLBACK_URL]


def test_create_publishes_session_created_with_the_start_link(api, dwolla, published):
    exchange = dwolla.seed_exchange("mx")

    _, body, _ = api.create(exchange["id"])

    events = published()
    assert [e["detail-type"] for e in events] == ["Reauth Session Created"]
    detail = events[0]["detail"]
    assert detail["sessionId"] == body["id"]
    assert detail["startUrl"] == body["startUrl"]
    assert detail["handoffType"] == "redirect"
    assert "url" not in detail and "handoffUrl" not in detail


def test_token_partner_gets_a_link_token_and_a_start_link_too(api, dwolla):
    exchange = dwolla.seed_exchange("plaid")

    status, body, _ = api.create(exchange["id"])

    assert status == 201
    assert body["handoff"]["type"] == "token"
    assert body["handoff"]["token"].startswith("link-")
    assert body["startUrl"].startswith(f"https://reauth.example.test/v1/reauth/link/{body['id']}?")


def test_the_deadline_is_days_away_and_the_attempt_lives_as_long_as_dwolla_session(api, dwolla):
    from datetime import datetime

    _, body, _ = api.create(dwolla.seed_exchange("mx")["id"])

    def at(value: str) -> datetime:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))

    assert (at(body["expiresAt"]) - at(body["createdAt"])).days == 7
    attempt = body["attempts"][0]
    assert (at(attempt["expiresAt"]) - at(attempt["createdAt"])).total_seconds() == 30 * 60


def test_a_funding_source_named_by_the_platform_is_kept(api, dwolla):
    exchange = dwolla.seed_exchange("mx")
    status, body, _ = api.create(exchange["id"], {"fundingSourceId": exchange["fundingSourceId"]})
    assert (status, body["fundingSourceId"]) == (201, exchange["fundingSourceId"])


def test_same_idempotency_key_returns_the_same_session_and_creates_nothing_new(api, dwolla):
    exchange = dwolla.seed_exchange("mx")
    key = {"Idempotency-Key": "order-42-reauth"}

    first_status, first, _ = api.create(exchange["id"], {"returnUrl": RETURN_URL}, key)
    again_status, again, _ = api.create(exchange["id"], {"returnUrl": RETURN_URL}, key)

    assert (first_status, again_status) == (201, 200)
    assert again["id"] == first["id"]
    assert again["status"] == "pending"
    assert len(dwolla.exchange_sessions()) == 1


def test_a_replay_answers_the_same_working_link_even_after_it_was_used(api, dwolla, browser):
    exchange = dwolla.seed_exchange("mx")
    key = {"Idempotency-Key": "k-1"}
    _, first, _ = api.create(exchange["id"], None, key)
    assert browser.click_start(first["startUrl"])["statusCode"] == 200
    _, again, _ = api.create(exchange["id"], None, key)

    assert again["startUrl"] == first["startUrl"]
    assert browser.get(again["startUrl"])["statusCode"] == 200
    assert api.session(first["id"])[1]["startUrl"] == first["startUrl"]


def test_same_idempotency_key_with_another_body_is_refused(api, dwolla):
    exchange = dwolla.seed_exchange("mx")
    key = {"Idempotency-Key": "k-2"}
    api.create(exchange["id"], {"returnUrl": RETURN_URL}, key)

    status, body, _ = api.create(exchange["id"], {"returnUrl": OTHER_RETURN_URL}, key)

    assert status == 409
    assert body["code"] == "IdempotencyKeyReused"


def test_an_idempotency_key_is_the_platforms_not_the_exchanges(api, dwolla):
    """The same key sent for another exchange is a key reused (409), not a second request and a
    second Dwolla session; the first exchange's retry still answers its request."""
    first, second = dwolla.seed_exchange("mx"), dwolla.seed_exchange("mx")
    key = {"Idempotency-Key": "k-global"}
    _, made, _ = api.create(first["id"], None, key)

    status, body, _ = api.create(second["id"], None, key)

    assert (status, body["code"]) == (409, "IdempotencyKeyReused")
    assert len(dwolla.exchange_sessions()) == 1
    assert api.status(second["id"])[0] == 404
    assert api.create(first["id"], None, key)[:2] == (200, made)


def test_a_newer_session_supersedes_the_pending_one(api, dwolla, published):
    exchange = dwolla.seed_exchange("mx")
    _, older, _ = api.create(exchange["id"])
    _, newer, _ = api.create(exchange["id"])

    assert api.session(older["id"])[1]["status"] == "superseded"
    assert api.session(newer["id"])[1]["status"] == "pending"
    _, record, _ = api.status(exchange["id"])
    assert record["pendingSessionId"] == newer["id"]
    assert record["status"] == "reauth_required"


@pytest.mark.parametrize(
    ("exchange_id", "body", "code"),
    [
        ("not-a-uuid", None, "InvalidExchangeId"),
        ("3b3b", {"returnUrl": RETURN_URL}, "InvalidExchangeId"),
        (None, {"returnUrl": "https://evil.example/steal"}, "ReturnUrlNotAllowed"),
        (None, {"customerId": "bob"}, "InvalidCustomerId"),
        (None, {"returnUrl": 7}, "ReturnUrlNotAllowed"),
    ],
)
def test_bad_input_is_refused_before_any_dwolla_call(api, dwolla, exchange_id, body, code):
    exchange_id = exchange_id or dwolla.seed_exchange("mx")["id"]
    dwolla.clear_requests()

    status, answer, _ = api.create(exchange_id, body)

    assert status == 400
    assert answer["code"] == code
    assert set(answer) == {"code", "message", "requestId"}
    assert dwolla.requests() == []


def test_malformed_json_is_refused_with_invalid_request(api, dwolla):
    exchange = dwolla.seed_exchange("mx")
    status, answer, _ = api.call(
        "POST",
        f"/exchanges/{exchange['id']}/reauth-sessions",
        body="{not json",
        headers={"Content-Type": "application/json"},
    )
    assert (status, answer["code"]) == (400, "InvalidRequest")


def test_bad_idempotency_key_is_refused(api, dwolla):
    exchange = dwolla.seed_exchange("mx")
    status, answer, _ = api.create(exchange["id"], None, {"Idempotency-Key": "x" * 300})
    assert (status, answer["code"]) == (400, "InvalidIdempotencyKey")


def test_unknown_session_and_exchange_record_answer_404(api):
    assert api.session(str(uuid.uuid4()))[1]["code"] == "SessionNotFound"
    assert api.status(str(uuid.uuid4()))[1]["code"] == "ExchangeRecordNotFound"
    assert api.session("nope")[1]["code"] == "InvalidSessionId"


def test_unknown_route_answers_the_json_error_shape(api):
    status, body, _ = api.call("GET", "/nowhere")
    assert status == 404
    assert body["code"] == "NotFound"
