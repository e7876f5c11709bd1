"""The local servers the benchmark runs against, all on 127.0.0.1 on free ports: moto server
(DynamoDB, EventBridge, Secrets Manager, SQS) and the Dwolla sandbox, as child processes started
with local/servers.py; the AWS resources built by local/provision.py from template.yaml.

The sustained-concurrency phase gets a moto server of its own behind tests/support/atomic_moto.py
(one request at a time, as DynamoDB makes each request atomic): plain moto server checks a
transaction's conditions, writes and, on failure, restores a deep copy of the whole table without
a lock, so concurrent transactions there fail with HTTP 500 ("dictionary changed size during
iteration") for reasons that are moto's, not the service's.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import urllib3

from local import servers
from local.dwolla_admin import SandboxAdmin
from local.provision import (
    DwollaSecretValue,
    LocalResources,
    function_environment,
    load_template,
    provision,
)

from .flows import CALLBACK_URL, PUBLIC_BASE_URL, RETURN_URL

HOST = "127.0.0.1"
DWOLLA_KEY = "bench-key-5c1d"
DWOLLA_SECRET = "bench-secret-94e0a7"
WEBHOOK_SECRET = "bench-webhook-77b2"
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


def harness_retry(call, tries: int = 3):
    """A call to the benchmark's own stand-ins (the sandbox's admin API, the bank's page, Plaid
    Link), tried again when the connection is refused or reset: with 100 flows starting at once
    the local sandbox's listen queue overflows. Never used for the functions' own requests."""
    import requests

    for attempt in range(tries):
        try:
            return call()
        except (requests.ConnectionError, urllib3.exceptions.ProtocolError, ConnectionError):
            if attempt == tries - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Seeded:
    """A seeded exchange: what the platform knows of it."""

    exchange_id: str
    funding_source_id: str

    @classmethod
    def of(cls, exchange: dict) -> Seeded:
        return cls(exchange["id"], exchange["fundingSourceId"])


@dataclass
class Sandbox:
    url: str
    process: subprocess.Popen
    admin: SandboxAdmin

    def seed(self, count: int, partner: str = "mx") -> list[Seeded]:
        """Exchanges that need re-authentication with MX (a redirect handoff) or Plaid (a Link
        token), each with the funding source Dwolla made from it."""
        return [
            Seeded.of(harness_retry(lambda: self.admin.seed_exchange(partner)))
            for _ in range(count)
        ]


@dataclass
class Aws:
    """A moto server with the service's resources on it."""

    url: str
    process: subprocess.Popen
    resources: LocalResources

    def __post_init__(self) -> None:
        self.dynamodb = boto3.session.Session().client("dynamodb", endpoint_url=self.url)
        self._http = urllib3.PoolManager(maxsize=2)

    def moto_gc(self, *, collect: bool = False, freeze: bool = False) -> dict | None:
        """moto's garbage collector (benchmarks/moto_server.py): its pauses so far; `collect`
        runs a collection now (untimed), `freeze` then freezes the heap. None on other servers."""
        method = "POST" if collect or freeze else "GET"
        url = f"{self.url}/_bench/gc" + ("?freeze=1" if freeze else "")
        try:
            answer = self._http.request(method, url, retries=False, timeout=120)
            found = json.loads(answer.data)
        except (urllib3.exceptions.HTTPError, ValueError):
            return None
        return found if isinstance(found, dict) and "collections" in found else None

    def outbox(self, request_id: str) -> list[dict]:
        """A request's outbox items (its events, as written with its changes), oldest first."""
        return self.dynamodb.query(
            TableName=self.resources.table_name,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"OUTBOX#{request_id}"}},
            ConsistentRead=True,
        )["Items"]

    def item_sizes(self, flow: dict) -> dict[str, int]:
        """Bytes of a finished flow's items as DynamoDB counts them (request, exchange record,
        the largest outbox item): what its reads and writes cost in capacity units."""
        table = self.resources.table_name
        found = {}
        for kind, key in (
            ("REQUEST", {"pk": {"S": f"REQUEST#{flow['request']}"}, "sk": {"S": "REQUEST"}}),
            ("EXCHANGE", {"pk": {"S": f"EXCHANGE#{flow['exchange']}"}, "sk": {"S": "EXCHANGE"}}),
        ):
            item = self.dynamodb.get_item(TableName=table, Key=key).get("Item") or {}
            found[kind] = item_size(item)
        found["OUTBOX"] = max((item_size(i) for i in self.outbox(flow["request"])), default=0)
        return found

    def forget(self, flows) -> None:
        """Delete flows' request, exchange and outbox items (not timed): moto copies the whole
        table on every transaction, so a growing table would slow both sides alike and hide the
        difference being measured."""
        keys = []
        for flow in flows:
            keys.append({"pk": {"S": f"REQUEST#{flow['request']}"}, "sk": {"S": "REQUEST"}})
            keys.append({"pk": {"S": f"EXCHANGE#{flow['exchange']}"}, "sk": {"S": "EXCHANGE"}})
            keys += [{"pk": i["pk"], "sk": i["sk"]} for i in self.outbox(flow["request"])]
        for i in range(0, len(keys), 25):
            self.dynamodb.batch_write_item(
                RequestItems={
                    self.resources.table_name: [
                        {"DeleteRequest": {"Key": key}} for key in keys[i : i + 25]
                    ]
                }
            )


@dataclass
class Stack:
    workdir: Path
    aws: Aws | None = None
    sandbox: Sandbox | None = None
    bank: urllib3.PoolManager = field(default_factory=lambda: urllib3.PoolManager(maxsize=32))
    _processes: list = field(default_factory=list)

    def function_env(
        self, *, aws: Aws | None = None, sandbox: Sandbox | None = None, **overrides: str
    ) -> dict[str, str]:
        """A container's whole environment: the template's variables with local values, AWS
        pointed at moto server, bytecode cached outside the source tree."""
        aws, sandbox = aws or self.aws, sandbox or self.sandbox
        env = function_environment(
            aws.resources,
            {
                "DWOLLA_API_BASE_URL": sandbox.url,
                "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
                "RETURN_URL_ALLOWLIST": RETURN_URL,
                **overrides,
            },
        )
        env.update(AWS_ENV)
        env["AWS_ENDPOINT_URL"] = aws.url
        env["PATH"] = os.environ.get("PATH", "/usr/bin:/bin")
        env["LANG"] = "C.UTF-8"
        env["PYTHONPYCACHEPREFIX"] = str(self.workdir / "pycache")
        return env

    def start_aws(self, *, atomic: bool = False, moto_gc: str | None = None) -> Aws:
        """moto server (local/servers.py), the atomic one, or with `moto_gc` ("managed" or
        "normal") benchmarks/moto_server.py; with the resources provisioned."""
        port = servers.free_port(HOST)
        log = self.workdir / f"moto-{port}.log"
        if atomic or moto_gc:
            command = [sys.executable, "-m", "tests.support.atomic_moto"]
            if moto_gc:
                command = [sys.executable, "-m", "benchmarks.moto_server", "--gc", moto_gc]
            with open(log, "ab") as output:
                process = subprocess.Popen(
                    [*command, "--host", HOST, "--port", str(port)],
                    cwd=servers.ROOT,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            servers.wait_for_port(HOST, port)
        else:
            process = servers.start_moto_server(HOST, port, log)
        self._processes.append(process)
        url = f"http://{HOST}:{port}"
        session = boto3.session.Session()
        with _endpoint(url):
            resources = provision(
                session,
                prefix=f"bench-{uuid.uuid4().hex[:8]}",
                dwolla=DwollaSecretValue(DWOLLA_KEY, DWOLLA_SECRET, WEBHOOK_SECRET),
                template=_template_without_stream(),
            )
            _remove_event_tap(session, resources)
        aws = Aws(url, process, resources)
        aws.moto_gc(freeze=True)
        return aws

    def start_sandbox(self, token_ttl: int | None = None) -> Sandbox:
        """A Dwolla sandbox with this service's callback URL registered (local/servers.py);
        `token_ttl` (seconds) shortens the access tokens' lifetime."""
        port = servers.free_port(HOST)
        log = self.workdir / f"sandbox-{port}.log"
        if token_ttl is None:
            process = servers.start_dwolla_sandbox(
                HOST,
                port,
                key=DWOLLA_KEY,
                secret=DWOLLA_SECRET,
                redirect_urls=(CALLBACK_URL,),
                log_path=log,
            )
        else:  # servers.start_dwolla_sandbox has no --token-ttl
            command = [sys.executable, "-m", "local.dwolla_sandbox", "--host", HOST]
            command += ["--port", str(port), "--key", DWOLLA_KEY, "--secret", DWOLLA_SECRET]
            command += ["--redirect-url", CALLBACK_URL, "--token-ttl", str(token_ttl)]
            with open(log, "ab") as output:
                process = subprocess.Popen(command, cwd=servers.ROOT, stdout=output, stderr=output)
            servers.wait_for_port(HOST, port)
        self._processes.append(process)
        url = f"http://{HOST}:{port}"
        return Sandbox(url, process, SandboxAdmin(url, DWOLLA_KEY, DWOLLA_SECRET))

    def stop(self, process: subprocess.Popen) -> None:
        servers.stop(process)
        if process in self._processes:
            self._processes.remove(process)

    def visit_bank(self, provider_url: str) -> str:
        """The customer at the bank (the sandbox's provider page): where it sends them back."""
        answer = harness_retry(
            lambda: self.bank.request("GET", provider_url, redirect=False, retries=False)
        )
        if answer.status != 302:
            raise RuntimeError(f"the bank answered {answer.status}")
        return answer.headers["Location"]


def _value_size(value: dict) -> int:
    ((kind, v),) = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":  # about one byte per two significant digits, plus one
        digits = v.lstrip("-").replace(".", "").strip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(x) + 1 for k, x in v.items())
    if kind == "L":
        return 3 + sum(_value_size(x) + 1 for x in v)
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: x}) for x in v)
    return len(v) if isinstance(v, bytes | str) else 0


def item_size(item: dict) -> int:
    """An item's size by DynamoDB's rules (names + values; maps and lists 3 bytes + 1 per
    element): 1 write unit per KB, 1 strongly consistent read unit per 4 KB."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


@contextlib.contextmanager
def _endpoint(url: str):
    before = os.environ.get("AWS_ENDPOINT_URL")
    os.environ["AWS_ENDPOINT_URL"] = url
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("AWS_ENDPOINT_URL", None)
        else:
            os.environ["AWS_ENDPOINT_URL"] = before


def _template_without_stream() -> dict:
    """template.yaml with the table's stream left out. On AWS a stream costs the writer nothing
    (it is read asynchronously); moto keeps every stream record on the table, and deep-copies
    the whole table, records included, for every item of every transaction: each transaction
    got slower than the one before, and moto grew to 10 GB within 100 flows. The relay is fed
    the outbox items directly (measure.Flows.relay)."""
    template = load_template()
    template["Resources"]["ReauthTable"]["Properties"].pop("StreamSpecification", None)
    return template


def _remove_event_tap(session, resources: LocalResources) -> None:
    """provision() adds a rule that copies every event to an SQS queue (for the tests); moto
    delivers to it inside PutEvents (10 ms instead of 3.5 ms), which AWS does not do."""
    events = session.client("events")
    rule = resources.tap_queue_url.rsplit("/", 1)[1]  # the rule and the queue share a name
    events.remove_targets(Rule=rule, EventBusName=resources.event_bus_name, Ids=["tap"])
    events.delete_rule(Name=rule, EventBusName=resources.event_bus_name)


@contextlib.contextmanager
def local_stack(workdir: Path, moto_gc: str = "managed"):
    """moto server (benchmarks/moto_server.py, its collector `moto_gc`) and the Dwolla sandbox,
    stopped (with anything started later) on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ.update(AWS_ENV)
    stack = Stack(workdir)
    try:
        stack.aws = stack.start_aws(moto_gc=moto_gc)
        stack.sandbox = stack.start_sandbox()
        yield stack
    finally:
        for process in reversed(stack._processes):
            servers.stop(process)
