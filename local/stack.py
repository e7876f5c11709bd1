"""The local stack: moto server, the Dwolla sandbox and `sam local start-api`, on this machine.

    python -m local.stack up      start everything, print the URLs (make up)
    python -m local.stack down    stop everything, leave nothing running (make down)
    python -m local.stack status  what is running

Containers started by SAM CLI reach the local servers through the Docker bridge's gateway
address (host.docker.internal inside the container), so the servers listen on that address,
never on a public one. Ports: API_PORT (3000), DWOLLA_SANDBOX_PORT (8787), MOTO_PORT (5050).
State lives in .local/ (process ids, the env-vars file, logs).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import boto3
import requests

from local import servers
from local.dwolla_admin import SandboxAdmin
from local.provision import (
    DwollaSecretValue,
    LocalResources,
    delivery_environment,
    function_environment,
    provision,
)

ROOT = Path(__file__).resolve().parent.parent
SAM = ROOT / ".venv-sam" / "bin" / "sam"
SETUP = ROOT / "local" / "sam_local_setup.sh"

# Well-known local exchanges (the first is the example in Dwolla's UpdateCredentials docs),
# so the files in events/ work as they are against a stack brought up by `make up`.
EXCHANGES = {
    "mx": "036c8a60-fa45-45d4-8f5d-181d348c6ec8",
    "plaid": "5b2f1c8e-3d4a-4e7b-9c1d-2a6f8e0b7c53",
}
FUNDING_SOURCES = {
    "mx": "8e2c4f6a-1b3d-4c5e-9f7a-0b1c2d3e4f5a",
    "plaid": "f1e2d3c4-b5a6-4978-8a9b-0c1d2e3f4a5b",
}
CUSTOMER = "7d3a4b2c-1e5f-4a6b-8c9d-0e1f2a3b4c5d"  # their customer, as the files in events/ say
LOCAL_DWOLLA = DwollaSecretValue("local-dwolla-key", "local-dwolla-secret", "local-webhook-secret")
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@dataclass
class Stack:
    """Where everything of one local stack is; saved to <state_dir>/stack.json."""

    bridge: str
    api_port: int = 3000
    sandbox_port: int = 8787
    moto_port: int = 5050
    prefix: str = "dwolla-reauth-local"
    state_dir: Path = ROOT / ".local"
    pids: dict[str, int] = field(default_factory=dict)
    resources: dict | None = None
    # PLATFORM_WEBHOOK_URL at `make up`: the events POSTed there, signed (docs/platform-webhooks.md)
    platform_webhook_url: str = ""
    platform_webhook: dict | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def callback_url(self) -> str:
        return f"{self.api_url}/reauth/callback"

    @property
    def plaid_redirect_url(self) -> str:
        """Plaid's OAuth return (PLAID_REDIRECT_URL), registered with the sandbox."""
        return f"{self.api_url}/reauth/plaid-oauth"

    @property
    def return_url(self) -> str:
        return f"{self.api_url}/reauth/done"

    @property
    def sandbox_url(self) -> str:
        """The sandbox as this machine (and the customer's browser) reaches it."""
        return f"http://{self.bridge}:{self.sandbox_port}"

    @property
    def moto_url(self) -> str:
        return f"http://{self.bridge}:{self.moto_port}"

    @property
    def env_file(self) -> Path:
        return self.state_dir / "env.json"

    @property
    def logs(self) -> Path:
        return self.state_dir / "logs"

    def aws(self) -> boto3.session.Session:
        """A boto3 session on this stack's moto server."""
        os.environ.update(AWS_ENV)
        os.environ["AWS_ENDPOINT_URL"] = self.moto_url
        return boto3.session.Session()

    def local_resources(self) -> LocalResources:
        return LocalResources(**self.resources)

    def dwolla(self) -> SandboxAdmin:
        return SandboxAdmin(self.sandbox_url, LOCAL_DWOLLA.key, LOCAL_DWOLLA.secret)

    def save(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        data = asdict(self)
        data["state_dir"] = str(self.state_dir)
        (self.state_dir / "stack.json").write_text(json.dumps(data, indent=2))

    @classmethod
    def load(cls, state_dir: Path = ROOT / ".local") -> Stack | None:
        path = state_dir / "stack.json"
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        data["state_dir"] = Path(data["state_dir"])
        return cls(**data)


def bridge_address() -> str:
    """The Docker bridge gateway: this machine's own address toward its containers."""
    answer = subprocess.run(
        [str(SETUP), "--bridge-address"], capture_output=True, text=True, check=True
    )
    return answer.stdout.strip()


def sam_environment(stack: Stack | None = None) -> dict[str, str]:
    """SAM CLI's environment: dummy credentials; with a stack, STS answered by its moto server
    (SAM asks STS for the account id on every invoke; unanswered, botocore retries ~10 s)."""
    env = {**os.environ, **AWS_ENV, "SAM_CLI_TELEMETRY": "0"}
    if stack is not None:
        env["AWS_ENDPOINT_URL_STS"] = stack.moto_url
    return env


def write_env_file(stack: Stack) -> None:
    """--env-vars for sam local: the template's variables with this stack's values."""
    inside = f"http://host.docker.internal:{stack.sandbox_port}"
    env = function_environment(
        stack.local_resources(),
        {
            "DWOLLA_API_BASE_URL": inside,
            "AWS_ENDPOINT_URL": f"http://host.docker.internal:{stack.moto_port}",
            "PUBLIC_BASE_URL": stack.api_url,
            "PLAID_REDIRECT_URL": stack.plaid_redirect_url,
            "RETURN_URL_ALLOWLIST": stack.return_url,
            # The browser (on this machine) loads the stand-in Link script from the sandbox.
            "PLAID_LINK_SCRIPT_URL": f"{stack.sandbox_url}/_plaid/link-initialize.js",
            "POWERTOOLS_LOG_LEVEL": "INFO",
        },
    )
    api_env = {**env, **delivery_environment(stack.local_resources())}
    stack.env_file.write_text(
        json.dumps({"ApiFunction": api_env, "CallbackFunction": env}, indent=2)
    )


def sam_local_args(stack: Stack) -> list[str]:
    return [
        "--skip-pull-image",
        "--add-host",
        f"host.docker.internal:{stack.bridge}",
        "--env-vars",
        str(stack.env_file),
    ]


def sam_build(log=print) -> None:
    log("sam build (the layer is cross-installed for python3.13)")
    answer = subprocess.run(
        [str(SAM), "build", "--cached"],
        cwd=ROOT,
        env=sam_environment(),
        capture_output=True,
        text=True,
    )
    if answer.returncode != 0:
        raise RuntimeError(f"sam build failed:\n{answer.stdout}{answer.stderr}")


def seed_sandbox(stack: Stack) -> None:
    admin = stack.dwolla()
    admin.reset()
    admin.set_redirect_urls(stack.callback_url, stack.plaid_redirect_url)
    for partner, exchange_id in EXCHANGES.items():
        admin.seed_exchange(
            partner, id=exchange_id, fundingSourceId=FUNDING_SOURCES[partner], customerId=CUSTOMER
        )
    subscribe_webhooks(stack)


def subscribe_webhooks(stack: Stack, action: str = "create") -> tuple[int, str]:
    """Dwolla's webhook subscription for the local /webhooks/dwolla, made as an operator makes
    it for a deployed stack (`make dwolla-webhooks`): the command reads the stack's Dwolla
    secret (moto's Secrets Manager) and calls the sandbox, which then delivers real signed
    webhooks to `sam local start-api`. Returns (exit status, what the command printed)."""
    import contextlib
    import io

    if str(ROOT / "layers" / "reauth") not in sys.path:  # `make up` runs without the layer
        sys.path.insert(0, str(ROOT / "layers" / "reauth"))
    from reauth import webhook_subscription

    session = stack.aws()
    value = session.client("secretsmanager").get_secret_value(
        SecretId=stack.local_resources().secret_id
    )["SecretString"]
    out = io.StringIO()
    argv = [action, "--secret-arn", stack.local_resources().secret_id, "--url", stack.api_url]
    with contextlib.redirect_stdout(out):
        status = webhook_subscription.main(
            [*argv, "--dwolla-base-url", stack.sandbox_url], read_secret=lambda *_: value
        )
    if action == "create" and status != 0:
        raise RuntimeError(f"the webhook subscription was not made: {out.getvalue()}")
    return status, out.getvalue()


def _spawn(command: list[str], log_name: str, stack: Stack, **kwargs) -> int:
    """A server of the stack, logging to `log_name`. `make up`'s own settings
    (PLATFORM_WEBHOOK_URL) stay with `make up`: each function gets its environment from the
    stack's state, and the relay's handler would read a stray PLATFORM_WEBHOOK_URL as its own."""
    stack.logs.mkdir(parents=True, exist_ok=True)
    log = open(stack.logs / log_name, "ab")  # noqa: SIM115 (the child keeps it)
    env = kwargs.pop("env", None) or {
        k: v for k, v in os.environ.items() if not k.startswith("PLATFORM_WEBHOOK_")
    }
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env, **kwargs
    )
    return process.pid


def up(stack: Stack | None = None, log=print, build: bool = True) -> Stack:
    """Bring the whole local stack up; returns where everything is."""
    stack = stack or Stack(
        bridge=bridge_address(),
        api_port=int(os.environ.get("API_PORT", 3000)),
        sandbox_port=int(os.environ.get("DWOLLA_SANDBOX_PORT", 8787)),
        moto_port=int(os.environ.get("MOTO_PORT", 5050)),
        platform_webhook_url=os.environ.get("PLATFORM_WEBHOOK_URL", "").strip(),
    )
    running = Stack.load(stack.state_dir)
    if running and _alive(running):
        raise SystemExit(f"a local stack is already up ({running.api_url}); run `make down` first")
    stack.state_dir.mkdir(parents=True, exist_ok=True)
    stack.save()  # so `down` can clean up even if a later step fails
    try:
        _start(stack, log, build)
    except BaseException:
        down(stack, log=lambda _: None)
        raise
    return stack


def _start(stack: Stack, log, build: bool) -> None:
    log(f"moto server on {stack.moto_url}")
    moto = Path(sys.executable).parent / "moto_server"
    stack.pids["moto"] = _spawn(
        [str(moto), "-H", stack.bridge, "-p", str(stack.moto_port)], "moto.log", stack
    )
    stack.save()
    servers.wait_for_port(stack.bridge, stack.moto_port)

    log(f"Dwolla sandbox on {stack.sandbox_url}")
    stack.pids["dwolla"] = _spawn(
        [
            sys.executable,
            "-m",
            "local.dwolla_sandbox",
            "--host",
            stack.bridge,
            "--port",
            str(stack.sandbox_port),
            "--public-url",
            stack.sandbox_url,
            "--key",
            LOCAL_DWOLLA.key,
            "--secret",
            LOCAL_DWOLLA.secret,
        ],
        "dwolla-sandbox.log",
        stack,
        cwd=ROOT,
    )
    stack.save()
    servers.wait_for_port(stack.bridge, stack.sandbox_port)

    log("AWS resources from template.yaml: table, event bus, Dwolla secret, event tap")
    stack.resources = asdict(provision(stack.aws(), prefix=stack.prefix, dwolla=LOCAL_DWOLLA))
    stack.save()
    log("the outbox relay: the table's stream → RelayFunction's handler → the bus")
    stack.pids["relay"] = _spawn(
        [sys.executable, "-m", "local.relay", str(stack.state_dir)], "relay.log", stack, cwd=ROOT
    )
    stack.save()
    if stack.platform_webhook_url:
        _start_platform_webhooks(stack, log)
    log("seeding the sandbox: an MX (redirect) and a Plaid (token) exchange, the callback URL")
    seed_sandbox(stack)
    write_env_file(stack)
    if build:
        sam_build(log)

    log(f"sam local start-api on {stack.api_url}")
    stack.pids["api"] = _spawn(
        [
            str(SAM),
            "local",
            "start-api",
            "--host",
            "127.0.0.1",
            "--port",
            str(stack.api_port),
            "--warm-containers",
            "LAZY",
            *sam_local_args(stack),
        ],
        "sam-local.log",
        stack,
        cwd=ROOT,
        env=sam_environment(stack),
    )
    stack.save()
    _wait_for_api(stack)


def _start_platform_webhooks(stack: Stack, log) -> None:
    """The rule, queue and secret from the template, and PlatformWebhookFunction's handler
    fed from the queue (local/platform_webhook.py), POSTing to PLATFORM_WEBHOOK_URL."""
    from local import platform_webhook

    log(f"platform webhooks: the service's events, signed, to {stack.platform_webhook_url}")
    made = platform_webhook.provision(stack.aws(), stack.local_resources(), stack.prefix)
    stack.platform_webhook = asdict(made)
    stack.pids["platform-webhook"] = _spawn(
        [sys.executable, "-m", "local.platform_webhook", str(stack.state_dir)],
        "platform-webhook.log",
        stack,
        cwd=ROOT,
    )
    stack.save()


def _wait_for_api(stack: Stack, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(f"{stack.api_url}/reauth/done?status=reauthorized", timeout=30)
            return
        except requests.RequestException:
            time.sleep(0.5)
    raise TimeoutError(f"sam local start-api did not answer on {stack.api_url}")


def _alive(stack: Stack) -> bool:
    for pid in stack.pids.values():
        try:
            os.kill(pid, 0)
            return True
        except OSError:
            continue
    return False


def _running(pid: int) -> bool:
    """Whether the process still runs. When up() ran in this process the servers are its
    children: an exited one stays a zombie (and answers kill 0) until reaped, so reap it."""
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass  # not our child (`make down`): init reaps it
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def down(stack: Stack | None = None, log=print) -> None:
    """Stop everything the stack started (SAM first: it removes its warm containers)."""
    stack = stack or Stack.load()
    if stack is None:
        log("no local stack is up")
        return
    for name in ("api", "platform-webhook", "relay", "dwolla", "moto"):
        pid = stack.pids.get(name)
        if pid is None:
            continue
        try:
            os.killpg(pid, signal.SIGTERM)
        except OSError:
            continue
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if not _running(pid):
                break
            time.sleep(0.2)
        else:
            os.killpg(pid, signal.SIGKILL)
        log(f"stopped {name} (pid {pid})")
    (stack.state_dir / "stack.json").unlink(missing_ok=True)


def print_urls(stack: Stack) -> None:
    print(
        f"""
Local stack is up:
  API (sam local start-api)   {stack.api_url}
  Callback URL (registered)   {stack.callback_url}
  Dwolla sandbox              {stack.sandbox_url}   (admin API under /_admin)
  moto server (AWS)           {stack.moto_url}
  MX exchange (redirect)      {EXCHANGES["mx"]}
  Plaid exchange (token)      {EXCHANGES["plaid"]}
  env vars for sam local      {stack.env_file}
  logs                        {stack.logs}
  platform webhooks           {stack.platform_webhook_url or "off (set PLATFORM_WEBHOOK_URL)"}

Try:
  curl -s -XPOST {stack.api_url}/exchanges/{EXCHANGES["mx"]}/reauth-sessions
  .venv-sam/bin/sam local invoke ApiFunction -e events/api-create-session.json \\
      {" ".join(sam_local_args(stack))}
Stop it with: make down
"""
    )


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "status"
    if command == "up":
        print_urls(up())
    elif command == "down":
        down()
    elif command == "status":
        stack = Stack.load()
        print("up" if stack and _alive(stack) else "down")
        if stack and _alive(stack):
            print_urls(stack)
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
