"""What every use case is given: the adapters, the service's own URLs, the settings, a clock.

Built once per container by `runtime`; tests build one with their own clock and adapters.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from .dwolla import DwollaClient, DwollaError
from .dwolla_errors import from_dwolla
from .errors import ErrorCode, ServiceError
from .ids import normalize_uuid
from .messages import Senders
from .model import ReauthRequest
from .repository import RequestRepository
from .schedule import DEFAULT_QUIET_HOURS, DEFAULT_SCHEDULE, QuietHours, Reminder
from .security import is_well_formed_link_key, link_key, link_key_matches
from .urls import path_of, with_query

logger = logging.getLogger(__name__)


class LinkSecretVersions(Protocol):
    """The secret that signs start links, as a container knows it (credentials.LinkSecrets)."""

    def current(self) -> bytes: ...

    def previous(self) -> bytes | None: ...

    def refresh(self) -> bool: ...


@dataclass(frozen=True)
class Links:
    """The service's own public URLs. The base URL is resolved lazily (it may need an SSM read),
    and so is the secret that signs start links (Secrets Manager reads, cached)."""

    base_url: Callable[[], str]
    link_secrets: LinkSecretVersions
    callback_override: str = ""
    # Plaid's OAuth return (PLAID_REDIRECT_URL): token sessions carry it; empty: none.
    plaid_redirect_url: str = ""

    def callback_url(self) -> str:
        return self.callback_override or f"{self.base_url()}/reauth/callback"

    def start_url(self, request_id: str) -> str:
        """The customer's link: durable, the same in every answer about the request."""
        key = link_key(self.link_secrets.current(), request_id)
        return with_query(self.action_url(request_id), {"key": key})

    def key_matches(self, request_id: str, key: str | None) -> bool:
        """Does `key` open `request_id`'s link? Signed with the link secret's current version,
        or its previous one (a link sent before the last rotation). When neither verifies a
        well-formed key, the secret is read again (rate-limited) and checked once more: another
        container may have minted it with a version this one has not seen yet."""
        if not key or not is_well_formed_link_key(key):
            return False
        return self._signed_by_known_version(request_id, key) or (
            self.link_secrets.refresh() and self._signed_by_known_version(request_id, key)
        )

    def _signed_by_known_version(self, request_id: str, key: str) -> bool:
        if link_key_matches(self.link_secrets.current(), request_id, key):
            return True
        previous = self.link_secrets.previous()
        return previous is not None and link_key_matches(previous, request_id, key)

    def action_url(self, request_id: str) -> str:
        return f"{self.base_url()}/reauth/link/{request_id}"

    def renew_url(self, request_id: str) -> str:
        return f"{self.action_url(request_id)}/renew"

    def complete_url(self, request_id: str) -> str:
        return f"{self.action_url(request_id)}/complete"

    def status_url(self, request_id: str) -> str:
        """The verifying page's poll (journey.follow)."""
        return f"{self.action_url(request_id)}/status"

    def done_url(self) -> str:
        return f"{self.base_url()}/reauth/done"

    def cookie_path(self) -> str:
        """The binding cookie's path: the longest common directory of the links, the
        callback and Plaid's OAuth return, so the browser sends it to them and nowhere else."""
        link_parts = path_of(self.action_url("x")).split("/")[:-1]
        common = path_of(self.callback_url()).split("/")[:-1]
        others = [self.plaid_redirect_url] if self.plaid_redirect_url else []
        for parts in (link_parts, *(path_of(url).split("/")[:-1] for url in others)):
            same = 0
            while same < min(len(parts), len(common)) and parts[same] == common[same]:
                same += 1
            common = common[:same]
        return "/".join(common) + "/"


@dataclass(frozen=True)
class Settings:
    return_url_allowlist: tuple[str, ...]
    attempt_ttl: timedelta  # a Dwolla exchange session's life
    request_lifetime: timedelta  # a request's deadline
    platform_name: str
    plaid_link_script_url: str
    sweep_batch_size: int = 100
    verify_retry: timedelta = timedelta(minutes=1)  # next check after Dwolla could not answer
    reminders: tuple[Reminder, ...] = DEFAULT_SCHEDULE  # after the first message (schedule.py)
    quiet_hours: QuietHours | None = DEFAULT_QUIET_HOURS  # in the contact's time zone
    time_zone: str = "UTC"  # the deployment's: a contact's who gave none
    # "Send me a new link" may start a new request itself when a contact is on file (renewal.py)
    allow_self_service_renewal: bool = False
    default_locale: str = "en"  # the customer's language when neither request nor browser says


@dataclass(frozen=True)
class Context:
    repo: RequestRepository
    dwolla: DwollaClient
    links: Links
    settings: Settings
    clock: Callable[[], datetime]
    webhook_secret: Callable[[], str] | None = None
    senders: Senders = field(default_factory=Senders)  # the channels on (delivery.py)

    def now(self) -> datetime:
        return self.clock()

    def request_or_404(self, request_id: object) -> ReauthRequest:
        request = self.repo.get_request(uuid_or(request_id, ErrorCode.INVALID_SESSION_ID))
        if request is None:
            raise ServiceError(ErrorCode.SESSION_NOT_FOUND)
        return request


def uuid_or(value: object, error: ErrorCode) -> str:
    normalized = normalize_uuid(value)
    if normalized is None:
        raise ServiceError(error)
    return normalized


def dwolla_failure(exc: DwollaError) -> ServiceError:
    error = from_dwolla(exc)
    logger.warning(
        "Dwolla call failed",
        extra={
            "errorCode": error.code,
            "dwollaStatus": getattr(exc, "status", None),
            "dwollaCode": getattr(exc, "code", None),
        },
    )
    return error


def request_detail(request: ReauthRequest, **extra: object) -> dict[str, Any]:
    """The ids every event about a request carries (outbox.py adds the event's own id)."""
    return {
        "sessionId": request.id,
        "exchangeId": request.exchange_id,
        "customerId": request.customer_id,
        **extra,
    }
