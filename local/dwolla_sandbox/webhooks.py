"""Dwolla's webhook subscriptions, and the sandbox really delivering signed webhooks.

Sources: openapi.yml (`/webhook-subscriptions`, `/webhook-subscriptions/{id}[/webhooks]`) and
NOTES.md ("Added facts (2026-12-05)": limits, pausing, the retry schedule).

- A subscription is `{url, secret}`; at most `max_subscriptions` (10: Dwolla's sandbox limit; 5 in
  production) else 400 `MaxNumberOfResources`. The spec lists no duplicate-URL error, so the
  sandbox, like the spec, accepts a second subscription for one URL.
- Every event the sandbox records (`/_admin/exchanges/{id}/reauth-required`, `/_admin/events`)
  makes one webhook per subscription. A paused subscription's webhooks are made and never sent
  (Dwolla: "keeps creating webhooks but sends none"; unpausing redelivers nothing).
- A webhook is POSTed to the subscription's URL with Dwolla's body (the event: `id`, `topic`,
  `resourceId`, `created`, `_links`) and headers (`X-Request-Signature-SHA-256`: hex HMAC-SHA256
  of the raw body under the secret; `X-Dwolla-Topic`; `User-Agent: dwolla-webhooks/1.0`). It
  fails on a status >= 300 (redirects are not followed) or no answer within 10 s; then it is
  tried again at RETRY_OFFSETS after the first try (15 min, 1 h, 3 h ... 72 h).
- A subscription is paused after `pause_after_failures` (400) consecutive failed attempts *and*
  24 h without a success (since it was made, when it never had one).
- Every time above is multiplied by the sandbox's `time_scale` (1.0 = Dwolla's; the tests use
  about 1e-4: the 72 h schedule in 26 s). Deliveries run on one background thread, never
  inside an API answer.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import http.client
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from .state import Event, iso_at

MAX_SUBSCRIPTIONS = 10  # the sandbox's limit (production: 5)
MAX_SECRET_LENGTH = 128
PAUSE_AFTER_FAILURES = 400
PAUSE_AFTER_SECONDS_WITHOUT_SUCCESS = 24 * 3600
DELIVERY_TIMEOUT_SECONDS = 10.0
HOUR = 3600
# When each try happens, counted from the first (NOTES.md): 8 retries over 72 h.
RETRY_OFFSETS = (0, 15 * 60, HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, 24 * HOUR, 48 * HOUR, 72 * HOUR)
SIGNATURE_HEADER = "X-Request-Signature-SHA-256"
TOPIC_HEADER = "X-Dwolla-Topic"
USER_AGENT = "dwolla-webhooks/1.0"


class SubscriptionRefused(ValueError):
    """A create Dwolla refuses: `kind` is "MaxNumberOfResources", "url", "secret" or
    "url_required" / "secret_required"."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass
class Subscription:
    id: str
    url: str
    secret: str = field(repr=False)
    created_at: float
    created: str
    paused: bool = False
    consecutive_failures: int = 0
    last_success_at: float | None = None

    def view(self) -> dict:
        return {"id": self.id, "url": self.url, "paused": self.paused, "created": self.created}


@dataclass
class Attempt:
    id: str
    timestamp: str
    url: str
    request_body: str
    status: int | None  # None: no answer (refused, timed out, dropped)
    response_body: str

    def view(self) -> dict:
        return {
            "id": self.id,
            "request": {
                "timestamp": self.timestamp,
                "url": self.url,
                "headers": [{"name": TOPIC_HEADER, "value": ""}],
                "body": self.request_body,
            },
            "response": {
                "timestamp": self.timestamp,
                "headers": [],
                "statusCode": self.status if self.status is not None else 0,
                "body": self.response_body,
            },
        }


@dataclass
class Webhook:
    id: str
    subscription_id: str
    event: Event
    created: str
    body: str = ""  # the raw JSON sent (built once: every retry sends the same bytes)
    attempts: list[Attempt] = field(default_factory=list)
    delivered: bool = False
    tries_left: int = len(RETRY_OFFSETS)


class WebhookSubscriptions:
    """The subscriptions, their webhooks, and the thread that delivers them."""

    def __init__(self, *, clock: Callable[[], float], link_base: Callable[[], str]) -> None:
        self._clock = clock  # timestamps shown (the sandbox's clock, which tests may freeze)
        self._now = time.monotonic  # when tries are due and how long without success
        self._link_base = link_base
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._queue: list[tuple[float, int, str, int]] = []  # (due, tie, webhook id, try index)
        self._tie = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.time_scale = 1.0
        self.max_subscriptions = MAX_SUBSCRIPTIONS
        self.pause_after_failures = PAUSE_AFTER_FAILURES
        self.render_event: Callable[[str, Event], dict] | None = None
        self.start_settings: dict | None = None  # what a reset goes back to
        self.reset()

    # --- settings and lifecycle -------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            if self.start_settings is not None:
                self.configure(self.start_settings)
            self.subscriptions: dict[str, Subscription] = {}
            self.webhooks: dict[str, Webhook] = {}
            self._queue.clear()

    def settings(self) -> dict:
        with self._lock:
            return {
                "timeScale": self.time_scale,
                "maxSubscriptions": self.max_subscriptions,
                "pauseAfterFailures": self.pause_after_failures,
            }

    def configure(self, data: dict) -> dict:
        with self._lock:
            if "timeScale" in data:
                scale = data["timeScale"]
                if not isinstance(scale, int | float) or isinstance(scale, bool) or scale <= 0:
                    raise ValueError('"timeScale" must be a number above 0')
                self.time_scale = float(scale)
            for name, attribute in (
                ("maxSubscriptions", "max_subscriptions"),
                ("pauseAfterFailures", "pause_after_failures"),
            ):
                if name in data:
                    value = data[name]
                    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                        raise ValueError(f'"{name}" must be a whole number from 1')
                    setattr(self, attribute, value)
            return self.settings()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._stopping = False
            self._thread = threading.Thread(
                target=self._deliver_forever, name="dwolla-sandbox-webhooks", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
            self._stopping = True
            self._wake.notify_all()
        if thread is not None:
            thread.join(timeout=DELIVERY_TIMEOUT_SECONDS + 1)

    # --- the subscription routes ------------------------------------------------------------

    def create(self, url: object, secret: object) -> Subscription:
        if url is None:
            raise SubscriptionRefused("url_required")
        if secret is None:
            raise SubscriptionRefused("secret_required")
        if not is_http_url(url):
            raise SubscriptionRefused("url")
        if not isinstance(secret, str) or not secret or len(secret) > MAX_SECRET_LENGTH:
            raise SubscriptionRefused("secret")
        with self._lock:
            if len(self.subscriptions) >= self.max_subscriptions:
                raise SubscriptionRefused("MaxNumberOfResources")
            made = Subscription(
                id=str(uuid.uuid4()),
                url=str(url),
                secret=secret,
                created_at=self._now(),
                created=_iso(self._clock()),
            )
            self.subscriptions[made.id] = made
            return made

    def list(self) -> list[Subscription]:
        with self._lock:
            return sorted(self.subscriptions.values(), key=lambda s: s.created_at)

    def get(self, subscription_id: str) -> Subscription | None:
        with self._lock:
            return self.subscriptions.get(subscription_id)

    def set_paused(self, subscription_id: str, paused: bool) -> Subscription | None:
        with self._lock:
            found = self.subscriptions.get(subscription_id)
            if found is not None:
                found.paused = paused
                if not paused:  # a fresh start: the failure count and the 24 h begin again
                    found.consecutive_failures = 0
                    found.last_success_at = self._now()
            return found

    def delete(self, subscription_id: str) -> Subscription | None:
        with self._lock:
            return self.subscriptions.pop(subscription_id, None)

    def webhooks_of(self, subscription_id: str) -> list[Webhook]:
        """Newest first."""
        with self._lock:
            found = [w for w in self.webhooks.values() if w.subscription_id == subscription_id]
            return list(reversed(found))

    # --- deliveries -------------------------------------------------------------------------

    def event_recorded(self, event: Event) -> None:
        """One webhook per subscription; the unpaused ones are sent at once (on the thread)."""
        with self._lock:
            now = self._now()
            for subscription in self.subscriptions.values():
                webhook = Webhook(str(uuid.uuid4()), subscription.id, event, _iso(self._clock()))
                self.webhooks[webhook.id] = webhook
                if not subscription.paused:
                    self._schedule(webhook.id, 0, now)
            self._wake.notify_all()

    def _schedule(self, webhook_id: str, try_index: int, first_try_at: float) -> None:
        due = first_try_at + RETRY_OFFSETS[try_index] * self.time_scale
        heapq.heappush(self._queue, (due, next(self._tie), webhook_id, try_index))

    def _deliver_forever(self) -> None:
        while True:
            with self._lock:
                while not self._stopping and (not self._queue or self._queue[0][0] > self._now()):
                    wait = self._queue[0][0] - self._now() if self._queue else None
                    self._wake.wait(timeout=min(wait, 0.5) if wait is not None else 0.5)
                if self._stopping:
                    return
                due, _, webhook_id, try_index = heapq.heappop(self._queue)
                prepared = self._prepare(webhook_id)
            if prepared is not None:
                self._attempt(prepared, try_index, due - RETRY_OFFSETS[try_index] * self.time_scale)

    def _prepare(self, webhook_id: str) -> tuple[Webhook, Subscription] | None:
        """The webhook and its subscription if it is still to be sent (not reset away, the
        subscription still there and not paused)."""
        webhook = self.webhooks.get(webhook_id)
        subscription = self.subscriptions.get(webhook.subscription_id) if webhook else None
        if webhook is None or subscription is None or subscription.paused or webhook.delivered:
            return None
        if not webhook.body:
            render = self.render_event
            payload = render(self._link_base(), webhook.event) if render else {}
            webhook.body = json.dumps(payload, separators=(",", ":"))
        return webhook, subscription

    def _attempt(
        self, prepared: tuple[Webhook, Subscription], try_index: int, first_try_at: float
    ) -> None:
        webhook, subscription = prepared
        body = webhook.body.encode()
        signature = hmac.new(subscription.secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json; charset=UTF-8",
            "User-Agent": USER_AGENT,
            TOPIC_HEADER: webhook.event.topic,
            SIGNATURE_HEADER: signature,
        }
        status, answer = _post(subscription.url, body, headers)
        with self._lock:
            now = self._now()
            webhook.attempts.append(
                Attempt(
                    str(uuid.uuid4()),
                    _iso(self._clock()),
                    subscription.url,
                    webhook.body,
                    status,
                    answer,
                )
            )
            if status is not None and 200 <= status < 300:
                webhook.delivered = True
                subscription.consecutive_failures = 0
                subscription.last_success_at = now
                return
            subscription.consecutive_failures += 1
            self._pause_if_failing(subscription, now)
            if try_index + 1 < len(RETRY_OFFSETS):
                self._schedule(webhook.id, try_index + 1, first_try_at)

    def _pause_if_failing(self, subscription: Subscription, now: float) -> None:
        since = subscription.last_success_at
        quiet = now - (since if since is not None else subscription.created_at)
        if (
            subscription.consecutive_failures >= self.pause_after_failures
            and quiet >= PAUSE_AFTER_SECONDS_WITHOUT_SUCCESS * self.time_scale
        ):
            subscription.paused = True


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int | None, str]:
    """One POST, redirects not followed: (status, the answer's first 1 KB) or (None, why)."""
    parts = urlsplit(url)
    connection_type = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = connection_type(parts.hostname or "", parts.port, timeout=DELIVERY_TIMEOUT_SECONDS)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read(1024).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as problem:
        return None, type(problem).__name__
    finally:
        connection.close()


def is_http_url(value: object) -> bool:
    """An absolute http(s) URL with a host and no whitespace (a redirect URL, a webhook URL)."""
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _iso(seconds: float) -> str:
    return iso_at(datetime.fromtimestamp(seconds, UTC))
