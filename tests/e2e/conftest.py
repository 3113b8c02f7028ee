"""Browser fixtures: Debian's chromium driven by Playwright's async API.

The `server` fixture runs uvicorn inside the test's event loop, so the sync Playwright API
would deadlock; everything here is async. Never `playwright install`: we use /usr/bin/chromium.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.conftest import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """A headless chromium for one test (its event loop is the test's)."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


async def sign_in(page: Page, base_url: str, email: str, password: str = PASSWORD) -> None:
    """Sign in through the login form and wait for the desktop. By the fields' ids: the form
    speaks the browser's language (tests/e2e/test_login.py)."""
    await page.goto(f"{base_url}/login")
    await page.locator("#email").fill(email)
    await page.locator("#password").fill(password)
    await page.get_by_test_id("login-submit").click()
    await page.wait_for_url("**/desktop")
