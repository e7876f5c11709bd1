"""The two functions' handler modules, loaded as Lambda loads them, and the container's service
rebuilt through the composition root's public seams (a moved clock, short Dwolla timeouts)."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType
from typing import Any

from tests.support.constants import ROOT


def load_function(name: str) -> ModuleType:
    """functions/<name>/app.py as its own module (both functions' modules are called app)."""
    module_name = f"function_{name}_app"
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "functions" / name / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


class Functions:
    """ApiFunction's and CallbackFunction's modules, on the AWS resources `resources` names."""

    def __init__(self, session, resources) -> None:
        self.session = session
        self.resources = resources
        self.api = load_function("api")
        self.callback = load_function("callback")


def new_container() -> None:
    """Forget everything the runtime built, as a fresh Lambda container would."""
    from reauth import runtime

    runtime.reset()


def serve(**overrides: Any):
    """From now on the handlers use a service built with `runtime.build`'s overrides (clock,
    dwolla_timeout, dwolla_retry, dwolla_sleep, sweep_batch_size). Returns it."""
    from reauth import runtime

    built = runtime.build(**overrides)
    runtime.use(built)
    return built
