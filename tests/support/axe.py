"""axe-core in the in-browser tests: the accessibility checker, run on the page as it is.

`make browser` (local/axe_setup.sh) installs axe-core from npm, one pinned version checked
against its sha512 (local/axe/package-lock.json), into .cache/axe/ (outside git).

    from tests.support.axe import assert_accessible
    page.goto(url)
    assert_accessible(page, "start, es, 320 px")   # fails listing what axe found

How it gets in: `page.evaluate` of axe.min.js's source. DevTools' evaluation is not a script the
document loads, so the page's own strict CSP (no inline script without its nonce) does not block
it and stays in force: no `bypass_csp` context, no added `<script>` element, no header changed.
axe therefore sees exactly the document the customer gets: the nonce'd style applied, the
nonce'd scripts run (or blocked) as the service's CSP says. (axe-core itself needs no `eval`.)

Rules: WCAG 2.0 and 2.1, levels A and AA, plus axe's best practices. `axe_violations` returns
what axe reports as violations; `describe` turns them into lines a failure can show (rule id,
impact, the elements' CSS targets, axe's summary of how to fix each, the help URL's rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Frame, Page

ROOT = Path(__file__).resolve().parents[2]
AXE_SCRIPT = ROOT / ".cache" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice")

# Runs axe on the document (not into iframes: on the service's pages the only frame is Plaid
# Link's, which is the partner's page, not ours) and returns only what a report needs.
_RUN = """
async (tags) => {
  const results = await window.axe.run(document, {
    runOnly: {type: "tag", values: tags},
    resultTypes: ["violations"],
    iframes: false,
  });
  return {
    version: window.axe.version,
    violations: results.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({
        target: n.target.map(String).join(" "),
        summary: n.failureSummary || "",
      })),
    })),
  };
}
"""


@dataclass(frozen=True)
class Violation:
    rule: str
    impact: str
    help: str
    nodes: tuple[tuple[str, str], ...]  # (CSS target, axe's summary of what to fix)

    def __str__(self) -> str:
        lines = [f"{self.rule} ({self.impact}): {self.help}"]
        for target, summary in self.nodes:
            lines.append(f"    at {target}")
            lines += [f"      {line.strip()}" for line in summary.splitlines() if line.strip()]
        return "\n".join(lines)


def axe_unavailable() -> str | None:
    """Why axe cannot run here (the reason names axe-core: under REQUIRE_E2E=1
    tests/conftest.py turns such a skip into a failure), or None."""
    if not AXE_SCRIPT.is_file():
        return f"axe-core not available: no {AXE_SCRIPT.relative_to(ROOT)} (run make browser)"
    return None


@cache
def axe_source() -> str:
    return AXE_SCRIPT.read_text(encoding="utf-8")


def axe_violations(page: Page | Frame) -> list[Violation]:
    """axe's violations on `page` as rendered now (axe is added to the document once)."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    found = page.evaluate(_RUN, list(TAGS))
    return [
        Violation(
            rule=v["id"],
            impact=v["impact"] or "unknown",
            help=v["help"],
            nodes=tuple((n["target"], n["summary"]) for n in v["nodes"]),
        )
        for v in found["violations"]
    ]


def describe(violations: list[Violation]) -> str:
    return "\n".join(str(v) for v in violations)


def assert_accessible(page: Page | Frame, where: str = "") -> None:
    """axe finds nothing on `page`; else the failure lists every violation, where it is and
    what to fix."""
    violations = axe_violations(page)
    label = f" on {where}" if where else ""
    assert not violations, f"axe-core found {len(violations)} violation(s){label}:\n" + describe(
        violations
    )
