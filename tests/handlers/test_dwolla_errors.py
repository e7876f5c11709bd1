"""Dwolla's answers surface as the documented codes (dwolla_errors.DWOLLA_ERROR_TABLE): a failed
create leaves nothing behind in DynamoDB, a failed start click shows the customer a page that
says what to do (and binds nothing), and a balance check Dwolla refuses leaves the request
`verifying`."""

import logging
import uuid

import pytest

from tests.support.constants import CALLBACK_URL
from tests.support.flow import Browser, bank_url, header, location
from tests.support.functions import serve
from tests.support.table import table_items


def _journey(functions) -> list[dict]:
    """The table but for the last check with Dwolla (a click that needs a fresh attempt first
    asks whether the exchange was repaired elsewhere, and keeps its answer on the request, with
    the funding source it found, vouched for by the search)."""
    check = (
        "verifyResult",
        "verifyCheckedAt",
        "updatedAt",
        "fundingSourceId",
        "fundingSourceVerified",
    )
    items = [{k: v for k, v in item.items() if k not in check} for item in table_items(functions)]
    return sorted(items, key=lambda item: item["pk"]["S"] + item["sk"]["S"])


def test_unknown_exchange_is_404_exchange_not_found(api, dwolla, functions):
    status, body, _ = api.create(str(uuid.uuid4()))
    assert (status, body["code"]) == (404, "ExchangeNotFound")
    assert table_items(functions) == []


def test_unregistered_callback_url_is_502_naming_the_misconfiguration(api, dwolla, functions):
    dwolla.set_redirect_urls("https://somewhere-else.example/cb")
    exchange = dwolla.seed_exchange("mx")

    status, body, _ = api.create(exchange["id"])

    assert (status, body["code"]) == (502, "DwollaRedirectUrlNotRegistered")
    assert CALLBACK_URL not in body["message"]
    assert table_items(functions) == []


def test_missing_open_banking_scope_is_502_dwolla_scope_missing(api, dwolla, functions):
    dwolla.set_open_banking_scope(False)
    exchange = dwolla.seed_exchange("mx")
    status, body, _ = api.create(exchange["id"])
    assert (status, body["code"]) == (502, "DwollaScopeMissing")
    assert table_items(functions) == []


def test_forbidden_is_502_dwolla_forbidden(api, dwolla, functions):
    exchange = dwolla.seed_exchange("mx")
    dwolla.inject_fault("/exchanges/*/exchange-sessions", method="POST", status=403)
    status, body, _ = api.create(exchange["id"])
    assert (status, body["code"]) == (502, "DwollaForbidden")
    assert table_items(functions) == []


@pytest.mark.parametrize(
    "fault", [{"status": 503}, {"status": 429, "retryAfter": 0}, {"drop": True}]
)
def test_persistent_outage_is_503_after_bounded_retries_and_nothing_is_stored(
    api, dwolla, functions, published, fault
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
    assert table_items(functions) == []  # no request, no exchange record, no idempotency record
    assert published() == []


def test_a_transient_fault_is_retried_transparently(api, dwolla):
    exchange = dwolla.seed_exchange("mx")
    dwolla.inject_fault("/exchanges/*/exchange-sessions", method="POST", times=2, status=503)
    status, body, _ = api.create(exchange["id"])
    assert status == 201
    assert len(dwolla.exchange_sessions()) == 1


def test_timeout_is_504_dwolla_timeout_and_nothing_is_stored(api, dwolla, functions):
    import urllib3

    serve(dwolla_timeout=urllib3.Timeout(connect=1, read=0.2))
    exchange = dwolla.seed_exchange("mx")
    dwolla.inject_fault("/exchange-sessions/*", method="GET", times=10, delay=0.5)

    status, body, _ = api.create(exchange["id"])

    assert (status, body["code"]) == (504, "DwollaTimeout")
    assert table_items(functions) == []


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
    assert table_items(functions) == []


def test_expired_access_token_is_renewed_once_without_the_caller_noticing(api, dwolla):
    exchange = dwolla.seed_exchange("mx")
    api.create(exchange["id"])
    dwolla.expire_tokens()
    status, _, _ = api.create(exchange["id"])
    assert status == 201


# ---- a start click that needs a fresh attempt (a new Dwolla exchange session) ----------------
# (case id, how Dwolla fails, the customer's page: its status and a phrase from it)
CLICK_FAILURES = [
    ("unregistered-callback-url", {"redirect": "https://elsewhere.example/cb"}, 503, "reload"),
    ("scope-missing", {"scope": False}, 503, "reload"),
    ("forbidden", {"status": 403}, 503, "reload"),
    ("outage", {"status": 503, "times": 10}, 503, "reload"),
    ("rate-limited", {"status": 429, "retryAfter": 0, "times": 10}, 503, "reload"),
    ("exchange-gone", {"status": 404}, 400, "start again"),
]


@pytest.mark.parametrize(
    ("failure", "status", "phrase"),
    [case[1:] for case in CLICK_FAILURES],
    ids=[case[0] for case in CLICK_FAILURES],
)
def test_a_dwolla_error_at_a_start_click_shows_a_page_and_binds_nothing(
    api, dwolla, functions, published, failure, status, phrase
):
    exchange = dwolla.seed_exchange("mx")
    _, request, _ = api.create(exchange["id"])
    first = Browser(functions.callback)
    first.click_start(request["startUrl"])  # attempt #1 is now someone's: the next click needs #2
    published()
    before = _journey(functions)
    if "redirect" in failure:
        dwolla.set_redirect_urls(failure["redirect"])
    elif "scope" in failure:
        dwolla.set_open_banking_scope(failure["scope"])
    else:
        fault = {k: v for k, v in failure.items() if k != "times"}
        dwolla.inject_fault(
            "/exchanges/*/exchange-sessions", method="POST", times=failure.get("times", 1), **fault
        )
    second = Browser(functions.callback)

    answer = second.click_start(request["startUrl"])

    assert answer["statusCode"] == status
    assert phrase in answer["body"]
    assert header(answer, "set-cookie") is None and second.jar == {}
    assert _journey(functions) == before  # no attempt, binding or event
    assert published() == []
    # Once Dwolla is itself again, the same click works.
    dwolla.clear_faults()
    dwolla.set_redirect_urls(CALLBACK_URL)
    dwolla.set_open_banking_scope(True)
    again = second.click_start(request["startUrl"])
    assert again["statusCode"] == 200 and bank_url(again)
    assert len(api.session(request["id"])[1]["attempts"]) == 2


# ---- the balance check ----------
@pytest.mark.parametrize("refusal", [403, 404, 401])
def test_a_balance_check_dwolla_refuses_leaves_the_request_verifying_and_logs_an_error(
    api, browser, dwolla, published, caplog, refusal
):
    exchange = dwolla.seed_exchange("mx")
    _, request, _ = api.create(exchange["id"], {"fundingSourceId": exchange["fundingSourceId"]})
    back = browser.visit_bank(bank_url(browser.click_start(request["startUrl"])))
    dwolla.inject_fault("/funding-sources/*/balance", method="GET", times=10, status=refusal)

    with caplog.at_level(logging.INFO, logger="reauth"):
        browser.get(back)

    body = api.session(request["id"])[1]
    assert body["status"] == "verifying"
    assert body["verification"]["result"] == "unavailable"
    errors = [
        r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("reauth")
    ]
    assert any("could not confirm" in r.getMessage() for r in errors)
    assert "Exchange Reauthorized" not in [e["detail-type"] for e in published()]


def test_a_balance_check_that_still_answers_update_credentials_is_not_an_error(
    api, browser, dwolla, published
):
    exchange = dwolla.seed_exchange("mx")
    _, request, _ = api.create(exchange["id"])
    page = browser.click_start(request["startUrl"])
    # Back from the bank without the bank leg having happened (Dwolla still says UpdateCredentials)
    landed = browser.get(f"{CALLBACK_URL}?exchange={exchange['id']}")

    assert "reason=NOT_REPAIRED" in location(landed)
    body = api.session(request["id"])[1]
    assert (body["status"], body["verification"]["result"]) == ("pending", "not_repaired")
    assert bank_url(page)
