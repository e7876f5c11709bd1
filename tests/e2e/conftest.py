"""End-to-end fixtures: the two functions under SAM CLI in Docker, on a local stack of their own.

One stack per test session (local.stack: moto server, the Dwolla sandbox, `sam local start-api`),
on ports that leave a developer's `make up` (3000/8787/5050) alone, always torn down at the end.
Without a usable Docker + SAM CLI setup every test that needs the stack skips with a reason
naming Docker; tests/conftest.py turns that skip into a failure when REQUIRE_E2E=1 (CI).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from local import platform_webhook
from local import stack as local_stack
from local.platform_receiver import PlatformReceiver
from local.platform_webhook import PlatformWebhookResources
from local.provision import drain_events
from tests.e2e.clients import Browser, PlatformApi
from tests.e2e.sam_cli import MAKE_UP_RETURN_URL, SamInvoker, sam_local_unavailable
from tests.support.event_contract import assert_conforms
from tests.support.ordering import as_a_consumer_reads

PREFIX = "dwolla-reauth-e2e"
# Away from `make up` (3000/8787/5050); E2E_*_PORT override them; a busy port is an error.
PORTS = {
    "api_port": int(os.environ.get("E2E_API_PORT", 3310)),
    "sandbox_port": int(os.environ.get("E2E_SANDBOX_PORT", 8797)),
    "moto_port": int(os.environ.get("E2E_MOTO_PORT", 5060)),
}
AWS_VARIABLES = (*local_stack.AWS_ENV, "AWS_ENDPOINT_URL")


def _port_busy(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """This session's own local stack, up for the whole session, torn down at its end."""
    why = sam_local_unavailable()
    if why:
        pytest.skip(f"Docker/SAM CLI local not available: {why}")
    bridge = local_stack.bridge_address()
    hosts = {"api_port": "127.0.0.1", "sandbox_port": bridge, "moto_port": bridge}
    busy = [f"{hosts[n]}:{port}" for n, port in PORTS.items() if _port_busy(hosts[n], port)]
    if busy:
        pytest.fail(
            f"e2e ports in use: {', '.join(busy)} (another e2e run, or a stack left running?). "
            "Stop it, or choose others with E2E_API_PORT / E2E_SANDBOX_PORT / E2E_MOTO_PORT."
        )
    saved_env = {name: os.environ.get(name) for name in AWS_VARIABLES}
    the_stack = local_stack.Stack(
        bridge=bridge, prefix=PREFIX, state_dir=tmp_path_factory.mktemp("e2e-stack"), **PORTS
    )
    try:
        local_stack.up(the_stack, log=lambda _: None)  # up() tears itself down if it fails
        yield the_stack
    finally:
        local_stack.down(the_stack, log=lambda _: None)
        _remove_leftover_containers(the_stack)
        for name, value in saved_env.items():  # stack.aws() sets AWS_* in this process
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _remove_leftover_containers(the_stack: local_stack.Stack) -> None:
    """SAM CLI removes its containers when it stops on SIGTERM; this removes any left behind
    (an invoke killed on timeout). Only containers wired to this very stack qualify."""
    marks = (
        f"AWS_ENDPOINT_URL=http://host.docker.internal:{the_stack.moto_port}",
        f"TABLE_NAME={the_stack.prefix}-table",
    )
    listing = subprocess.run(
        ["docker", "ps", "-aq", "--filter", "label=sam.cli.container.type=lambda"],
        capture_output=True,
        text=True,
        check=False,
    )
    for container in listing.stdout.split():
        env = subprocess.run(
            ["docker", "inspect", "--format", "{{json .Config.Env}}", container],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        if all(mark in env for mark in marks):
            subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)


@pytest.fixture(scope="session")
def aws(stack):
    """A boto3 session on the stack's moto server."""
    return stack.aws()


@pytest.fixture(scope="session")
def dwolla(stack):
    """The Dwolla sandbox's admin API."""
    return stack.dwolla()


@pytest.fixture
def clean(stack, aws, dwolla):
    """Each test starts with an empty event tap and leaves the sandbox as seeded (faults
    cleared, the open-banking scope back, the seeded exchanges re-created)."""
    drain_events(aws, stack.resources["tap_queue_url"])
    yield
    dwolla.clear_faults()
    local_stack.seed_sandbox(stack)


@pytest.fixture
def published(stack, aws):
    """Events the functions published during the test, read through the SQS event tap as a
    consumer must read them (deduped on eventId, each request's in `sequence` order: the bus
    promises no order). published(expect="Exchange Reauthorized") waits (up to `timeout`) for
    that detail-type."""
    seen: list[dict] = []

    def read(expect: str | None = None, timeout: float = 5.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while True:
            seen.extend(assert_conforms(drain_events(aws, stack.resources["tap_queue_url"])))
            if expect is None or any(e["detail-type"] == expect for e in seen):
                return as_a_consumer_reads(seen)
            if time.monotonic() > deadline:
                return as_a_consumer_reads(seen)
            time.sleep(0.2)

    return read


@pytest.fixture
def table(stack, aws):
    """The service's DynamoDB items: table(pk, sk) -> the raw item, or None."""
    client = aws.client("dynamodb")

    def get(pk: str, sk: str) -> dict | None:
        answer = client.get_item(
            TableName=stack.resources["table_name"],
            Key={"pk": {"S": pk}, "sk": {"S": sk}},
            ConsistentRead=True,
        )
        return answer.get("Item")

    return get


@pytest.fixture
def api(stack) -> PlatformApi:
    return PlatformApi(stack.api_url)


@pytest.fixture
def browser() -> Browser:
    return Browser()


@pytest.fixture(scope="session")
def sam_invoke(stack) -> SamInvoker:
    """`sam local invoke` against this stack: sam_local_args(stack), with an env-vars file that
    also allows `make up`'s return URL (see MAKE_UP_RETURN_URL)."""
    env_vars = json.loads(stack.env_file.read_text())
    for variables in env_vars.values():
        variables["RETURN_URL_ALLOWLIST"] = f"{stack.return_url},{MAKE_UP_RETURN_URL}"
    invoke_env_file = stack.state_dir / "invoke-env.json"
    invoke_env_file.write_text(json.dumps(env_vars, indent=2))

    args = local_stack.sam_local_args(stack)
    args[args.index("--env-vars") + 1] = str(invoke_env_file)
    # SAM CLI asks STS for the account id on every invoke. With the local dummy credentials
    # that call goes nowhere and botocore retries it for ~10 s; moto's STS answers at once.
    env = {**local_stack.sam_environment(), "AWS_ENDPOINT_URL_STS": stack.moto_url}
    return SamInvoker(local_stack.SAM, args, env)


@dataclass
class PlatformWebhooksInDocker:
    """The stack's platform webhooks as a deployment with PlatformWebhookUrl set has them."""

    resources: PlatformWebhookResources
    receiver: PlatformReceiver  # on the bridge address: the function's container reaches it
    secret: str  # the generated signing secret, read from moto as the platform reads it
    invoke: SamInvoker  # `sam local invoke` with PlatformWebhookFunction's variables too


@pytest.fixture(scope="session")
def platform_webhooks(stack, aws, sam_invoke) -> Iterator[PlatformWebhooksInDocker]:
    """Platform webhooks on this session's stack, from the first test that asks on: the
    template's rule, queue, dead-letter queue and generated secret on moto
    (local/platform_webhook.py), a receiver, and PlatformWebhookFunction's variables for
    `sam local invoke` (PLATFORM_WEBHOOK_URL towards the receiver, as the container sees it).
    No pump runs: the tests feed the queue to the function themselves. Once made, the rule also
    copies later tests' events into the queue, which nothing reads unless a test does."""
    made = platform_webhook.provision(aws, stack.local_resources(), PREFIX)
    secret = aws.client("secretsmanager").get_secret_value(SecretId=made.secret_id)
    with PlatformReceiver(host=stack.bridge) as receiver:
        args = list(sam_invoke.args)
        env_file = Path(args[args.index("--env-vars") + 1])
        env_vars = json.loads(env_file.read_text())
        env_vars["PlatformWebhookFunction"] = {
            **env_vars["CallbackFunction"],  # the Globals, with this stack's values
            **made.environment(receiver.url_from_docker),
        }
        platform_env_file = stack.state_dir / "invoke-env-platform-webhook.json"
        platform_env_file.write_text(json.dumps(env_vars, indent=2))
        args[args.index("--env-vars") + 1] = str(platform_env_file)
        invoker = SamInvoker(sam_invoke.sam, args, sam_invoke.env)
        yield PlatformWebhooksInDocker(made, receiver, secret["SecretString"], invoker)
