"""One configuration object, built once per cold start from the environment and validated."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from .urls import check_allowlist_entry

ENVIRONMENTS = ("sandbox", "production")
PLAID_LINK_SCRIPT_URL = "https://cdn.plaid.com/link/v2/stable/link-initialize.js"
DEFAULT_PLATFORM_NAME = "your app"


class ConfigError(RuntimeError):
    """The function's environment is missing or has a bad setting (a deployment fault)."""


@dataclass(frozen=True)
class Config:
    table_name: str
    event_bus_name: str
    dwolla_secret_id: str
    dwolla_environment: str
    dwolla_api_base_url: str  # empty: Dwolla's host for the environment
    public_base_url: str  # empty: read once from the SSM parameter below
    public_base_url_parameter: str
    callback_url: str  # empty: public_base_url + /reauth/callback
    return_url_allowlist: tuple[str, ...]
    session_ttl_minutes: int  # one attempt's lifetime: Dwolla's exchange session (30 min)
    request_lifetime_days: int  # a re-authentication request's deadline
    platform_name: str  # shown to the customer on the service's pages
    plaid_link_script_url: str
    event_source: str
    secret_cache_seconds: int
    sweep_batch_size: int
    dead_letter_queue_url: str = ""  # the relay's dead letters (RelayFunction only)

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env
        environment = _dwolla_environment(env)
        public_base_url, parameter, callback_url = _public_urls(env)
        allowlist = _return_url_allowlist(env)
        return cls(
            table_name=_required(env, "TABLE_NAME"),
            event_bus_name=_required(env, "EVENT_BUS_NAME"),
            dwolla_secret_id=_required(env, "DWOLLA_SECRET_ID"),
            dwolla_environment=environment,
            dwolla_api_base_url=env.get("DWOLLA_API_BASE_URL", "").strip().rstrip("/"),
            public_base_url=public_base_url,
            public_base_url_parameter=parameter,
            callback_url=callback_url,
            return_url_allowlist=allowlist,
            session_ttl_minutes=_integer(env, "SESSION_TTL_MINUTES", 30, 1, 24 * 60),
            request_lifetime_days=_integer(env, "REQUEST_LIFETIME_DAYS", 7, 1, 30),
            platform_name=_platform_name(env.get("PLATFORM_DISPLAY_NAME", "")),
            plaid_link_script_url=_script_url(
                env.get("PLAID_LINK_SCRIPT_URL", "").strip() or PLAID_LINK_SCRIPT_URL
            ),
            event_source=env.get("EVENT_SOURCE", "").strip() or "dwolla-reauth",
            secret_cache_seconds=_integer(env, "SECRET_CACHE_SECONDS", 300, 0, 24 * 3600),
            sweep_batch_size=_integer(env, "SWEEP_BATCH_SIZE", 100, 1, 1000),
            dead_letter_queue_url=env.get("DEAD_LETTER_QUEUE_URL", "").strip(),
        )


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} is required")
    return value


def _integer(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip() or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"environment variable {name} must be an integer") from None
    if not low <= value <= high:
        raise ConfigError(f"environment variable {name} must be between {low} and {high}")
    return value


def _dwolla_environment(env: Mapping[str, str]) -> str:
    environment = env.get("DWOLLA_ENVIRONMENT", "sandbox").strip() or "sandbox"
    if environment not in ENVIRONMENTS:
        raise ConfigError(f"environment variable DWOLLA_ENVIRONMENT must be one of {ENVIRONMENTS}")
    return environment


def _public_urls(env: Mapping[str, str]) -> tuple[str, str, str]:
    """The service's public base URL (or the SSM parameter holding it) and callback override:
    (PUBLIC_BASE_URL, PUBLIC_BASE_URL_PARAMETER, CALLBACK_URL), each "" when unset."""
    public_base_url = env.get("PUBLIC_BASE_URL", "").strip().rstrip("/")
    parameter = env.get("PUBLIC_BASE_URL_PARAMETER", "").strip()
    if not public_base_url and not parameter:
        raise ConfigError(
            "environment variable PUBLIC_BASE_URL or PUBLIC_BASE_URL_PARAMETER is required"
        )
    if public_base_url:
        _service_url("PUBLIC_BASE_URL", public_base_url)
    callback_url = env.get("CALLBACK_URL", "").strip()
    if callback_url:
        _service_url("CALLBACK_URL", callback_url)
        if public_base_url and urlsplit(callback_url).netloc != urlsplit(public_base_url).netloc:
            raise ConfigError(
                "environment variable CALLBACK_URL must be on the same host as "
                "PUBLIC_BASE_URL (the binding cookie goes to that host only)"
            )
    return public_base_url, parameter, callback_url


def _return_url_allowlist(env: Mapping[str, str]) -> tuple[str, ...]:
    allowlist = tuple(
        url.strip() for url in env.get("RETURN_URL_ALLOWLIST", "").split(",") if url.strip()
    )
    for url in allowlist:
        if problem := check_allowlist_entry(url):
            raise ConfigError(f"RETURN_URL_ALLOWLIST entry {url!r} {problem}")
    return allowlist


def _platform_name(raw: str) -> str:
    name = " ".join(raw.split())
    if len(name) > 60 or any(ord(c) < 0x20 for c in name):
        raise ConfigError("environment variable PLATFORM_DISPLAY_NAME must be 1-60 characters")
    return name or DEFAULT_PLATFORM_NAME


def _service_url(name: str, url: str) -> None:
    """The service's own public URLs: absolute, https (http only on this machine), no query."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.username:
        raise ConfigError(f"environment variable {name} must be an absolute URL")
    if parts.query or parts.fragment:
        raise ConfigError(f"environment variable {name} must not carry a query or fragment")
    if parts.scheme == "http" and not _local_host(parts.hostname):
        raise ConfigError(f"environment variable {name} must use https")


def is_safe_handoff_url(url: str) -> bool:
    """Where the browser may be sent for the bank: https (http only on this machine)."""
    parts = urlsplit(url)
    if not parts.hostname or parts.username or parts.password:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and _local_host(parts.hostname))


def _script_url(url: str) -> str:
    """Plaid's CDN script in AWS; a local stand-in (the Dwolla sandbox) over http is accepted
    only on loopback or a private address (the Docker bridge)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.username:
        raise ConfigError("environment variable PLAID_LINK_SCRIPT_URL must be an absolute URL")
    if parts.scheme == "http" and not _local_host(parts.hostname):
        raise ConfigError("environment variable PLAID_LINK_SCRIPT_URL must use https")
    return url


def _local_host(host: str) -> bool:
    if host in ("localhost", "host.docker.internal"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private
