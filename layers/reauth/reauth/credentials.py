"""The Secrets Manager and SSM adapter: Dwolla's key/secret, the webhook secret, the public URL.

Values are fetched through Powertools' parameter providers and cached per container for
SECRET_CACHE_SECONDS, so a warm function reads Secrets Manager at most once per cache period.
The secret is JSON: {"key": "...", "secret": "...", "webhookSecret": "...", "linkSecret": "..."}.
`linkSecret` signs the customers' start links; without it a key derived from Dwolla's secret is
used (then rotating the Dwolla secret also retires the links already sent).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

from .config import ConfigError
from .dwolla import DwollaCredentials

if TYPE_CHECKING:  # imported where it is used (runtime), not at cold start
    from aws_lambda_powertools.utilities.parameters import BaseProvider


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

    def link_secret(self) -> bytes:
        value = self._value()
        secret = value.get("linkSecret", "")
        if len(secret) >= 32:
            return secret.encode()
        if secret:
            raise ConfigError('the secret\'s "linkSecret" must be at least 32 characters')
        dwolla_secret = value.get("secret")
        if not dwolla_secret:
            raise ConfigError('the Dwolla secret must hold "secret" (or "linkSecret")')
        return hmac.new(dwolla_secret.encode(), b"dwolla-reauth link keys", hashlib.sha256).digest()
