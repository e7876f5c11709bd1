"""docs/openapi.yaml, run against the functions under `sam local start-api`: schemathesis.

Every operation of the document goes through schemathesis's phases (the document's examples,
its coverage of each parameter's edges, then generated requests) with every check: no 5xx,
only documented statuses, documented content types, headers and bodies, valid requests
accepted and invalid ones refused. The examples are made real first: a Plaid (token handoff)
request is created through the API and its link's button pressed, and its id, link key,
binding cookie and CSRF token become the examples of the routes that take them, so the
document's success answers are checked too (the request, the start page, the Plaid page with
its cookie, both completions, the callback's 303). Bounded (a few examples per
operation, deterministic generation, one worker): a few minutes on warm containers.
(Schemathesis's stateful phase is off: its links cannot carry the link's key, and without
them it only repeats the fuzzing.)

What the local stack cannot show is adjusted here, not in the document:
- `sam local` does not check SigV4, so the IAM routes' `sigv4` requirement is dropped (API
  Gateway enforces it; a deployed stack answers 403 AccessDenied without it); the browser
  routes' `bindingCookie` too: its name is per request (`reauth_<id, hex>`), which a security
  scheme cannot name, so schemathesis could not take it away; the `Cookie` header parameter
  carries it (hence the `ignored_auth` check has nothing to do here);
- it answers a method a path does not have with its own 403, where API Gateway answers the
  template's AccessDenied (both: a 403, never a 405): the `unsupported_method` check (and
  `allow_header_conformance`, about 405's Allow header) is off;
- `returnUrl` must equal an entry of the deployment's allow-list, which no document can know:
  the local stack's one entry is made the schema's only value;
- the browser routes answer any key or cookie they did not issue with their one 400 page (they
  explain nothing): for them, a schema-valid request may be refused with 400.
The cancel route's example is a request made just before its call (schemathesis_hooks.py).
The webhook example's `created` is moved to a few minutes ago (a signed body older than
Dwolla's retry window is refused as a replay, whatever the day the document was written).
Dwolla's webhooks are signed with the local stack's webhook secret, and SAM CLI's own 502 for
a body that is not UTF-8 (the function never runs) is not held against the document
(schemathesis_hooks.py).
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import yaml

from local.stack import CUSTOMER, EXCHANGES, FUNDING_SOURCES, LOCAL_DWOLLA

# `clean`: the sandbox is re-seeded afterwards (the run creates requests and records webhooks).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600), pytest.mark.usefixtures("clean")]

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "openapi.yaml"
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
SEED = 20261201
MAX_EXAMPLES = int(os.environ.get("OPENAPI_MAX_EXAMPLES", 10))

CONFIG = f"""
seed = {SEED}
workers = 1
max-failures = 50
request-timeout = 60
suppress-health-check = ["too_slow", "filter_too_much"]

[generation]
max-examples = {MAX_EXAMPLES}
deterministic = true
database = "none"

[phases.stateful]
enabled = false

[[operations]]
include-tag = "browser"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "410", "429", "503"]
"""


def for_local_stack(
    document: dict,
    return_url: str,
    request: dict | None = None,
    browser: tuple[str, str] | None = None,
) -> dict:
    """The document as the local stack can be held to it (see the module's docstring); with
    `request` (an answer of the create route), its id and link key as the examples, and with
    `browser` (a binding cookie and its CSRF token), those."""
    local = copy.deepcopy(document)
    for path_item in local["paths"].values():
        for operation in path_item.values():
            if isinstance(operation, dict):
                operation.pop("security", None)
    create = local["components"]["schemas"]["CreateReauthSession"]
    create["properties"]["returnUrl"]["enum"] = [return_url, None]
    body = local["paths"]["/exchanges/{exchangeId}/reauth-sessions"]["post"]["requestBody"]
    for example in body["content"]["application/json"]["examples"].values():
        if "returnUrl" in example["value"]:
            example["value"]["returnUrl"] = return_url
    _recent_webhook_example(local)
    _cancel_example(local)
    if request is not None:
        _request_examples(local, request)
    if browser is not None:
        _browser_examples(local, *browser)
    return local


def _recent_webhook_example(local: dict) -> None:
    """The webhook example as Dwolla would deliver it now: a signed body older than Dwolla's
    retry window is a replay (200 "stale"), so the document's fixed `created` would test a
    different path on every day after it was written."""
    moment = datetime.now(UTC) - timedelta(minutes=5)
    created = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    local["components"]["schemas"]["DwollaWebhook"]["example"]["created"] = created


CANCEL_EXAMPLE = "00000000-0000-4000-8000-00000000ca9c"  # made a fresh request (the hooks)


def _cancel_example(local: dict) -> None:
    """The cancel route's own example id (the hooks make it a fresh request): cancelling the
    shared example request would close the link the browser routes' examples use."""
    cancel = local["paths"]["/reauth-sessions/{sessionId}/cancel"]["post"]
    parameter = copy.deepcopy(local["components"]["parameters"]["SessionId"])
    parameter["example"] = CANCEL_EXAMPLE
    cancel["parameters"] = [parameter]


def _request_examples(local: dict, request: dict) -> None:
    key = parse_qs(urlsplit(request["startUrl"]).query)["key"][0]
    parameters = local["components"]["parameters"]
    parameters["SessionId"]["example"] = request["id"]
    parameters["LinkSessionId"]["example"] = request["id"]
    parameters["LinkKey"]["example"] = key
    start = local["paths"]["/reauth/link/{sessionId}"]["post"]["requestBody"]["content"]
    start["application/x-www-form-urlencoded"]["example"] = {"key": key}


def _browser_examples(local: dict, cookie: str, csrf: str) -> None:
    local["components"]["parameters"]["BindingCookies"]["example"] = cookie
    examples = {
        ("/reauth/link/{sessionId}/complete", "post", "X-Reauth-CSRF"): csrf,
        ("/reauth/callback", "get", "error"): "USER_CANCELLED",
    }
    for (path, method, name), value in examples.items():
        for parameter in local["paths"][path][method]["parameters"]:
            if parameter.get("name") == name:
                parameter["example"] = value


def a_plaid_request(api_url: str) -> dict:
    """A token-handoff request, made through the API (its link works, /complete applies)."""
    answer = requests.post(
        f"{api_url}/exchanges/{EXCHANGES['plaid']}/reauth-sessions", json={}, timeout=60
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def a_bound_browser(request: dict) -> tuple[str, str]:
    """The start button pressed on the request's link: (the binding cookie, as a Cookie header,
    and the Plaid page's CSRF token)."""
    link = urlsplit(request["startUrl"])
    key = parse_qs(link.query)["key"][0]
    answer = requests.post(
        f"{link.scheme}://{link.netloc}{link.path}", data={"key": key}, timeout=60
    )
    assert answer.status_code == 200, answer.text[:500]
    cookie = answer.headers["Set-Cookie"].split(";")[0]
    config = re.search(
        r'<script type="application/json" id="reauth-config">(.*?)</script>', answer.text, re.S
    )
    assert config, answer.text[:500]
    return cookie, json.loads(config.group(1))["csrf"]


def test_the_document_against_the_local_stack(stack, tmp_path):
    document = yaml.safe_load(DOCUMENT.read_text())
    request = a_plaid_request(stack.api_url)
    local = for_local_stack(document, stack.return_url, request, a_bound_browser(request))
    schema = tmp_path / "openapi.local.yaml"
    schema.write_text(yaml.safe_dump(local, sort_keys=False))
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    reports = tmp_path / "reports"
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.e2e.schemathesis_hooks",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "REAUTH_WEBHOOK_SECRET": LOCAL_DWOLLA.webhook_secret,
        "REAUTH_API_URL": stack.api_url,
        "REAUTH_CANCEL_EXAMPLE": CANCEL_EXAMPLE,
        "REAUTH_FUNDING_SOURCES": json.dumps(
            {EXCHANGES[partner]: [FUNDING_SOURCES[partner], CUSTOMER] for partner in EXCHANGES}
        ),
        "NO_COLOR": "1",
    }
    started = time.monotonic()
    run = subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(config),
            "run",
            str(schema),
            "--url",
            stack.api_url,
            "--checks",
            "all",
            "--exclude-checks",
            "unsupported_method,allow_header_conformance",
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
            str(reports),
        ],
        cwd=tmp_path,  # schemathesis keeps its cache (.schemathesis/) in the working directory
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    took = time.monotonic() - started
    output = run.stdout + run.stderr
    print(f"schemathesis took {took:.0f} s\n{output}")
    assert run.returncode == 0, f"schemathesis found problems (exit {run.returncode}):\n{output}"
    operations = sum(
        1
        for item in local["paths"].values()
        for method in item
        if method in ("get", "head", "post")
    )
    assert f"Selected: {operations}/{operations}" in output, output
    assert f"Tested: {operations}" in output, output
