"""What customers send on WhatsApp beyond text, as the agent desktop shows it, in real
headless chromium: a reaction sits on the message it refers to (and goes when taken back),
an edit shows the new caption marked "edited", a location is an OpenStreetMap link (no
embedded third-party map), a contact card shows its name, phone and email. The payloads are
the recorded ones of tests/channels/fixtures/whatsapp, posted signed to the real webhook."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select

from tests.conftest import Running, World, add_endpoint, set_capacity, take_thread
from tests.e2e.conftest import sign_in
from tests.fakes.meta import PHONE_NUMBER_ID, FakeGraph, running_fake_graph
from threadline.threads.models import ThreadEvent

pytestmark = pytest.mark.browser

FIXTURES = Path(__file__).parents[1] / "channels" / "fixtures" / "whatsapp"


def recorded(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return payload


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    async with running_fake_graph() as fake:
        yield fake


async def test_reactions_edits_locations_and_contact_cards_on_the_desktop(
    server: Running, world: World, graph: FakeGraph, browser: Browser
) -> None:
    body = graph.endpoint("whatsapp", PHONE_NUMBER_ID, "WhatsApp", world.queues["general"].id)
    await add_endpoint(server, **body)
    await set_capacity(server, world.agents["rui"], chat=2, voice=1, whatsapp=3)
    hook = f"{server.base_url}/webhooks/whatsapp/{PHONE_NUMBER_ID}"
    # the image the customer later edits; the reactions name it (the same wamid in Meta's
    # examples), and the customer is named by their WhatsApp profile
    image = recorded("image")
    assert (await graph.notify(hook, image)).status_code == 200
    async with server.ctx.db.sessions() as db:
        first = await db.scalar(select(ThreadEvent).where(ThreadEvent.kind == "message"))
    assert first is not None
    rui = await take_thread(server, "rui@example.com", first.thread_id)
    await rui.aclose()

    context = await browser.new_context(viewport={"width": 1400, "height": 860}, locale="pt-PT")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await sign_in(page, server.base_url, "rui@example.com")
    await page.get_by_test_id("thread-item").first.click()
    timeline = page.get_by_test_id("timeline")
    await expect(timeline.locator("[data-kind=message]")).to_contain_text("This is a caption")
    await expect(page.get_by_test_id("profile")).to_contain_text("Sheena Nelson")

    # live: the reaction lands on the image, the edit replaces its caption
    reaction = recorded("reaction")
    reaction["entry"][0]["changes"][0]["value"]["messages"][0]["reaction"]["message_id"] = (
        first.provider_msg_id
    )
    assert (await graph.notify(hook, reaction)).status_code == 200
    bubble = timeline.locator("[data-kind=message]").first
    await expect(bubble.get_by_test_id("reactions")).to_have_text("\U0001f44d")
    assert (await graph.notify(hook, recorded("edit"))).status_code == 200
    await expect(bubble.locator(".bubble-body")).to_have_text("The blue one, not the red one")
    await expect(bubble.get_by_test_id("edited")).to_contain_text("editada")  # Portuguese
    await expect(timeline.locator("[data-kind=reaction]")).to_have_count(0)
    await expect(timeline.locator("[data-kind=edit]")).to_have_count(0)

    # a location is a map link that embeds nothing; a contact card shows who it is
    for name in ("location", "batch_with_contacts"):
        assert (await graph.notify(hook, recorded(name))).status_code == 200
    place = timeline.get_by_test_id("location")
    await expect(place).to_contain_text("Main Street Beach, 1 Hacker Way, Menlo Park, CA 94025")
    link = place.get_by_role("link", name="Abrir mapa")
    href = await link.get_attribute("href")
    assert href is not None and href.startswith("https://www.openstreetmap.org/?mlat=37.48325")
    assert await link.get_attribute("rel") == "noopener noreferrer"
    assert await page.locator("iframe").count() == 0
    card = timeline.get_by_test_id("contact-card")
    await expect(card).to_contain_text("Barbara J. Johnson")
    await expect(card).to_contain_text("+1 (415) 555-0829 · MOBILE")
    await expect(card).to_contain_text("bjohnson@socialtsunami.com")

    # the reaction taken back leaves the image without it
    removed = recorded("reaction_removed")
    removed["entry"][0]["changes"][0]["value"]["messages"][0]["reaction"]["message_id"] = (
        first.provider_msg_id
    )
    assert (await graph.notify(hook, removed)).status_code == 200
    await expect(bubble.get_by_test_id("reactions")).to_be_hidden()

    # and after a reload (the timeline fetched, not pushed) it reads the same
    await page.reload()
    await page.get_by_test_id("thread-item").first.click()
    bubble = timeline.locator("[data-kind=message]").first
    await expect(bubble.locator(".bubble-body")).to_have_text("The blue one, not the red one")
    await expect(bubble.get_by_test_id("reactions")).to_be_hidden()
    await expect(timeline.get_by_test_id("contact-card")).to_have_count(1)
    assert errors == []
    await context.close()
