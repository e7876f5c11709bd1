"""Dwolla's answers surface as the documented codes (errors.DWOLLA_ERROR_TABLE), and a failed
create leaves nothing behind in DynamoDB."""

import uuid

import pytest

from tests.conftest import CALLBACK_URL


def _items(functions) -> list[dict]:
    db = functions.session.client("dynamodb")
    return db.scan(TableName=functions.resources.table_name)["Items"]


def test_unknown_exchange_is_404_exchange_not_found(api, dwolla, functions):
    status, body, _ = api.create(str(uuid.uuid4()))
    assert (status, body["code"]) == (404, "ExchangeNotFound")
    assert _items(functions) == []


def test_unregistered_callback_url_is_502_naming_the_misconfiguration(api, dwolla, functions):
    dwolla.set_redirect_urls("https://somewhere-else.example/cb")
    exchange = dwolla.seed_exchange("mx")

    status, body, _ = api.create(exchange["id"])

    assert (status, body["code"]) == (502, "DwollaRedirectUrlNotRegistered")
    assert CALLBACK_URL not in body["message"]
    assert _items(functions) == []


def test_missing_open_banking_scope_is_502_dwolla_scope_missing(api, dwolla):
    dwolla.set_open_banking_scope(False)
    exchange = dwolla.seed_exchange("mx")
    status, body, _ = api.create(exchange["id"])
    assert (status, body["code"]) == (502, "DwollaScopeMissing")


def test_forbidden_is_502_dwolla_forbidden(api, dwolla):
    exchange = dwolla.seed_exchange("mx")
    dwolla.inject_fault("/exchanges/*/exchange-sessions", method="POST", status=403)
    status, body, _ = api.create(exchange["id"])
    assert (status, body["code"]) == (502, "DwollaForbidden")


@pytest.mark.parametrize(
    "fault", [{"status": 503}, {"status": 429, "retryAfter": 0}, {"drop": True}]
)
def test_persistent_outage_is_503_after_bounded_retries_and_nothing_is_stored(
    api, dwolla, functions, fault
):
    exchange = dwolla.seed_exchange("mx")
    dwolla.clear_requests()
    dwolla.inject_fault("/exchanges/*/exchange-sessions", method="POST", times=10, **fault)

    status, body, _ = api.create(exchange["id"])

    assert (status, body["code"]) == (503, "DwollaUnavailable")
    posts = [
        r for r in dwolla.requests() if r["method"] == "POST" and r["path"].endswith("sessions")
    ]
    assert 1 < len(posts) <= 4
    assert len({p["idempotencyKey"] for p in posts}) == 1
    assert _items(functions) == []


def test_a_transient_fault_is_retried_transparently(api, dwolla):
    exchange = dwolla.seed_exchange("mx")
    dwolla.inject_fault("/exchanges/*/exchange-sessions", method="POST", times=2, status=503)
    status, body, _ = api.create(exchange["id"])
    assert status == 201
    assert len(dwolla.exchange_sessions()) == 1


def test_timeout_is_504_dwolla_timeout_and_nothing_is_stored(api, dwolla, functions):
    import urllib3

    from reauth import runtime

    runtime.service()._dwolla._timeout = urllib3.Timeout(connect=1, read=0.2)
    exchange = dwolla.seed_exchange("mx")
    dwolla.inject_fault("/exchange-sessions/*", method="GET", times=10, delay=0.5)

    status, body, _ = api.create(exchange["id"])

    assert (status, body["code"]) == (504, "DwollaTimeout")
    assert _items(functions) == []


def test_wrong_credentials_are_502_dwolla_credentials_invalid(api, dwolla, functions):
    secrets = functions.session.client("secretsmanager")
    secrets.put_secret_value(
        SecretId=functions.resources.secret_id,
        SecretString='{"key": "wrong", "secret": "wrong", "webhookSecret": "w"}',
    )
    exchange = dwolla.seed_exchange("mx")
    status, body, _ = api.create(exchange["id"])
    assert (status, body["code"]) == (502, "DwollaCredentialsInvalid")
    assert "wrong" not in body["message"]


def test_expired_access_token_is_renewed_once_without_the_caller_noticing(api, dwolla):
    exchange = dwolla.seed_exchange("mx")
    api.create(exchange["id"])
    dwolla.expire_tokens()
    status, _, _ = api.create(exchange["id"])
    assert status == 201
