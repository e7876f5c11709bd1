"""The pure tier: the domain, the pages, the adapters' own logic, the template's and the
repository's rules. No moto, no AWS client, no handler on a fake AWS: it runs in seconds.
Whatever needs those lives in tests/handlers (in process) or tests/integration (over HTTP).

Two guards keep it so: a test here asking for a fixture that starts AWS on moto fails before the
fixture runs, and a run of this tier alone fails if collecting it imported moto or boto3."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
AWS_FIXTURES = frozenset({"aws", "moto_server", "service_env", "functions"})
AWS_MODULES = ("moto", "boto3")


def _in_this_tier(item: pytest.Item) -> bool:
    return HERE in Path(str(item.path)).resolve().parents


def pytest_runtest_setup(item: pytest.Item) -> None:
    if not _in_this_tier(item):
        return
    wanted = sorted(AWS_FIXTURES & set(getattr(item, "fixturenames", ())))
    if wanted:
        pytest.fail(
            f"{item.nodeid} asks for {', '.join(wanted)}: the pure tier starts no AWS on moto "
            "(move the test to tests/handlers)",
            pytrace=False,
        )


def pytest_collection_finish(session: pytest.Session) -> None:
    if not session.items or not all(_in_this_tier(item) for item in session.items):
        return  # other tiers were collected too: they may import moto
    loaded = [name for name in AWS_MODULES if name in sys.modules]
    if loaded:
        raise pytest.UsageError(
            f"collecting the pure tier imported {', '.join(loaded)}: import it inside the "
            "fixture that needs it, in tests/conftest.py (handler tiers only)"
        )
