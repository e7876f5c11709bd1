"""The Secrets Manager and SSM adapter: Dwolla's key/secret, the webhook secret, the public URL.

Values are fetched through Powertools' parameter providers and cached per container for
SECRET_CACHE_SECONDS, so a warm function reads Secrets Manager at most once per cache period.
The secret is JSON: {"key": "...", "secret": "...", "webhookSecret": "..."}.
"""

from __future__ import annotations

from .config import ConfigError
from .dwolla import DwollaCredentials


class DwollaSecrets:
    def __init__(self, secrets_provider, secret_id: str, max_age: int) -> None:
        self._provider = secrets_provider
        self._secret_id = secret_id
        self._max_age = max_age

    def _value(self) -> dict:
        value = self._provider.get(self._secret_id, max_age=self._max_age, transform="json")
        if not isinstance(value, dict):
            raise ConfigError("the Dwolla secret must be a JSON object")
        return value

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
