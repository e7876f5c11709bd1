"""The composition root: builds the service and its adapters once per container (cold start).

AWS clients are created on first use, so a route that never publishes an event or reads a secret
never pays for that client. Locally, AWS_ENDPOINT_URL points boto3 at moto server.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from functools import cache
from typing import Any

from .config import Config


class Lazy:
    """An object made on first attribute access (thread-safe)."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._made = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str):
        if self._made is None:
            with self._lock:
                if self._made is None:
                    self._made = self._make()
        return getattr(self._made, name)


class LazyClient(Lazy):
    """A boto3 client made on first attribute access (thread-safe)."""

    def __init__(self, service_name: str) -> None:
        super().__init__(lambda: _boto_session().client(service_name))


# At DEBUG, botocore logs wire bodies and signing material: Secrets Manager's answer (the Dwolla
# key and secret) and the role's session token. Held at INFO whatever the function's log level.
WIRE_LOGGERS = ("botocore", "boto3")


@cache
def _boto_session():
    import boto3

    for name in WIRE_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
    return boto3.session.Session()


@cache
def config() -> Config:
    return Config.from_environment()


def _secrets_provider():
    # Made on the first secret read (a token mint, a webhook), not at cold start: Powertools
    # touches the client as it builds a provider, which would make a Secrets Manager client in
    # every container, also where no route reads the secret (start, status). The parameters
    # module is imported only where it is used, for the same reason.
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=LazyClient("secretsmanager"))


@cache
def service():
    from .dwolla import DwollaClient, base_url_for
    from .events import EventPublisher
    from .repository import SessionRepository
    from .secrets import DwollaSecrets
    from .service import Links, ReauthService

    settings = config()
    secrets = DwollaSecrets(
        Lazy(_secrets_provider),
        settings.dwolla_secret_id,
        settings.secret_cache_seconds,
    )

    @cache
    def public_base_url() -> str:
        if settings.public_base_url:
            return settings.public_base_url
        from aws_lambda_powertools.utilities.parameters import SSMProvider

        ssm = SSMProvider(boto3_client=LazyClient("ssm"))
        return ssm.get(settings.public_base_url_parameter).rstrip("/")

    return ReauthService(
        repository=SessionRepository(LazyClient("dynamodb"), settings.table_name),
        dwolla=DwollaClient(
            base_url_for(settings.dwolla_environment, settings.dwolla_api_base_url or None),
            secrets.credentials,
        ),
        publisher=EventPublisher(
            LazyClient("events"), settings.event_bus_name, settings.event_source
        ),
        links=Links(base_url=public_base_url, callback_override=settings.callback_url),
        return_url_allowlist=settings.return_url_allowlist,
        session_ttl=timedelta(minutes=settings.session_ttl_minutes),
        webhook_secret=secrets.webhook_secret,
        sweep_batch_size=settings.sweep_batch_size,
    )
