"""The platform's webhook endpoint (urllib3) and the queue's backoff (SQS): the adapters of
platform_webhooks.

One POST per attempt, no redirect followed (a 3xx is a failed attempt), no retry inside the
call (the queue retries, with its backoff): at most TIMEOUT per event, so a batch of the
queue's BatchSize fits the function's timeout. The body and its signature are never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

import urllib3
from urllib3.exceptions import HTTPError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

logger = logging.getLogger(__name__)

TIMEOUT = urllib3.Timeout(connect=3.05, read=7.0)


class HttpReceiver:
    def __init__(self, url: str, pool: urllib3.PoolManager | None = None) -> None:
        self._url = url
        self._pool = pool or urllib3.PoolManager(num_pools=1, maxsize=4, retries=False)

    def post(self, body: bytes, headers: Mapping[str, str]) -> int | None:
        try:
            answer = self._pool.request(
                "POST",
                self._url,
                body=body,
                headers=dict(headers),
                timeout=TIMEOUT,
                redirect=False,
                retries=False,
                preload_content=True,
            )
        except HTTPError as error:  # no answer: refused, reset, timed out, TLS
            logger.warning("the platform's webhook URL did not answer: %s", type(error).__name__)
            return None
        return int(answer.status)


class QueueBackoff:
    """A failed message's next attempt put off by its visibility timeout (at most 12 h)."""

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self._sqs = client
        self._queue_url = queue_url

    def delay(self, receipt_handle: str, seconds: int) -> None:
        self._sqs.change_message_visibility(
            QueueUrl=self._queue_url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=min(max(seconds, 0), 12 * 3600),
        )
