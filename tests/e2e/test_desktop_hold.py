"""The Hold button on a live call in a conference, in real headless chromium: the agent
accepts a call on a number with conferences, the fake Twilio dials their softphone into the
caller's conference, and Hold / Resume go through the Participants API; the button and the
timeline follow the conference's callbacks."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, expect

from tests.conftest import Running, World
from tests.e2e.conftest import sign_in
from tests.e2e.test_desktop import _page
from tests.fakes.twilio import FakeTwilio
from tests.integration.test_voice import call_into_queue, dialled, twilio
from tests.integration.test_voice_conference import conference_line

__all__ = ["conference_line", "twilio"]  # fixtures, imported for pytest

pytestmark = pytest.mark.browser


async def test_the_agent_holds_and_resumes_the_caller(
    server: Running,
    world: World,
    browser: Browser,
    twilio: FakeTwilio,
    conference_line: dict[str, Any],
) -> None:
    context, page, errors = await _page(browser)
    await sign_in(page, server.base_url, "rui@example.com")
    await expect(page.locator(".conn")).to_have_text("Live")
    async with page.expect_response("**/api/v1/agents/me/presence"):
        await page.get_by_label("Presence").select_option("available")

    await call_into_queue(server, twilio, "CA90", ("1", "1"))
    offer = page.get_by_test_id("offer")
    await expect(offer).to_be_visible(timeout=10_000)
    await offer.get_by_role("button", name="Accept").click()
    for _ in range(100):
        if await dialled(twilio, "CA90"):
            break
        await page.wait_for_timeout(100)
    conference = twilio.conference_of("CA90")
    assert conference is not None
    [leg] = [p for p in conference.participants.values() if p.call_sid != "CA90"]
    await twilio.answer_participant(leg.call_sid)

    hold = page.get_by_test_id("hold-call")
    await expect(hold).to_have_text("Hold", timeout=10_000)
    await hold.click()
    await expect(hold).to_have_text("Resume", timeout=10_000)
    await expect(hold).to_have_attribute("aria-pressed", "true")
    assert conference.participants["CA90"].hold
    await expect(page.get_by_text("The caller is on hold")).to_be_visible()
    await hold.click()
    await expect(hold).to_have_text("Hold", timeout=10_000)
    assert not conference.participants["CA90"].hold
    await expect(page.get_by_text("The caller is back from hold")).to_be_visible()
    assert errors == []
    await context.close()
