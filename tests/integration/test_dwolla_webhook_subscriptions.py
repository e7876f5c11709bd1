"""The sandbox's webhook subscriptions answer like Dwolla's, and it really delivers: signed POSTs
to a local receiver, retried on Dwolla's (scaled) schedule, the subscription paused after the
failure threshold. Answers are checked against Dwolla's openapi.yml like the rest of the
sandbox's (test_dwolla_sandbox_contract.py)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from local.dwolla_sandbox import DwollaSandbox
from tests.integration.test_dwolla_sandbox_contract import (
    HAL,
    KEY,
    Dwolla,
    openapi_validator,  # noqa: F401
)
from tests.integration.test_dwolla_sandbox_contract import SECRET as SANDBOX_SECRET
from tests.support.waiting import until

SUBS = ("paths", "/webhook-subscriptions")
SECRET = "a-webhook-secret"
SCALE = 0.0001  # Dwolla's 72 h of retries in 26 s; 15 min in 0.09 s


class Receiver:
    """A platform's webhook endpoint on 127.0.0.1: records each delivery, answers `status`."""

    def __init__(self) -> None:
        self.status = 200
        self.received: list[dict] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.arrived:
                    receiver.received.append({"headers": dict(self.headers), "body": body})
                    receiver.arrived.notify_all()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/dwolla"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.received) < count and time.monotonic() < deadline:
                self.arrived.wait(timeout=0.2)
            return list(self.received)


@pytest.fixture(scope="module")
def sandbox():
    with DwollaSandbox(host="127.0.0.1", port=0, webhook_time_scale=SCALE) as running:
        yield running


@pytest.fixture
def dwolla(sandbox) -> Dwolla:
    caller = Dwolla(sandbox.base_url)
    caller.admin("POST", "/reset")
    caller.admin("PUT", "/webhook-settings", {"timeScale": SCALE, "pauseAfterFailures": 400})
    yield caller
    caller.admin("POST", "/reset")


@pytest.fixture
def spec_validator(openapi_validator):  # noqa: F811 - the contract tests' fixture
    return openapi_validator


@pytest.fixture
def receiver():
    made = Receiver()
    yield made
    made.server.shutdown()
    made.server.server_close()


def subscribe(dwolla: Dwolla, url: str, secret: str = SECRET):
    return dwolla.http.post(
        f"{dwolla.base}/webhook-subscriptions",
        data=json.dumps({"url": url, "secret": secret}),
        headers=dwolla.headers(**{"Content-Type": HAL}),
        timeout=10,
    )


def reauth_required(dwolla: Dwolla) -> dict:
    exchange = dwolla.seed("plaid")
    return dwolla.admin("POST", f"/exchanges/{exchange['id']}/reauth-required").json()


def attempts(hooks: dict) -> list[int]:
    return [a["response"]["statusCode"] for a in hooks["_embedded"]["webhooks"][0]["attempts"]]


def test_subscriptions_are_created_listed_read_paused_and_deleted_as_the_spec_says(
    dwolla, spec_validator
):
    made = subscribe(dwolla, "https://platform.example.test/webhooks/dwolla")
    assert made.status_code == 201 and made.text == ""
    location = made.headers["Location"]
    assert location.startswith(f"{dwolla.base}/webhook-subscriptions/")
    one = dwolla.get(location)
    assert one.status_code == 200
    assert one.json()["url"] == "https://platform.example.test/webhooks/dwolla"
    assert one.json()["paused"] is False
    assert "secret" not in one.json()
    spec_validator(one.json(), (*SUBS, "get", "responses", "200", "content", HAL, "schema"))
    listed = dwolla.get("/webhook-subscriptions").json()
    assert listed["total"] == 1
    assert listed["_embedded"]["webhook-subscriptions"][0]["id"] == one.json()["id"]
    spec_validator(listed, (*SUBS, "get", "responses", "200", "content", HAL, "schema"))

    paused = dwolla.http.post(
        location,
        data=json.dumps({"paused": True}),
        headers=dwolla.headers(**{"Content-Type": HAL}),
        timeout=10,
    )
    assert paused.status_code == 200 and paused.json()["paused"] is True
    one_path = ("paths", "/webhook-subscriptions/{id}")
    spec_validator(paused.json(), (*one_path, "post", "responses", "200", "content", HAL, "schema"))
    gone = dwolla.http.delete(location, headers=dwolla.headers(), timeout=10)
    assert gone.status_code == 200 and gone.json()["id"] == one.json()["id"]
    assert dwolla.get(location).status_code == 404
    spec_validator(
        dwolla.get(location).json(),
        (*one_path, "get", "responses", "404", "content", HAL, "schema"),
    )


def test_bad_url_long_secret_and_the_eleventh_subscription_are_refused(dwolla, spec_validator):
    bad_url = subscribe(dwolla, "not a url")
    assert bad_url.status_code == 400
    assert bad_url.json()["_embedded"]["errors"][0]["message"] == "Url must be a valid url."
    spec_validator(bad_url.json(), ("components", "schemas", "InvalidUrlFormatError"))
    long_secret = subscribe(dwolla, "https://a.example.test/h", "s" * 129)
    assert long_secret.json()["_embedded"]["errors"][0]["path"] == "/secret"
    for n in range(10):  # the sandbox's limit (production's is 5)
        assert subscribe(dwolla, f"https://a.example.test/h{n}").status_code == 201
    over = subscribe(dwolla, "https://a.example.test/h10")
    assert over.status_code == 400 and over.json()["code"] == "MaxNumberOfResources"
    spec_validator(over.json(), ("components", "schemas", "MaxSubscriptionsReachedError"))


def test_an_event_is_delivered_signed_to_each_unpaused_subscription(dwolla, receiver):
    assert subscribe(dwolla, receiver.url).status_code == 201
    marked = reauth_required(dwolla)
    [delivery] = receiver.wait_for(1)
    body, headers = delivery["body"], delivery["headers"]
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Request-Signature-SHA-256"] == expected
    assert headers["X-Dwolla-Topic"] == "customer_exchange_reauth_required"
    payload = json.loads(body)
    assert payload["id"] == marked["event"]["id"]
    assert payload["resourceId"] == marked["exchange"]["id"]
    assert payload["_links"]["resource"]["href"].endswith(f"/exchanges/{marked['exchange']['id']}")


def test_a_failed_delivery_is_retried_and_the_webhook_lists_its_attempts(
    dwolla, receiver, spec_validator
):
    receiver.status = 500
    location = subscribe(dwolla, receiver.url).headers["Location"]
    reauth_required(dwolla)
    receiver.wait_for(2)  # the first try, and the retry 15 (scaled) minutes later
    receiver.status = 200
    deliveries = receiver.wait_for(3)
    assert len({d["body"] for d in deliveries}) == 1  # the same bytes every time
    hooks = until(
        lambda: dwolla.get(f"{location}/webhooks").json(),
        lambda h: attempts(h)[-1:] == [200],
        timeout=30,
    )
    assert hooks["total"] == 1
    statuses = attempts(hooks)
    assert statuses[:2] == [500, 500] and statuses[-1] == 200
    spec_validator(
        hooks,
        (
            "paths",
            "/webhook-subscriptions/{id}/webhooks",
            "get",
            "responses",
            "200",
            "content",
            HAL,
            "schema",
        ),
    )


def test_a_failing_subscription_is_paused_and_unpausing_delivers_again(dwolla, receiver):
    dwolla.admin("PUT", "/webhook-settings", {"pauseAfterFailures": 3, "timeScale": 0.00002})
    receiver.status = 503
    location = subscribe(dwolla, receiver.url).headers["Location"]
    reauth_required(dwolla)
    read = until(lambda: dwolla.get(location).json(), lambda s: s["paused"], timeout=30)
    assert read["paused"] is True  # 3 failures and 24 (scaled) hours
    seen = len(receiver.received)
    reauth_required(dwolla)  # made while paused: never sent
    receiver.status = 200
    unpaused = dwolla.http.post(
        location,
        data=json.dumps({"paused": False}),
        headers=dwolla.headers(**{"Content-Type": HAL}),
        timeout=10,
    )
    assert unpaused.json()["paused"] is False
    marked = reauth_required(dwolla)
    deliveries = receiver.wait_for(seen + 1)
    assert json.loads(deliveries[seen]["body"])["id"] == marked["event"]["id"]


# --- The operator's command (reauth.webhook_subscription) against the sandbox ------------------


def command(dwolla: Dwolla, action: str, base_url: str) -> tuple[int, str]:
    """`python -m reauth.webhook_subscription <action>` with the secret the stack would hold."""
    from reauth import webhook_subscription

    value = json.dumps({"key": KEY, "secret": SANDBOX_SECRET, "webhookSecret": SECRET})
    out = io.StringIO()
    argv = [action, "--secret-arn", "arn:local", "--url", base_url]
    argv += ["--dwolla-base-url", dwolla.base]
    with contextlib.redirect_stdout(out):
        status = webhook_subscription.main(argv, read_secret=lambda arn, region: value)
    assert SECRET not in out.getvalue() and SANDBOX_SECRET not in out.getvalue()
    return status, out.getvalue()


def test_the_command_subscribes_once_checks_and_unpauses_what_dwolla_paused(dwolla, receiver):
    base = receiver.url.removesuffix("/webhooks/dwolla")
    assert command(dwolla, "check", base)[0] == 1  # not subscribed yet
    assert command(dwolla, "create", base)[1].startswith("subscribed: ")
    assert command(dwolla, "create", base)[1].startswith("already subscribed: ")
    [made] = dwolla.get("/webhook-subscriptions").json()["_embedded"]["webhook-subscriptions"]
    assert made["url"] == receiver.url
    status, report = command(dwolla, "check", base)
    assert status == 0 and report.startswith("active: ")

    reauth_required(dwolla)  # delivered, signed with the stack's webhookSecret
    [delivery] = receiver.wait_for(1)
    signature = hmac.new(SECRET.encode(), delivery["body"], hashlib.sha256).hexdigest()
    assert delivery["headers"]["X-Request-Signature-SHA-256"] == signature

    dwolla.admin("PUT", "/webhook-settings", {"pauseAfterFailures": 3, "timeScale": 0.00002})
    receiver.status = 500
    reauth_required(dwolla)
    location = f"{dwolla.base}/webhook-subscriptions/{made['id']}"
    until(lambda: dwolla.get(location).json(), lambda s: s["paused"], timeout=30)
    status, report = command(dwolla, "check", base)
    assert status == 1 and report.startswith("PAUSED")
    assert "1 of its last 2 webhooks failed" in report
    receiver.status = 200
    assert command(dwolla, "unpause", base)[1].startswith("unpaused: ")
    assert command(dwolla, "check", base)[0] == 0
    seen = len(receiver.received)
    reauth_required(dwolla)
    assert len(receiver.wait_for(seen + 1)) == seen + 1  # delivered again
