"""The test suite's own rules, checked like any other behaviour:

- nothing imports from a conftest.py (conftests only define fixtures; what tests share is in
  tests/support/),
- no test reaches into the product's private attributes (the composition root's public seams,
  `runtime.build(...)`, `runtime.boto_session()`, `runtime.reset()`, are there for that),
- the pure tier's conftest imports neither moto nor boto3,
- the reauth package's docstring lists every module it has, each with its purpose.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.constants import ROOT

TESTS = ROOT / "tests"
PRODUCT = [*(ROOT / "layers" / "reauth" / "reauth").glob("*.py"), *ROOT.glob("functions/*/app.py")]
CONFTEST_IMPORT = re.compile(r"^\s*(?:from|import)\s+(?:tests(?:\.\w+)*\.)?conftest\b", re.M)
PRIVATE_DEFINED = re.compile(r"(?:self\.|^\s*def |^)(_[a-z]\w*)\s*(?:[:=(]|\[)", re.M)
PRIVATE_USED = re.compile(r"(?<!self)\.(_[a-z]\w*)\b")


def _test_files() -> list[Path]:
    this = Path(__file__).resolve()
    return sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts and p != this)


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_no_test_imports_from_a_conftest():
    offenders = [_relative(p) for p in _test_files() if CONFTEST_IMPORT.search(p.read_text())]
    assert offenders == [], "import shared values and helpers from tests/support/ instead"


def _privates_defined(paths) -> set[str]:
    return {name for path in paths for name in PRIVATE_DEFINED.findall(path.read_text())}


def test_no_test_reaches_into_the_products_private_attributes():
    product_privates = _privates_defined(PRODUCT)
    support_privates = _privates_defined((TESTS / "support").glob("*.py"))
    found: dict[str, list[str]] = {}
    for path in _test_files():
        text = path.read_text()
        own = _privates_defined([path]) | support_privates
        used = set(PRIVATE_USED.findall(text)) & product_privates
        reached = sorted(used - own)
        if reached:
            found[_relative(path)] = reached
    assert found == {}, "use the composition root's public seams (reauth.runtime) instead"


def test_the_rule_sees_a_reach_in():
    product_privates = _privates_defined(PRODUCT)
    assert {"_db", "_timeout", "_token"} <= product_privates
    assert PRIVATE_USED.findall("runtime.service().ctx.repo._db") == ["_db"]
    assert PRIVATE_USED.findall("self._db") == []


def test_the_pure_tiers_conftest_imports_neither_moto_nor_boto3():
    text = (TESTS / "unit" / "conftest.py").read_text()
    assert not re.search(r"^\s*(?:from|import)\s+(?:moto|boto3|botocore)\b", text, re.M)
    shared = (TESTS / "conftest.py").read_text()
    top_level = [line for line in shared.splitlines() if re.match(r"(?:from|import) ", line)]
    assert not [line for line in top_level if re.search(r"\b(?:moto|boto3)\b", line)], (
        "tests/conftest.py is loaded by the pure tier too: import moto and boto3 in fixtures"
    )


def test_the_reauth_package_lists_every_module_with_its_purpose():
    package = ROOT / "layers" / "reauth" / "reauth"
    listed = set(re.findall(r"^  (\w+)\s+\S", (package / "__init__.py").read_text(), re.M))
    modules = {p.stem for p in package.glob("*.py") if p.stem != "__init__"}
    assert modules - listed == set(), "add the module to reauth/__init__.py's list"
    assert listed - modules == set(), "the list names a module that is gone"
