"""docs/examples/sign_request.py (quoted in docs/api.md) signs the IAM routes' requests the way
API Gateway checks them: SigV4, service execute-api, the caller's region, the body and the
Idempotency-Key signed. Verified by an independent implementation of the signature (AWS's
published algorithm, hashlib and hmac only), at a fixed time with fixed credentials."""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import json
import re
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from botocore.credentials import Credentials

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "sign_request.py"
ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
REGION = "eu-west-1"
NOW = datetime(2026, 12, 1, 23, 15, 30)  # botocore's clock is naive UTC
API = "https://abcdef1234.execute-api.eu-west-1.amazonaws.com/v1"
EXCHANGE = "036c8a60-fa45-45d4-8f5d-181d348c6ec8"
AUTHORIZATION_RE = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<credential>[^,]+), "
    r"SignedHeaders=(?P<signed>[^,]+), Signature=(?P<signature>[0-9a-f]{64})"
)


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("sign_request", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda *a, **k: NOW)


def sign(example, url, method="GET", body=None, headers=None, token=None):
    credentials = Credentials(ACCESS_KEY, SECRET_KEY, token)
    return example.signed_request(url, method, body, headers, credentials, REGION)


def expected_signature(method: str, url: str, headers: dict, body: bytes, signed: list[str]):
    """SigV4, from the specification: canonical request, string to sign, derived key."""
    parts = urlsplit(url)
    lower = {name.lower(): str(value).strip() for name, value in headers.items()}
    lower.setdefault("host", parts.netloc)
    query = "&".join(
        sorted(
            f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
            for k, _, v in (p.partition("=") for p in parts.query.split("&") if p)
        )
    )
    canonical = "\n".join(
        [
            method,
            quote(parts.path or "/", safe="/-_.~"),
            query,
            "".join(f"{name}:{lower[name]}\n" for name in signed),
            ";".join(signed),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    amz_date = lower["x-amz-date"]
    scope = f"{amz_date[:8]}/{REGION}/execute-api/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = f"AWS4{SECRET_KEY}".encode()
    for part in (amz_date[:8], REGION, "execute-api", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def authorization(request) -> re.Match:
    match = AUTHORIZATION_RE.fullmatch(request.headers["Authorization"])
    assert match, request.headers["Authorization"]
    return match


def test_a_create_is_signed_for_execute_api_with_its_body_and_idempotency_key(example):
    url = f"{API}/exchanges/{EXCHANGE}/reauth-sessions"
    body = {"returnUrl": "https://app.example.com/bank/reconnected"}
    request = sign(example, url, "POST", body, {"Idempotency-Key": "order-4711-reauth"})

    match = authorization(request)
    assert match["credential"] == f"{ACCESS_KEY}/20261201/{REGION}/execute-api/aws4_request"
    signed = match["signed"].split(";")
    assert {"host", "x-amz-date", "content-type", "idempotency-key"} <= set(signed)
    assert signed == sorted(signed)
    assert request.headers["X-Amz-Date"] == "20261201T231530Z"
    assert json.loads(request.body) == body
    assert match["signature"] == expected_signature(
        "POST", url, dict(request.headers), request.body, signed
    )


def test_a_read_is_signed_with_an_empty_payload(example):
    url = f"{API}/exchanges/{EXCHANGE}/reauth-status"
    request = sign(example, url)
    match = authorization(request)
    signed = match["signed"].split(";")
    assert signed[:2] == ["host", "x-amz-date"]
    assert match["signature"] == expected_signature("GET", url, dict(request.headers), b"", signed)


def test_temporary_credentials_send_and_sign_their_session_token(example):
    url = f"{API}/reauth-sessions/{EXCHANGE}"
    request = sign(example, url, token="FwoGZXIvYXdzEXAMPLETOKEN")
    assert request.headers["X-Amz-Security-Token"] == "FwoGZXIvYXdzEXAMPLETOKEN"
    match = authorization(request)
    signed = match["signed"].split(";")
    assert "x-amz-security-token" in signed
    assert match["signature"] == expected_signature("GET", url, dict(request.headers), b"", signed)


def test_the_signature_covers_the_body_the_key_and_the_region(example):
    """What API Gateway would refuse: a body, a key or a region other than the signed ones."""
    url = f"{API}/exchanges/{EXCHANGE}/reauth-sessions"
    request = sign(example, url, "POST", {"customerId": None}, {"Idempotency-Key": "a"})
    match = authorization(request)
    signed = match["signed"].split(";")
    headers = dict(request.headers)
    good = expected_signature("POST", url, headers, request.body, signed)
    assert match["signature"] == good
    assert expected_signature("POST", url, headers, b'{"customerId": "x"}', signed) != good
    assert (
        expected_signature("POST", url, {**headers, "Idempotency-Key": "b"}, request.body, signed)
        != good
    )
    elsewhere = sign(example, url.replace("eu-west-1", "us-east-1"), "POST", {"customerId": None})
    assert authorization(elsewhere)["signature"] != good
