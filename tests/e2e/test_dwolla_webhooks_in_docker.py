"""Dwolla's webhooks, really delivered: the local stack subscribes its /webhooks/dwolla with the
operator's command (local.stack.subscribe_webhooks, as `make dwolla-webhooks ACTION=create`),
and the Dwolla sandbox POSTs signed webhooks to `sam local start-api` in Docker; nothing here
signs or posts a body itself (tests/handlers keep testing the verifier that way)."""

from __future__ import annotations

import json
import time

import pytest
import requests

from local import stack as local_stack
from local.stack import EXCHANGES
from tests.support.waiting import until

MX = EXCHANGES["mx"]
HAL = "application/vnd.dwolla.v1.hal+json"

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("clean")]


def sandbox_call(dwolla, method: str, path_or_url: str, body: dict | None = None):
    url = path_or_url if path_or_url.startswith("http") else dwolla.base_url + path_or_url
    headers = {"Accept": HAL, "Authorization": f"Bearer {dwolla.access_token()}"}
    if body is not None:
        headers["Content-Type"] = HAL
    return requests.request(
        method, url, data=json.dumps(body) if body else None, headers=headers, timeout=10
    )


def subscriptions(dwolla) -> list[dict]:
    return sandbox_call(dwolla, "GET", "/webhook-subscriptions").json()["_embedded"][
        "webhook-subscriptions"
    ]


def reauth_required_for(published, exchange_id: str, timeout: float = 90.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        found = [
            e
            for e in published(expect="Exchange Reauth Required", timeout=2)
            if e["detail-type"] == "Exchange Reauth Required"
            and e["detail"].get("exchangeId") == exchange_id
        ]
        if found or time.monotonic() > deadline:
            return found


def attempts(dwolla, subscription: dict) -> list[int]:
    hooks = sandbox_call(dwolla, "GET", subscription["_links"]["webhooks"]["href"]).json()
    return [
        a["response"]["statusCode"]
        for hook in hooks["_embedded"]["webhooks"]
        for a in hook["attempts"]
    ]


def test_the_stack_is_subscribed_and_a_delivered_webhook_marks_the_exchange(
    stack, dwolla, published
):
    [subscription] = subscriptions(dwolla)
    assert subscription["url"] == f"{stack.api_url}/webhooks/dwolla"
    assert local_stack.subscribe_webhooks(stack, "check")[0] == 0
    dwolla.require_reauth(MX)  # Dwolla's news: the sandbox delivers the signed webhook
    assert reauth_required_for(published, MX), "no Exchange Reauth Required for the webhook"
    tried = until(lambda: attempts(dwolla, subscription), lambda s: 200 in s, 90, every=0.5)
    assert tried[-1:] == [200]


def test_a_refused_delivery_is_retried_the_subscription_paused_and_check_says_so(
    stack, dwolla, published
):
    [good] = subscriptions(dwolla)
    sandbox_call(dwolla, "DELETE", good["_links"]["self"]["href"])
    dwolla.set_webhook_settings(timeScale=0.00002, pauseAfterFailures=2)
    wrong = sandbox_call(
        dwolla,
        "POST",
        "/webhook-subscriptions",
        {"url": f"{stack.api_url}/webhooks/dwolla", "secret": "not-the-stack-secret"},
    )
    assert wrong.status_code == 201
    dwolla.require_reauth(MX)
    [subscription] = subscriptions(dwolla)
    paused = until(
        lambda: sandbox_call(dwolla, "GET", wrong.headers["Location"]).json(),
        lambda s: s["paused"],
        timeout=90,
        every=0.5,
    )
    assert paused["paused"] is True
    tries = attempts(dwolla, subscription)
    assert len(tries) >= 2 and all(status >= 400 for status in tries)  # refused, retried
    status, report = local_stack.subscribe_webhooks(stack, "check")
    assert status == 1 and report.startswith("PAUSED")

    sandbox_call(dwolla, "DELETE", wrong.headers["Location"])
    assert local_stack.subscribe_webhooks(stack, "create")[1].startswith("subscribed: ")
    assert local_stack.subscribe_webhooks(stack, "check")[0] == 0
    published(timeout=1)  # what came before
    dwolla.require_reauth(MX)
    assert reauth_required_for(published, MX), "no delivery after the subscription was restored"
