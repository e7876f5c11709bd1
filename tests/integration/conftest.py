"""Integration: the handlers in this process, everything they talk to over real HTTP on
127.0.0.1 — moto server (DynamoDB, EventBridge, Secrets Manager, SQS) and the Dwolla sandbox."""

from __future__ import annotations

import uuid

import pytest

from local import servers
from tests.support.aws import dwolla_secret_value, use_fake_credentials
from tests.support.constants import LINK_SECRET


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    port = servers.free_port()
    process = servers.start_moto_server(
        "127.0.0.1", port, tmp_path_factory.mktemp("moto") / "moto.log"
    )
    yield f"http://127.0.0.1:{port}"
    servers.stop(process)


@pytest.fixture
def aws(moto_server, monkeypatch):
    """Overrides tests/conftest.py's fixture: the same resources, on moto server over HTTP."""
    import boto3

    from local.provision import provision

    use_fake_credentials(monkeypatch)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    session = boto3.session.Session()
    resources = provision(
        session,
        prefix=f"it-{uuid.uuid4().hex[:8]}",
        dwolla=dwolla_secret_value(),
        link_secret=LINK_SECRET,
    )
    return session, resources
