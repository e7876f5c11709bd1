"""Faults made on purpose in the AWS calls the service makes, through botocore's own hooks on
the container's boto3 session (`runtime.boto_session()`). Clients copy the session's hooks when
they are made: hook first, then let the service make its clients (a new container, or a service
that has not called that AWS service yet)."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace


def hook_aws(event: str, handler: Callable[..., object]) -> None:
    """Call `handler` on botocore's `event` (e.g. "before-call.dynamodb.TransactWriteItems")
    in every AWS client the container makes from now on."""
    from reauth import runtime

    runtime.boto_session().events.register(event, handler)


def aws_error(code: str, message: str, **extra: object) -> tuple[object, dict]:
    """What a `before-call` hook returns to make the call fail as AWS would: the client raises
    its own exception class for `code`, with `extra` in the response (e.g. CancellationReasons)."""
    return SimpleNamespace(status_code=400, headers={}), {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": 400},
        **extra,
    }
