"""Fixtures every tier may use. Nothing here is imported by a test: shared values and helpers
live in tests/support/. Everything heavy (moto, boto3, the sandbox) is imported inside the
fixture that needs it, so the pure tier (tests/unit) never loads it.

  sandbox, dwolla            the local Dwolla sandbox (a real HTTP server) and its admin API
  aws                        moto (in process) with the resources template.yaml defines
  service_env, functions     the two functions' environment and handler modules on both
  api, browser               a platform backend and a customer's browser driving the handlers
  relay, published           the outbox relay, and the events it delivered
  clock                      the service's clock, moved by the test
  failing_bus                EventBridge failing on purpose, as the relay sees it
"""

from __future__ import annotations

import os

import pytest

from tests.support.aws import dwolla_secret_value, use_fake_credentials
from tests.support.clock import Clock
from tests.support.constants import (
    CALLBACK_URL,
    DWOLLA_KEY,
    DWOLLA_SECRET,
    LINK_SECRET,
    OTHER_RETURN_URL,
    PUBLIC_BASE_URL,
    RETURN_URL,
    ROOT,
)
from tests.support.functions import Functions, new_container, serve

# Skips that CI must not accept: when the variable is "1", a test skipped for that reason fails.
REQUIRED_WHEN = {
    # .ci/run: the end-to-end tests (SAM CLI in Docker) and the in-browser tests must run
    "REQUIRE_E2E": ("Docker", "Chromium", "axe-core"),
    "REQUIRE_DWOLLA_OPENAPI": ("openapi.yml",),  # .ci/run: check the sandbox against Dwolla's spec
}


def pytest_report_header(config):
    """The clock this run reads, beside pytest-randomly's seed: a time-travel run (make
    test-timetravel, Debian's faketime) shows where it moved it."""
    from datetime import UTC, datetime

    faked = f" (faketime {os.environ['FAKETIME']!r})" if os.environ.get("FAKETIME") else ""
    return f"clock: {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC{faked}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or not isinstance(report.longrepr, tuple):
        return
    reason = report.longrepr[2]
    for variable, needles in REQUIRED_WHEN.items():
        if os.environ.get(variable) == "1" and any(needle in reason for needle in needles):
            report.outcome = "failed"
            report.longrepr = f"{variable}=1 but the test was skipped: {reason}"


@pytest.fixture(scope="session")
def sandbox():
    """The local Dwolla sandbox on 127.0.0.1, one per test session."""
    from local.dwolla_sandbox import DwollaSandbox

    server = DwollaSandbox(host="127.0.0.1", port=0, key=DWOLLA_KEY, secret=DWOLLA_SECRET)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def dwolla(sandbox):
    """The sandbox's admin API, reset, with this service's callback URL registered."""
    from local.dwolla_admin import SandboxAdmin

    admin = SandboxAdmin(sandbox.base_url, DWOLLA_KEY, DWOLLA_SECRET)
    admin.reset()
    admin.set_redirect_urls(CALLBACK_URL)
    return admin


@pytest.fixture
def aws(monkeypatch):
    """moto (in-process) with the table, bus, secret and event tap from template.yaml."""
    import boto3
    from moto import mock_aws

    from local.provision import provision

    use_fake_credentials(monkeypatch)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        session = boto3.session.Session()
        yield session, provision(session, dwolla=dwolla_secret_value(), link_secret=LINK_SECRET)


@pytest.fixture
def service_env(aws, dwolla, sandbox, monkeypatch):
    """The functions' environment, pointing at moto (in process, or moto server when the `aws`
    fixture set AWS_ENDPOINT_URL) and the sandbox."""
    from local.provision import function_environment

    _, resources = aws
    env = function_environment(
        resources,
        {
            "DWOLLA_API_BASE_URL": sandbox.base_url,
            "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
            "RETURN_URL_ALLOWLIST": f"{RETURN_URL},{OTHER_RETURN_URL}",
            "DEAD_LETTER_QUEUE_URL": resources.dead_letter_queue_url,
            "POWERTOOLS_LOG_LEVEL": "DEBUG",
            "AWS_ENDPOINT_URL": os.environ.get("AWS_ENDPOINT_URL", ""),
        },
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    new_container()
    yield env
    new_container()


@pytest.fixture
def functions(aws, service_env) -> Functions:
    session, resources = aws
    return Functions(session, resources)


@pytest.fixture
def api(functions):
    from tests.support.flow import Api

    return Api(functions.api)


@pytest.fixture
def browser(functions):
    from tests.support.flow import Browser

    return Browser(functions.callback)


@pytest.fixture
def relay(functions):
    """The outbox relay as Lambda runs it: the table's stream through RelayFunction's handler.
    `relay.pump()` delivers what was written since the last round."""
    from local.relay import StreamPump, load_handler

    return StreamPump(functions.session, functions.resources.table_name, load_handler(ROOT))


@pytest.fixture
def published(functions, relay):
    """Events the functions published: the relay delivers the outbox, then they are read
    through the tap rule → SQS queue."""
    from local.provision import drain_events
    from tests.support.event_contract import assert_conforms

    def read() -> list[dict]:
        relay.pump()
        events = drain_events(functions.session, functions.resources.tap_queue_url)
        return assert_conforms(events)  # every event as its schema says (docs/events/)

    return read


@pytest.fixture
def clock(functions) -> Clock:
    """Move the service's clock: clock.advance(minutes=31)."""
    moved = Clock()
    serve(clock=moved.now)
    return moved


@pytest.fixture
def failing_bus(functions):
    """EventBridge as the relay sees it, made to fail on purpose: `down` (every PutEvents
    raises, as when the bus is missing or throttled), `refuse` (entry error codes to answer,
    once each, e.g. ["ThrottlingException"] for the first entry), `calls` (what was tried)."""
    from reauth import runtime
    from reauth.events import EventPublisher
    from reauth.relaying import QueueDeadLetters, Relay

    config = runtime.config()
    events = functions.session.client("events")

    class FailingBus:
        def __init__(self) -> None:
            self.down = False
            self.refuse: list[str | None] = []
            self.calls: list[list[dict]] = []

        def put_events(self, Entries):
            self.calls.append(Entries)
            if self.down:
                raise events.exceptions.ResourceNotFoundException(
                    {"Error": {"Code": "ResourceNotFoundException", "Message": "bus is down"}},
                    "PutEvents",
                )
            codes = [self.refuse.pop(0) if self.refuse else None for _ in Entries]
            delivered = [e for e, code in zip(Entries, codes, strict=True) if code is None]
            if delivered:
                events.put_events(Entries=delivered)
            return {
                "FailedEntryCount": sum(code is not None for code in codes),
                "Entries": [
                    {"ErrorCode": code, "ErrorMessage": code} if code else {"EventId": "x"}
                    for code in codes
                ],
            }

    bus = FailingBus()
    sqs = functions.session.client("sqs")
    runtime.use_relay(
        Relay(
            EventPublisher(bus, config.event_bus_name, config.event_source),
            QueueDeadLetters(sqs, functions.resources.dead_letter_queue_url),
        )
    )
    yield bus
    runtime.use_relay(None)
