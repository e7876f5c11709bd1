"""Dwolla's webhook subscription for a deployed stack: create, list, check, unpause.

    python -m reauth.webhook_subscription create|list|check|unpause
        --secret-arn <the stack's DwollaSecretArn> --url <the stack's callback base URL>
        [--environment sandbox|production] [--dwolla-base-url URL] [--region R]

The URL subscribed is `<callback base>/webhooks/dwolla` (the CallbackFunction's route); the
secret is the `webhookSecret` of the stack's Dwolla secret (the one the service verifies
`X-Request-Signature-SHA-256` with), and Dwolla's key and secret come from the same secret.

- create: idempotent. An unpaused subscription for the URL: nothing to do. A paused one: it is
  unpaused (no second subscription: Dwolla allows 5 in production, 10 in its sandbox). None: one
  is made (with an Idempotency-Key, so a retried POST never makes two).
- list: every subscription of the Dwolla application (this stack's marked with `*`).
- check: exit 0 when the URL has an unpaused subscription, else 1, naming what is wrong (none,
  paused), and how many of its latest webhooks failed their latest try.
- unpause: unpauses the URL's paused subscriptions (what Dwolla missed meanwhile is not
  redelivered; the service's catch-up reads it from `GET /events`).

No secret is ever printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

from .dwolla import (
    DwollaClient,
    DwollaCredentials,
    DwollaError,
    DwollaWebhookSubscription,
    base_url_for,
)

WEBHOOK_PATH = "/webhooks/dwolla"  # template.yaml: CallbackFunction's DwollaWebhook event
ACTIONS = ("create", "list", "check", "unpause")
RECENT = 25  # webhooks looked at by `check`


@dataclass(frozen=True)
class StackSecret:
    """What the stack's Dwolla secret holds (the secrets never show in a repr)."""

    credentials: DwollaCredentials
    webhook_secret: str


def webhook_url(callback_base: str) -> str:
    """The stack's webhook URL from its callback base URL (the URL itself is accepted too)."""
    base = callback_base.strip().rstrip("/")
    if not base.startswith(("https://", "http://")):
        raise ValueError("the callback base URL must start with https:// (or http:// locally)")
    return base if base.endswith(WEBHOOK_PATH) else base + WEBHOOK_PATH


def stack_secret(value: str) -> StackSecret:
    """Parse the Dwolla secret's JSON {"key", "secret", "webhookSecret"}."""
    try:
        data = json.loads(value)
    except ValueError:
        data = None
    fields = data if isinstance(data, dict) else {}
    key, secret, webhook = (fields.get(n) for n in ("key", "secret", "webhookSecret"))
    if not all(isinstance(v, str) and v for v in (key, secret, webhook)):
        raise ValueError('the Dwolla secret must be JSON with "key", "secret" and "webhookSecret"')
    return StackSecret(DwollaCredentials(str(key), str(secret)), str(webhook))


def subscriptions_for(client: DwollaClient, url: str) -> list[DwollaWebhookSubscription]:
    return [s for s in client.list_webhook_subscriptions() if s.url == url]


def create(client: DwollaClient, url: str, webhook_secret: str, out: TextIO) -> int:
    mine = subscriptions_for(client, url)
    active = [s for s in mine if not s.paused]
    if active:
        print(f"already subscribed: {active[0].id} {url}", file=out)
        return 0
    if mine:
        resumed = client.set_webhook_subscription_paused(mine[0].id, False)
        print(
            f"unpaused: {resumed.id} {url} (missed webhooks: the catch-up reads /events)", file=out
        )
        return 0
    made = client.create_webhook_subscription(url, webhook_secret, str(uuid.uuid4()))
    print(f"subscribed: {made} {url}", file=out)
    return 0


def list_all(client: DwollaClient, url: str, out: TextIO) -> int:
    for found in client.list_webhook_subscriptions():
        mark = "*" if found.url == url else " "
        state = "paused" if found.paused else "active"
        print(f"{mark} {found.id} {state:6} {found.created} {found.url}", file=out)
    return 0


def check(client: DwollaClient, url: str, out: TextIO) -> int:
    mine = subscriptions_for(client, url)
    if not mine:
        print(f"NOT SUBSCRIBED: no webhook subscription for {url} (run: create)", file=out)
        return 1
    healthy = False
    for found in mine:
        recent = client.list_recent_webhooks(found.id, RECENT)
        failing = [w for w in recent if w.attempts and not _ok(w.last_status)]
        state = "PAUSED (run: unpause)" if found.paused else "active"
        print(
            f"{state}: {found.id} {url}; {len(failing)} of its last {len(recent)} webhooks "
            "failed their latest try",
            file=out,
        )
        healthy = healthy or not found.paused
    return 0 if healthy else 1


def unpause(client: DwollaClient, url: str, out: TextIO) -> int:
    mine = subscriptions_for(client, url)
    if not mine:
        print(f"NOT SUBSCRIBED: no webhook subscription for {url} (run: create)", file=out)
        return 1
    for found in mine:
        if found.paused:
            client.set_webhook_subscription_paused(found.id, False)
            print(f"unpaused: {found.id} {url}", file=out)
        else:
            print(f"already active: {found.id} {url}", file=out)
    return 0


def run(action: str, client: DwollaClient, url: str, webhook_secret: str, out: TextIO) -> int:
    """One action against Dwolla for the stack's webhook URL: the command's exit status."""
    try:
        if action == "create":
            return create(client, url, webhook_secret, out)
        if action == "list":
            return list_all(client, url, out)
        if action == "check":
            return check(client, url, out)
        if action == "unpause":
            return unpause(client, url, out)
    except DwollaError as problem:
        print(f"Dwolla refused or could not be reached: {problem}", file=out)
        return 2
    raise ValueError(f"unknown action {action!r}: use one of {ACTIONS}")


def client_for(secret: StackSecret, environment: str, base_url: str | None) -> DwollaClient:
    return DwollaClient(base_url_for(environment, base_url), credentials=lambda: secret.credentials)


def _ok(status: int | None) -> bool:
    return status is not None and 200 <= status < 300


def _arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m reauth.webhook_subscription",
        description="Dwolla's webhook subscription for the stack's /webhooks/dwolla.",
    )
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("--secret-arn", required=True, help="the stack's DwollaSecretArn output")
    parser.add_argument(
        "--url", required=True, help="the stack's callback base URL (…/webhooks/dwolla is added)"
    )
    parser.add_argument("--environment", default="sandbox", help="sandbox | production")
    parser.add_argument("--dwolla-base-url", help="another Dwolla API host (the local sandbox)")
    parser.add_argument("--region", help="the AWS region (default: the environment's)")
    return parser.parse_args(argv)


def main(
    argv: Sequence[str] | None = None, read_secret: Callable[[str, str | None], str] | None = None
) -> int:
    args = _arguments(sys.argv[1:] if argv is None else argv)
    value = (read_secret or _read_secret)(args.secret_arn, args.region)
    secret = stack_secret(value)
    client = client_for(secret, args.environment, args.dwolla_base_url)
    return run(args.action, client, webhook_url(args.url), secret.webhook_secret, sys.stdout)


def _read_secret(secret_arn: str, region: str | None) -> str:
    import boto3

    session = boto3.session.Session(region_name=region)
    answer = session.client("secretsmanager").get_secret_value(SecretId=secret_arn)
    return str(answer["SecretString"])


if __name__ == "__main__":
    sys.exit(main())
