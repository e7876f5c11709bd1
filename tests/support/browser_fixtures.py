"""Pytest fixtures for in-browser tests. Import them into the test module that needs them:

    from tests.support.browser_fixtures import browser, phone  # noqa: F401

(`browser` there shadows the flow helpers' `browser` fixture of the conftest files.)

Without Chromium or Playwright every test using them skips with a reason naming Chromium;
tests/conftest.py turns that skip into a failure when REQUIRE_E2E=1 (CI).
"""

from __future__ import annotations

import pytest

from tests.support.browser import chromium_unavailable, launch_chromium, mobile_context


@pytest.fixture(scope="module")
def browser():
    """The system Chromium under Playwright, one per test module: closed when the module ends,
    so that another module's own Playwright can start (one thread runs one Playwright at a time;
    pytest-randomly shuffles the modules, keeping each one's tests together)."""
    why = chromium_unavailable()
    if why:
        pytest.skip(why)
    with launch_chromium() as chromium:
        yield chromium


@pytest.fixture
def phone(browser):
    """A fresh phone-sized browser context (390x844 at 2x, touch), closed after the test."""
    context = mobile_context(browser)
    yield context
    context.close()
