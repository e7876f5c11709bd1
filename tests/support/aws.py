"""AWS as the tests see it: fake credentials (never a developer's real ones), the secrets
the template's resources are provisioned with, and a rotation of the link secret."""

from __future__ import annotations

import secrets

from tests.support.constants import DWOLLA_KEY, DWOLLA_SECRET, WEBHOOK_SECRET

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def use_fake_credentials(monkeypatch) -> None:
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def dwolla_secret_value():
    """The Secrets Manager secret's value: the sandbox's key and secret, the webhook secret."""
    from local.provision import DwollaSecretValue

    return DwollaSecretValue(DWOLLA_KEY, DWOLLA_SECRET, WEBHOOK_SECRET)


def rotate_link_secret(session, resources) -> str:
    """What the rotation in docs/operations.md does: a new random value becomes AWSCURRENT, the
    one before AWSPREVIOUS. Returns the new value."""
    value = secrets.token_urlsafe(48)
    session.client("secretsmanager").put_secret_value(
        SecretId=resources.link_secret_id, SecretString=value
    )
    return value
