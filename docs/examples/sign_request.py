"""Calling the service's IAM routes from Python: SigV4 with botocore (service `execute-api`).

    from sign_request import send, signed_request

    api = "https://abcdef1234.execute-api.us-east-1.amazonaws.com/v1"
    answer = send(signed_request(
        f"{api}/exchanges/{exchange_id}/reauth-sessions",
        "POST",
        body={"returnUrl": "https://app.example.com/bank/reconnected"},
        headers={"Idempotency-Key": "order-4711-reauth"},
        region="us-east-1",
    ))
    answer.status, answer.json()["startUrl"]

The caller's IAM identity needs `execute-api:Invoke` on the route
(`arn:aws:execute-api:<region>:<account>:<api id>/<stage>/POST/exchanges/*/reauth-sessions`).
Credentials come from botocore's usual chain (environment, profile, SSO, instance or task role)
unless given. Sign the exact bytes you send: the body is part of the signature.
"""

from __future__ import annotations

import json

import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSPreparedRequest, AWSRequest
from botocore.credentials import Credentials, ReadOnlyCredentials
from botocore.session import get_session

SERVICE = "execute-api"


def signed_request(
    url: str,
    method: str = "GET",
    body: dict | bytes | str | None = None,
    headers: dict[str, str] | None = None,
    credentials: Credentials | ReadOnlyCredentials | None = None,
    region: str = "us-east-1",
) -> AWSPreparedRequest:
    """The request, signed: its `headers` carry `Authorization`, `X-Amz-Date` (and
    `X-Amz-Security-Token` for temporary credentials). A dict body is sent as JSON."""
    headers = dict(headers or {})
    if isinstance(body, dict):
        body = json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    data = body.encode() if isinstance(body, str) else body
    if credentials is None:
        credentials = get_session().get_credentials()
        if credentials is None:
            raise RuntimeError("no AWS credentials found (environment, profile or role)")
    request = AWSRequest(method=method.upper(), url=url, data=data, headers=headers)
    SigV4Auth(credentials, SERVICE, region).add_auth(request)
    return request.prepare()


def send(request: AWSPreparedRequest, pool: urllib3.PoolManager | None = None):
    """Send a signed request as it was signed (urllib3; `requests.request(request.method,
    request.url, headers=dict(request.headers), data=request.body)` works the same)."""
    pool = pool or urllib3.PoolManager()
    return pool.request(
        request.method,
        request.url,
        body=request.body,
        headers=dict(request.headers.items()),
        redirect=False,
    )


if __name__ == "__main__":  # python docs/examples/sign_request.py <URL> [METHOD] [JSON body]
    import sys

    url, method = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "GET")
    payload = json.loads(sys.argv[3]) if len(sys.argv) > 3 else None
    region = url.split(".execute-api.")[1].split(".")[0] if ".execute-api." in url else "us-east-1"
    answer = send(signed_request(url, method, payload, region=region))
    print(answer.status, answer.data.decode())
