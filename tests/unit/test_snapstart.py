"""SnapStart: the template turns it on for published versions only, the handlers register the
restore hooks, and after a restore `random` is reseeded (what else a restore drops, on a
container that served requests, is in tests/handlers/test_snapstart_restore.py). Where Lambda's
`snapshot_restore_py` is absent (here, `sam local`) the hooks module imports all the same and
registers nothing.
"""

from __future__ import annotations

import importlib
import random
import re
import sys
import types
from pathlib import Path

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
    """A fresh import of reauth.snapstart, whose hooks register at import: exactly one
    registration, whether or not an earlier test imported it (a reload of a module first
    imported here, under a fake runtime, would register them twice)."""
    sys.modules.pop("reauth.snapstart", None)
    return importlib.import_module("reauth.snapstart")


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
