"""A real browser for the tests: Debian's Chromium, driven by Playwright (sync API).

`make browser` (local/browser_setup.sh) installs Chromium with apt; Playwright comes from
requirements-dev.txt. Playwright's own browser download is not used: `launch_chromium()` starts
the system `chromium` (CHROMIUM overrides the path) with `executable_path`, in a fresh profile
(Playwright's own temporary user-data dir, removed on close).

    with launch_chromium() as browser:
        context = mobile_context(browser)
        page = context.new_page()
        seen = watch(page)                # before the first goto
        page.goto(url)
        seen.assert_clean()               # no CSP violation, no console error, no page error
        screenshot(page, "start")         # docs/screenshots/start.png
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from local.browser import CHROMIUM_ARGS, chromium_path, chromium_unavailable, launch_chromium

__all__ = ["CHROMIUM_ARGS", "chromium_path", "chromium_unavailable", "launch_chromium"]

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Locator, Page

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"

PHONE = {  # a current mid-size phone, portrait
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "user_agent": (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/156.0.0.0 Mobile Safari/537.36"
    ),
    "locale": "en-US",
}


def mobile_context(browser: Browser, **overrides: Any) -> BrowserContext:
    """A fresh context (cookies, storage) that looks like a phone: 390x844 CSS px at 2x,
    touch, mobile viewport rules. `overrides` go to `browser.new_context` (e.g.
    color_scheme="dark", reduced_motion="reduce")."""
    return browser.new_context(**{**PHONE, **overrides})


def new_page(context: BrowserContext) -> tuple[Page, PageWatch]:
    """A page in `context`, already watched."""
    page = context.new_page()
    return page, watch(page)


# --- what a page did wrong --------------------------------------------------------------------

# Runs before any of the page's own scripts, in every document of the page, outside its CSP.
_CSP_LISTENER = """
window.addEventListener("securitypolicyviolation", function (event) {
  window.__reauthCspViolation({
    directive: event.violatedDirective,
    effective: event.effectiveDirective,
    blocked: event.blockedURI,
    source: event.sourceFile,
    line: event.lineNumber,
    sample: event.sample,
    document: event.documentURI
  });
}, true);
"""


@dataclass
class PageWatch:
    """Everything a page reported: console messages, uncaught errors, CSP violations."""

    console: list[tuple[str, str]] = field(default_factory=list)  # (type, text)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[dict] = field(default_factory=list)

    @property
    def console_errors(self) -> list[str]:
        return [text for kind, text in self.console if kind == "error"]

    def problems(self, ignore: tuple[str, ...] = ()) -> list[str]:
        """Every CSP violation and page error; console errors but those containing one of
        `ignore` (e.g. Chromium's "Failed to load resource: ... status of 503" for an answer
        that is meant to be a 503)."""
        return (
            [f"CSP violation: {v}" for v in self.csp_violations]
            + [
                f"console error: {text}"
                for text in self.console_errors
                if not any(expected in text for expected in ignore)
            ]
            + [f"page error: {text}" for text in self.page_errors]
        )

    def assert_clean(self, ignore: tuple[str, ...] = ()) -> None:
        problems = self.problems(ignore)
        assert not problems, "the page reported problems:\n  " + "\n  ".join(problems)


def watch(page: Page) -> PageWatch:
    """Start recording `page`'s console, uncaught errors and `securitypolicyviolation` events.
    Call it before the first navigation; it keeps recording across navigations."""
    seen = PageWatch()

    def on_console(message: ConsoleMessage) -> None:
        seen.console.append((message.type, message.text))

    page.on("console", on_console)
    page.on("pageerror", lambda error: seen.page_errors.append(str(error)))

    def on_violation(violation: dict) -> None:
        seen.csp_violations.append(violation)

    page.expose_function("__reauthCspViolation", on_violation)
    page.add_init_script(_CSP_LISTENER)
    return seen


# --- what a page looks like -------------------------------------------------------------------


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save `page` as docs/screenshots/<name>.png (the name may carry the .png)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / (name if name.endswith(".png") else f"{name}.png")
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path


# Colours as the page renders them: the element's text colour over the first opaque
# background among it and its ancestors (translucent layers blended on the way).
_COLOURS = """
(element) => {
  const parse = (value) => {
    const m = value.match(/rgba?\\(([^)]+)\\)/);
    if (!m) { return null; }
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const layers = [];
  for (let node = element; node; node = node.parentElement) {
    const bg = parse(getComputedStyle(node).backgroundColor);
    if (bg && bg[3] > 0) {
      layers.push(bg);
      if (bg[3] >= 1) { break; }
    }
  }
  let base = [255, 255, 255];
  for (const [r, g, b, a] of layers.reverse()) {
    base = [r * a + base[0] * (1 - a), g * a + base[1] * (1 - a), b * a + base[2] * (1 - a)];
  }
  const fg = parse(getComputedStyle(element).color);
  const text = [
    fg[0] * fg[3] + base[0] * (1 - fg[3]),
    fg[1] * fg[3] + base[1] * (1 - fg[3]),
    fg[2] * fg[3] + base[2] * (1 - fg[3]),
  ];
  return {text, background: base};
}
"""


def _luminance(rgb: list[float]) -> float:
    def channel(value: float) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(first: list[float], second: list[float]) -> float:
    """WCAG 2 contrast ratio of two sRGB colours (0-255 channels): 1.0 to 21.0."""
    light, dark = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def text_contrast(target: Locator) -> float:
    """The contrast of `target`'s (first match's) text against what it is drawn on."""
    colours = target.first.evaluate(_COLOURS)
    return contrast_ratio(colours["text"], colours["background"])


def parse_colour(value: str) -> list[float]:
    """`rgb(r, g, b)` / `rgba(r, g, b, a)` (getComputedStyle's form) as [r, g, b, a]."""
    numbers = [float(n) for n in re.findall(r"[-+]?[0-9]*\.?[0-9]+", value)]
    if not value.startswith("rgb") or len(numbers) not in (3, 4):
        raise ValueError(f"not an rgb() colour: {value!r}")
    return numbers if len(numbers) == 4 else [*numbers, 1.0]


def focus_indicator(page: Page) -> dict:
    """How the focused element shows focus: its outline (style, width in px, colour) and
    whether it matches :focus-visible."""
    return page.evaluate(
        """() => {
          const el = document.activeElement;
          const style = getComputedStyle(el);
          return {
            tag: el.tagName.toLowerCase(),
            text: (el.textContent || "").trim(),
            focusVisible: el.matches(":focus-visible"),
            outlineStyle: style.outlineStyle,
            outlineWidth: parseFloat(style.outlineWidth) || 0,
            outlineColor: style.outlineColor,
          };
        }"""
    )
