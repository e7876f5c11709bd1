"""The composition root: builds the service and its adapters once per container (cold start).

AWS clients are created on first use, so a route that never publishes an event or reads a secret
never pays for that client. Locally, AWS_ENDPOINT_URL points boto3 at moto server.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from functools import cache

from .config import Config


class LazyClient:
    """A boto3 client made on first attribute access (thread-safe)."""

    def __init__(self, service_name: str) -> None:
        self._service_name = service_name
        self._client = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str):
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = _boto_session().client(self._service_name)
        return getattr(self._client, name)


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


@cache
def service():
    from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider

    from .dwolla import DwollaClient, base_url_for
    from .events import EventPublisher
    from .repository import SessionRepository
    from .secrets import DwollaSecrets
    from .service import Links, ReauthService

    settings = config()
    secrets = DwollaSecrets(
        SecretsProvider(boto3_client=LazyClient("secretsmanager")),
        settings.dwolla_secret_id,
        settings.secret_cache_seconds,
    )

    @cache
    def public_base_url() -> str:
        if settings.public_base_url:
            return settings.public_base_url
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
