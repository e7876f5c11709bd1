"""The Secrets Manager and SSM adapter: Dwolla's key/secret, the webhook secret, the link secret.

Two secrets, each its own Secrets Manager secret:
- Dwolla's: JSON {"key": "...", "secret": "...", "webhookSecret": "..."}, put there by the
  operator; read through Powertools' parameter provider, cached per container for
  SECRET_CACHE_SECONDS.
- the link secret: a plain string (32 characters or more) the template generates, which signs
  the customers' start links. It is never derived from Dwolla's secret, so rotating Dwolla's
  credentials leaves every link working. Links are minted with its AWSCURRENT version and a
  presented key is checked against AWSCURRENT, then AWSPREVIOUS: a link made before one rotation
  keeps working.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .config import ConfigError
from .dwolla import DwollaCredentials

if TYPE_CHECKING:  # imported where it is used (runtime), not at cold start
    from aws_lambda_powertools.utilities.parameters import BaseProvider

logger = logging.getLogger(__name__)

CURRENT, PREVIOUS = "AWSCURRENT", "AWSPREVIOUS"
MIN_LINK_SECRET_LENGTH = 32
LINK_SECRET_REFRESH_SECONDS = 30.0


class DwollaSecrets:
    def __init__(self, secrets_provider: BaseProvider, secret_id: str, max_age: int) -> None:
        self._provider = secrets_provider
        self._secret_id = secret_id
        self._max_age = max_age

    def _value(self) -> dict[str, str]:
        """The secret's text fields (a field of another JSON type counts as absent)."""
        value = self._provider.get(self._secret_id, max_age=self._max_age, transform="json")
        if not isinstance(value, dict):
            raise ConfigError("the Dwolla secret must be a JSON object")
        return {name: field for name, field in value.items() if isinstance(field, str)}

    def credentials(self) -> DwollaCredentials:
        value = self._value()
        key, secret = value.get("key"), value.get("secret")
        if not key or not secret:
            raise ConfigError('the Dwolla secret must hold "key" and "secret"')
        return DwollaCredentials(key=key, secret=secret)

    def webhook_secret(self) -> str:
        secret = self._value().get("webhookSecret")
        if not secret:
            raise ConfigError('the Dwolla secret must hold "webhookSecret" to accept webhooks')
        return secret


class LinkSecrets:
    """The link secret's versions, as this container knows them.

    Each version (AWSCURRENT, AWSPREVIOUS) is read when first needed and kept for `max_age`
    seconds: a container that only mints links, or whose keys all verify against AWSCURRENT,
    never reads AWSPREVIOUS. `refresh()` forgets what is kept, unless it was read less than
    `refresh_interval` seconds ago: a key no kept version verifies may have been minted by a
    container that saw a rotation first, and this one catches up within seconds instead of
    `max_age`, at most one re-read per `refresh_interval` whatever the keys presented.
    The values are never logged.
    """

    def __init__(
        self,
        secretsmanager: Any,
        secret_id: str,
        max_age: float,
        *,
        clock: Callable[[], float],
        refresh_interval: float = LINK_SECRET_REFRESH_SECONDS,
    ) -> None:
        self._client = secretsmanager
        self._secret_id = secret_id
        self._max_age = max_age
        self._clock = clock
        self._refresh_interval = refresh_interval
        self._kept: dict[str, tuple[bytes | None, float]] = {}  # stage: (value, read at)

    def current(self) -> bytes:
        """AWSCURRENT: what signs the links made now."""
        value = self._version(CURRENT)
        if value is None:  # pragma: no cover - Secrets Manager always has an AWSCURRENT
            raise ConfigError(f"the link secret {self._secret_id} has no {CURRENT} version")
        return value

    def previous(self) -> bytes | None:
        """AWSPREVIOUS: what signed the links made before the last rotation (None before any)."""
        return self._version(PREVIOUS)

    def refresh(self) -> bool:
        """Forget the versions kept, unless AWSCURRENT was read less than `refresh_interval`
        seconds ago. True when forgotten (the next read asks Secrets Manager)."""
        kept = self._kept.get(CURRENT)
        if kept is not None and 0 <= self._clock() - kept[1] < self._refresh_interval:
            return False
        self._kept.clear()
        logger.info("link secret re-read: a link key matched none of its versions kept")
        return True

    def _version(self, stage: str) -> bytes | None:
        now = self._clock()
        kept = self._kept.get(stage)
        if kept is not None and 0 <= now - kept[1] < self._max_age:
            return kept[0]
        value = self._read(stage)
        self._kept[stage] = (value, now)
        return value

    def _read(self, stage: str) -> bytes | None:
        try:
            answer = self._client.get_secret_value(SecretId=self._secret_id, VersionStage=stage)
        except Exception as exc:
            if stage == PREVIOUS and _error_code(exc) == "ResourceNotFoundException":
                return None  # never rotated
            raise
        text = answer.get("SecretString")
        if isinstance(text, str) and len(text) >= MIN_LINK_SECRET_LENGTH:
            return text.encode()
        if stage == PREVIOUS:
            return None  # a bad value replaced since: it signs nothing
        raise ConfigError(
            f"the link secret (LINK_SECRET_ID) must be a string of at least "
            f"{MIN_LINK_SECRET_LENGTH} characters"
        )


def _error_code(exc: Exception) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return code if isinstance(code, str) else None
    return None


class PlatformWebhookSecret:
    """The platform webhooks' signing key: a plain string the template generates
    (PlatformWebhookSecret), cached per container for SECRET_CACHE_SECONDS."""

    def __init__(self, secrets_provider: BaseProvider, secret_id: str, max_age: int) -> None:
        self._provider = secrets_provider
        self._secret_id = secret_id
        self._max_age = max_age

    def __call__(self) -> str:
        value = self._provider.get(self._secret_id, max_age=self._max_age)
        if not isinstance(value, str) or len(value) < MIN_LINK_SECRET_LENGTH:
            raise ConfigError(
                f"the platform webhook secret must be a string of {MIN_LINK_SECRET_LENGTH} "
                "characters or more"
            )
        return value
