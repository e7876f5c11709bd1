"""SnapStart: the template turns it on for published versions only, the handlers register the
restore hooks, and after a restore nothing from before the snapshot is reused: not the Dwolla
connection pool, not the Dwolla access token, not the cached secret, not the boto3 session, not
the state of `random`. Where Lambda's `snapshot_restore_py` is absent (here, `sam local`) the
hooks module imports all the same and registers nothing.
"""

from __future__ import annotations

import importlib
import random
import re
import sys
import types
from pathlib import Path

import pytest

from local.provision import load_template

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = {
    name: resource
    for name, resource in load_template()["Resources"].items()
    if resource["Type"] == "AWS::Serverless::Function"
}


# ---- the template -----------------------------------------------------------------------------
def test_snapstart_is_a_parameter_off_by_default():
    """Off unless asked for: `sam local` and a plain deploy behave as before."""
    parameter = load_template()["Parameters"]["SnapStart"]
    assert parameter["AllowedValues"] == ["None", "PublishedVersions"]
    assert parameter["Default"] == "None"


def test_every_function_gets_snapstart_on_a_published_version():
    template = load_template()
    function_globals = template["Globals"]["Function"]
    assert function_globals["SnapStart"] == {"ApplyOn": {"Ref": "SnapStart"}}
    # SnapStart applies to published versions: SAM publishes one per deploy behind this alias
    assert function_globals["AutoPublishAlias"] == "live"
    assert function_globals["VersionDeletionPolicy"] == "Delete"
    # ... when anything of the function changes, or the layer that holds the domain code: else
    # the alias would keep serving the old layer after a deploy of new domain code
    assert template["Resources"]["ReauthLayer"]["Properties"]["PublishLambdaVersion"] is True
    runtime = function_globals["Runtime"]
    assert re.fullmatch(r"python3\.(\d+)", runtime) and int(runtime.split(".")[1]) >= 12, runtime
    for name, function in FUNCTIONS.items():
        props = function["Properties"]
        assert "SnapStart" not in props and "AutoPublishAlias" not in props, name
        assert props["AutoPublishAliasAllProperties"] is True, name  # (not in Globals: cfn-lint)
        # SAM would use it INSTEAD of the code's hash: new code would publish no new version
        assert "AutoPublishCodeSha256" not in props, name


def test_every_handler_registers_the_hooks():
    for function in FUNCTIONS.values():
        source = (ROOT / function["Properties"]["CodeUri"] / "app.py").read_text()
        assert re.search(r"^from reauth import [\w, ]*\bsnapstart\b", source, re.M), function


# ---- registering -----------------------------------------------------------------------------
def _reload_snapstart():
    import reauth.snapstart

    return importlib.reload(reauth.snapstart)


def test_without_lambdas_snapstart_runtime_the_module_imports_and_registers_nothing(monkeypatch):
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import fails: ImportError
    snapstart = _reload_snapstart()
    assert snapstart.registered is False
    assert snapstart.register() is False


def test_with_lambdas_snapstart_runtime_both_hooks_are_registered(monkeypatch):
    """`snapshot_restore_py` as Lambda's Python runtime has it: register_before_snapshot and
    register_after_restore take the callable (and its arguments)."""
    registry: dict[str, list] = {"before": [], "after": []}
    fake = types.ModuleType("snapshot_restore_py")
    fake.register_before_snapshot = lambda f, *a, **k: registry["before"].append(f) or f
    fake.register_after_restore = lambda f, *a, **k: registry["after"].append(f) or f
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", fake)
    snapstart = _reload_snapstart()
    assert snapstart.registered is True
    assert registry == {"before": [snapstart.before_snapshot], "after": [snapstart.after_restore]}
    monkeypatch.delitem(sys.modules, "snapshot_restore_py")
    _reload_snapstart()


# ---- what a restore drops --------------------------------------------------------------------
class SecretReads:
    """Counts Secrets Manager reads on the container's boto3 session."""

    def __init__(self) -> None:
        self.count = 0

    def watch(self) -> SecretReads:
        from reauth import runtime

        runtime.boto_session().events.register("before-parameter-build", self)
        return self

    def __call__(self, model, **_) -> None:
        if model.name == "GetSecretValue":
            self.count += 1


def _warm(dwolla_admin) -> tuple:
    """A container that served a request: a Dwolla token minted, a connection pooled, the secret
    cached. Returns the service, its Dwolla client and the secret reads seen."""
    from reauth import runtime

    exchange = dwolla_admin.seed_exchange("mx")["id"]
    reads = SecretReads().watch()
    service = runtime.service()
    client = service.ctx.dwolla
    for _ in range(2):  # the second call reuses all three
        client.get_exchange(exchange)
    assert client.stats.token_mints == 1 and reads.count == 1
    assert client._pool.pools, "no connection pooled"
    return service, client, reads, exchange


@pytest.mark.parametrize("hook", ["after_restore", "before_snapshot"])
def test_a_restore_drops_the_pool_the_token_and_the_secret_and_rebuilds_them(
    service_env, dwolla, hook
):
    from reauth import runtime, snapstart

    service, client, reads, exchange = _warm(dwolla)
    session, settings = runtime.boto_session(), runtime.config()

    getattr(snapstart, hook)()

    assert runtime.boto_session() is not session  # its clients' connection pools with it
    assert runtime.config() is not settings
    reads_now = SecretReads().watch()
    rebuilt = runtime.service()
    assert rebuilt is not service
    fresh = rebuilt.ctx.dwolla
    assert fresh is not client and fresh._pool is not client._pool and not fresh._pool.pools
    assert fresh.stats.token_mints == 0
    fresh.get_exchange(exchange)
    assert fresh.stats.token_mints == 1, "the token was not minted again"
    assert reads_now.count == 1, "the secret was not read again"
    assert reads.count == 1  # nothing more went through the old session


def test_a_restore_drops_the_relay_too(service_env):
    from reauth import runtime, snapstart

    relay = runtime.relay()
    snapstart.after_restore()
    assert runtime.relay() is not relay


def test_after_a_restore_random_is_reseeded():
    """Every container restored from one snapshot starts with the same `random` state; the
    Dwolla retries' jitter must not fire in step across them."""
    from reauth import runtime, snapstart

    random.seed(20261201)
    snapshot_value = random.random()
    random.seed(20261201)  # the state the snapshot holds
    snapstart.after_restore()
    assert random.random() != snapshot_value
    runtime.reset()
