"""Shared fixtures: the local Dwolla sandbox (a real HTTP server), AWS on moto built from
template.yaml's own definitions, and the two functions' handlers wired to both."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import boto3
import pytest

from local.dwolla_admin import SandboxAdmin
from local.provision import DwollaSecretValue, function_environment, provision

ROOT = Path(__file__).resolve().parent.parent
OPENAPI = Path(os.environ.get("DWOLLA_OPENAPI", ROOT.parent / "shared" / "dwolla" / "openapi.yml"))

DWOLLA_KEY = "sandbox-key-7f3c9a"
DWOLLA_SECRET = "sandbox-secret-0d94be1f5a"
WEBHOOK_SECRET = "webhook-secret-55aa21c0"
PUBLIC_BASE_URL = "https://reauth.example.test/v1"
CALLBACK_URL = f"{PUBLIC_BASE_URL}/reauth/callback"
RETURN_URL = "https://app.example.test/settings/bank"
OTHER_RETURN_URL = "https://app.example.test/onboarding?step=bank"


# Skips that CI must not accept: when the variable is "1", a test skipped for that reason fails.
REQUIRED_WHEN = {
    # .ci/run: the end-to-end tests (SAM CLI in Docker) and the in-browser tests must run
    "REQUIRE_E2E": ("Docker", "Chromium"),
    "REQUIRE_DWOLLA_OPENAPI": ("openapi.yml",),  # .ci/run: check the sandbox against Dwolla's spec
}


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
def dwolla(sandbox) -> SandboxAdmin:
    """The sandbox's admin API, reset, with this service's callback URL registered."""
    admin = SandboxAdmin(sandbox.base_url, DWOLLA_KEY, DWOLLA_SECRET)
    admin.reset()
    admin.set_redirect_urls(CALLBACK_URL)
    return admin


def _aws_env(monkeypatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def aws(monkeypatch):
    """moto (in-process) with the table, bus, secret and event tap from template.yaml."""
    from moto import mock_aws

    _aws_env(monkeypatch)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        session = boto3.session.Session()
        resources = provision(
            session, dwolla=DwollaSecretValue(DWOLLA_KEY, DWOLLA_SECRET, WEBHOOK_SECRET)
        )
        yield session, resources


def reset_runtime() -> None:
    from reauth import runtime

    runtime.reset()


def load_function(name: str):
    """functions/<name>/app.py as its own module (both functions' modules are called app)."""
    module_name = f"function_{name}_app"
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "functions" / name / "app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


class Functions:
    def __init__(self, session, resources) -> None:
        self.session = session
        self.resources = resources
        self.api = load_function("api")
        self.callback = load_function("callback")


@pytest.fixture
def service_env(aws, dwolla, sandbox, monkeypatch):
    """The functions' environment, pointing at moto (in process, or moto server when the `aws`
    fixture set AWS_ENDPOINT_URL) and the sandbox."""
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
    reset_runtime()
    yield env
    reset_runtime()


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

    def read() -> list[dict]:
        relay.pump()
        return drain_events(functions.session, functions.resources.tap_queue_url)

    return read


@pytest.fixture
def clock(functions, monkeypatch):
    """Move the service's clock: clock.advance(minutes=31)."""
    from datetime import timedelta

    from reauth import runtime
    from reauth.model import utcnow

    class Clock:
        offset = timedelta()

        def now(self):
            return utcnow() + self.offset

        def advance(self, **delta) -> None:
            self.offset += timedelta(**delta)

    moved = Clock()
    built = runtime.build_service(runtime.build_context(runtime.config(), clock=moved.now))
    runtime.use(built)
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
