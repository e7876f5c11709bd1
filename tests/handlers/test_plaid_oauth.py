"""Plaid's OAuth banks: with PLAID_REDIRECT_URL, Plaid sessions are made with it, and the browser
Plaid sends back there (`?oauth_state_id=`) gets Link again on the same attempt."""

import json

import pytest

from tests.support.constants import CALLBACK_URL, PUBLIC_BASE_URL
from tests.support.flow import location, plaid_config
from tests.support.functions import new_container

PLAID_RETURN = f"{PUBLIC_BASE_URL}/reauth/plaid-oauth"
STATE = "0f8a3c2e-5b1d-4e7a-9c6f-2d4b8e1a7c30"


@pytest.fixture
def oauth_on(service_env, dwolla, monkeypatch):
    monkeypatch.setenv("PLAID_REDIRECT_URL", PLAID_RETURN)
    dwolla.set_redirect_urls(CALLBACK_URL, PLAID_RETURN)
    new_container()


def _redirect_urls(dwolla) -> dict[str, str | None]:
    return {s["partner"]: s["redirectUrl"] for s in dwolla.exchange_sessions()}


def test_plaid_sessions_carry_the_plaid_return_and_mx_sessions_the_callback(
    oauth_on, api, dwolla, browser
):
    plaid, mx = dwolla.seed_exchange("plaid"), dwolla.seed_exchange("mx")
    _, session, _ = api.create(plaid["id"])
    api.create(mx["id"])
    assert _redirect_urls(dwolla) == {"plaid": PLAID_RETURN, "mx": CALLBACK_URL}

    # A later attempt of the request (its handoff known) is made with it too.
    page = browser.click_start(session["startUrl"])
    browser.report_plaid(page, {"outcome": "error", "error": "USER_CANCELLED"})
    browser.try_again(f"{PUBLIC_BASE_URL}/reauth/link/{session['id']}")
    plaid_sessions = [s for s in dwolla.exchange_sessions() if s["partner"] == "plaid"]
    assert [s["redirectUrl"] for s in plaid_sessions] == [PLAID_RETURN, PLAID_RETURN]


def test_without_it_plaid_sessions_are_made_as_before(api, dwolla):
    dwolla.clear_requests()
    api.create(dwolla.seed_exchange("plaid")["id"])
    assert _redirect_urls(dwolla) == {"plaid": CALLBACK_URL}
    assert not [r for r in dwolla.requests() if "/exchange-partners/" in r["path"]]


def test_back_from_the_oauth_bank_link_opens_again_on_the_same_attempt(
    oauth_on, api, dwolla, browser, published
):
    _, session, _ = api.create(dwolla.seed_exchange("plaid")["id"])
    first = plaid_config(browser.click_start(session["startUrl"]))
    published()
    sessions = dwolla.exchange_sessions()

    back = browser.get(f"{PLAID_RETURN}?oauth_state_id={STATE}")

    assert back["statusCode"] == 200
    config = plaid_config(back)
    assert (config["token"], config["csrf"]) == (first["token"], first["csrf"])
    assert config["receivedRedirectUri"] == f"{PLAID_RETURN}?oauth_state_id={STATE}"
    assert dwolla.exchange_sessions() == sessions  # no new Dwolla session
    assert len(api.session(session["id"])[1]["attempts"]) == 1
    assert published() == []

    dwolla.complete_exchange_session(config["token"])  # Link, re-opened, finished at the bank
    answer = browser.report_plaid(back, {"outcome": "success"})
    assert json.loads(answer["body"])["location"].startswith(f"{PUBLIC_BASE_URL}/reauth/done?")
    assert api.session(session["id"])[1]["status"] == "reauthorized"

    again = browser.get(f"{PLAID_RETURN}?oauth_state_id={STATE}")  # a stale tab: the result
    assert again["statusCode"] == 303
    assert "status=reauthorized" in location(again)


@pytest.mark.parametrize(
    "query",
    [
        "oauth_state_id=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "oauth_state_id=" + "a" * 129,
        f"oauth_state_id={STATE}&oauth_state_id={STATE}",
        "state=abc",
    ],
)
def test_a_malformed_oauth_return_is_refused_and_not_echoed(oauth_on, api, dwolla, browser, query):
    _, session, _ = api.create(dwolla.seed_exchange("plaid")["id"])
    browser.click_start(session["startUrl"])

    answer = browser.get(f"{PLAID_RETURN}?{query}")

    assert answer["statusCode"] == 400
    assert "alert(1)" not in answer["body"] and "a" * 129 not in answer["body"]


def test_a_browser_without_the_binding_is_refused(oauth_on, api, dwolla, browser):
    _, session, _ = api.create(dwolla.seed_exchange("plaid")["id"])
    browser.click_start(session["startUrl"])
    stranger = type(browser)(browser.module)

    answer = stranger.get(f"{PLAID_RETURN}?oauth_state_id={STATE}")

    assert answer["statusCode"] == 400
    assert "link-sandbox-" not in answer["body"]
