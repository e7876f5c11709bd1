"""The composition root: builds the use cases and their adapters once per container (cold start).

AWS clients are created on first use, so a route that never publishes an event or reads a secret
never pays for that client. Locally, AWS_ENDPOINT_URL points boto3 at moto server.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from .config import DEFAULT_PLATFORM_NAME, Config, ConfigError
from .context import Context
from .creating import Creating
from .delivery import Delivery
from .journey import BrowserJourney
from .lifecycle import Lifecycle
from .messages import Senders
from .relaying import Relay
from .renewal import Renewing
from .verifying import Verifying
from .webhooks import Webhooks

if TYPE_CHECKING:
    import urllib3
    from aws_lambda_powertools.utilities.parameters import SecretsProvider
    from boto3.session import Session

    from .dwolla import RetryPolicy
    from .platform_webhooks import PlatformWebhooks

T = TypeVar("T")


class Lazy(Generic[T]):
    """An object made on first attribute access (thread-safe)."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._made: T | None = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        if self._made is None:
            with self._lock:
                if self._made is None:
                    self._made = self._make()
        return getattr(self._made, name)


def lazy(make: Callable[[], T]) -> T:
    """`make()`'s object, made on first attribute access: a Lazy proxy, typed as what it stands
    for (it forwards every attribute), so the adapters are checked against the real client."""
    return cast(T, Lazy(make))


# At DEBUG, botocore logs wire bodies and signing material: Secrets Manager's answer (the Dwolla
# key and secret) and the role's session token. Held at INFO whatever the function's log level.
WIRE_LOGGERS = ("botocore", "boto3")


@cache
def boto_session() -> Session:
    """The container's boto3 session; every AWS client is made from it. Clients copy the
    session's event hooks when they are made (tests and the benchmark register theirs first)."""
    import boto3

    for name in WIRE_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
    return boto3.session.Session()


@cache
def config() -> Config:
    return Config.from_environment()


@dataclass(frozen=True)
class Service:
    """The use cases, one family each, sharing one context."""

    ctx: Context
    creating: Creating
    verifying: Verifying
    journey: BrowserJourney
    lifecycle: Lifecycle
    webhooks: Webhooks
    delivery: Delivery
    renewing: Renewing

    def now(self) -> datetime:
        return self.ctx.now()

    def set_time_budget(self, remaining_seconds: Callable[[], float] | None) -> None:
        """Bound Dwolla retries by the invocation's remaining time."""
        self.ctx.dwolla.set_time_budget(remaining_seconds)


def build_service(ctx: Context) -> Service:
    verifying = Verifying(ctx)
    delivery = Delivery(ctx)
    creating = Creating(ctx, delivery)
    return Service(
        ctx=ctx,
        creating=creating,
        verifying=verifying,
        journey=BrowserJourney(ctx, verifying),
        lifecycle=Lifecycle(ctx, verifying, delivery),
        webhooks=Webhooks(ctx),
        delivery=delivery,
        renewing=Renewing(ctx, creating),
    )


def build_senders(settings: Config) -> Senders:
    """The channels the deployment turned on; their AWS clients are made on first send."""
    from .messaging import SesEmail, SnsSms

    delivery = settings.delivery
    email = None
    if delivery.email_sender:
        email = SesEmail(
            lazy(lambda: boto_session().client("sesv2")),
            delivery.email_sender,
            settings.platform_name or DEFAULT_PLATFORM_NAME,
            delivery.ses_configuration_set,
        )
    sms = None
    if delivery.sms_enabled:
        sms = SnsSms(lazy(lambda: boto_session().client("sns")), delivery.sms_origination_number)
    return Senders(email=email, sms=sms)


def _secrets_provider(client: Any) -> SecretsProvider:
    # Made on the first read of Dwolla's secret (a token mint, a webhook), not at cold start:
    # Powertools touches the client as it builds a provider, which would make a Secrets Manager
    # client in every container, also where no route reads the secret. The parameters module is
    # imported only where it is used, for the same reason.
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=client)


def build_context(
    settings: Config,
    clock: Callable[[], datetime] | None = None,
    *,
    dwolla_timeout: urllib3.Timeout | None = None,
    dwolla_retry: RetryPolicy | None = None,
    dwolla_sleep: Callable[[float], None] | None = None,
    sweep_batch_size: int | None = None,
    senders: Senders | None = None,
) -> Context:
    """The use cases' context from `settings`. The keywords override what the environment does
    not say or says differently (tests: a moved clock, short Dwolla timeouts, a recorded sleep
    between retries, a small sweep batch); None keeps the default."""
    from .context import Links, Settings
    from .credentials import DwollaSecrets, LinkSecrets
    from .dwolla import DwollaClient, base_url_for
    from .model import utcnow
    from .repository import RequestRepository

    moment = clock or utcnow
    secretsmanager = lazy(lambda: boto_session().client("secretsmanager"))  # made on first read
    secrets = DwollaSecrets(
        lazy(lambda: _secrets_provider(secretsmanager)),
        settings.dwolla_secret_id,
        settings.secret_cache_seconds,
    )
    link_secrets = LinkSecrets(
        secretsmanager,
        settings.link_secret_id,
        settings.secret_cache_seconds,
        clock=lambda: moment().timestamp(),  # the service's clock: tests move it
    )

    @cache
    def public_base_url() -> str:
        if settings.public_base_url:
            return settings.public_base_url
        from aws_lambda_powertools.utilities.parameters import SSMProvider

        name = settings.public_base_url_parameter
        value = SSMProvider(boto3_client=lazy(lambda: boto_session().client("ssm"))).get(name)
        if not isinstance(value, str) or not value:
            raise ConfigError(f"the SSM parameter {name} must hold the public base URL")
        return value.rstrip("/")

    return Context(
        repo=RequestRepository(
            lazy(lambda: boto_session().client("dynamodb")), settings.table_name
        ),
        dwolla=DwollaClient(
            base_url_for(settings.dwolla_environment, settings.dwolla_api_base_url or None),
            secrets.credentials,
            timeout=dwolla_timeout,
            retry=dwolla_retry,
            sleep=dwolla_sleep or time.sleep,
            on_attempt=dwolla_attempt_observed,
        ),
        links=Links(
            base_url=public_base_url,
            link_secrets=link_secrets,
            callback_override=settings.callback_url,
            plaid_redirect_url=settings.plaid_redirect_url,
        ),
        settings=Settings(
            return_url_allowlist=settings.return_url_allowlist,
            attempt_ttl=timedelta(minutes=settings.session_ttl_minutes),
            request_lifetime=timedelta(days=settings.request_lifetime_days),
            platform_name=settings.platform_name,
            plaid_link_script_url=settings.plaid_link_script_url,
            sweep_batch_size=sweep_batch_size or settings.sweep_batch_size,
            reminders=settings.delivery.reminder_schedule,
            quiet_hours=settings.delivery.quiet_hours,
            time_zone=settings.delivery.time_zone,
            allow_self_service_renewal=settings.allow_self_service_renewal,
            default_locale=settings.default_locale,
        ),
        clock=moment,
        webhook_secret=secrets.webhook_secret,
        senders=senders if senders is not None else build_senders(settings),
    )


@cache
def _metrics() -> Any:
    from aws_lambda_powertools import Metrics

    return Metrics()  # Powertools' Metrics share one set: the handler's flush publishes it


def dwolla_attempt_observed(
    method: str, template: str, status: int | None, elapsed_ms: int
) -> None:
    """Each Dwolla HTTP attempt's duration, retries and token mints included: DwollaLatency (ms)
    on the dashboard. Telemetry never fails the call it measures."""
    try:
        _metrics().add_metric("DwollaLatency", "Milliseconds", elapsed_ms)
    except Exception:
        logging.getLogger(__name__).warning("DwollaLatency not recorded", exc_info=True)


def build(settings: Config | None = None, **overrides: Any) -> Service:
    """A service from `settings` (the environment's by default) and `build_context`'s overrides,
    e.g. `runtime.use(runtime.build(clock=moved.now, dwolla_timeout=short))`."""
    return build_service(build_context(settings or config(), **overrides))


_built: Service | None = None
_building = threading.Lock()


def service() -> Service:
    """The container's service, built on first use."""
    global _built
    if _built is None:
        with _building:
            if _built is None:
                _built = build_service(build_context(config()))
    return _built


def use(built: Service | None) -> None:
    """Serve `built` from now on (tests: a service with their own clock or settings)."""
    global _built
    _built = built


_relay: Relay | None = None


def relay() -> Relay:
    """The outbox relay (RelayFunction): EventBridge for the events, SQS for dead letters."""
    global _relay
    if _relay is None:
        from .events import EventPublisher
        from .relaying import QueueDeadLetters

        settings = config()
        if not settings.dead_letter_queue_url:
            raise ConfigError("environment variable DEAD_LETTER_QUEUE_URL is required")
        _relay = Relay(
            EventPublisher(
                lazy(lambda: boto_session().client("events")),
                settings.event_bus_name,
                settings.event_source,
            ),
            QueueDeadLetters(
                lazy(lambda: boto_session().client("sqs")), settings.dead_letter_queue_url
            ),
        )
    return _relay


_platform_webhooks: PlatformWebhooks | None = None


def platform_webhooks() -> PlatformWebhooks:
    """The platform's signed webhooks (PlatformWebhookFunction): its URL, the generated secret,
    the queue's backoff."""
    global _platform_webhooks
    if _platform_webhooks is None:
        from .credentials import PlatformWebhookSecret
        from .platform_receiver import HttpReceiver, QueueBackoff
        from .platform_webhooks import PlatformWebhooks

        settings = config()
        webhook = settings.platform_webhook
        if not webhook.on:
            raise ConfigError("environment variable PLATFORM_WEBHOOK_URL is required")
        secretsmanager = lazy(lambda: boto_session().client("secretsmanager"))
        _platform_webhooks = PlatformWebhooks(
            HttpReceiver(webhook.url),
            QueueBackoff(lazy(lambda: boto_session().client("sqs")), webhook.queue_url),
            PlatformWebhookSecret(
                lazy(lambda: _secrets_provider(secretsmanager)),
                webhook.secret_id,
                settings.secret_cache_seconds,
            ),
            clock=time.time,
        )
    return _platform_webhooks


def use_relay(built: Relay | None) -> None:
    """Relay with `built` from now on (tests: a publisher that fails on purpose)."""
    global _relay
    _relay = built


def reset() -> None:
    """Forget everything built (tests, and SnapStart's after-restore hook)."""
    global _relay, _platform_webhooks
    use(None)
    _relay = None
    _platform_webhooks = None
    config.cache_clear()
    boto_session.cache_clear()
