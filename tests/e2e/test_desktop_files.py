"""Files and recordings on the agent desktop, in real headless chromium: a customer's
emailed photo shows as a thumbnail that opens larger in a dialog (by mouse or keyboard, Esc
closes it), a PDF as a tile with its name, size and a download link; a call's recording,
fetched from the fake Twilio, plays in an audio player from our server; a customer's
WhatsApp photo, kept from the fake Graph API, shows as a thumbnail too, and one Meta would
not hand over stays a tile without a link."""

from __future__ import annotations

import asyncio
import re
import smtplib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Locator, Page, expect

from tests.conftest import TEST_SECRET, Running, World, add_endpoint, login, set_capacity
from tests.e2e.conftest import sign_in
from tests.e2e.test_desktop import _page
from tests.fakes.meta import PHONE_NUMBER_ID, FakeGraph, running_fake_graph, whatsapp_message
from tests.fakes.twilio import FakeTwilio, running_fake_twilio
from tests.integration.test_email_inbound import MAILBOX, add_mailbox
from tests.integration.test_thread_files import PDF, PNG, _email_with_files
from tests.integration.test_voice import CALLER, NUMBER, call_into_queue, url, voice_endpoint
from threadline.config import Settings
from threadline.simulated.http_server import free_port

pytestmark = pytest.mark.browser


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=TEST_SECRET,
        offer_timeout_s=20,
        timer_poll_s=0.05,
        email_smtp_port=free_port(),
        email_attachments_dir=tmp_path / "files",
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with running_fake_twilio() as fake:
        yield fake


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    async with running_fake_graph() as fake:
        yield fake


async def _loaded(page: Page, image: Locator) -> None:
    """Wait until the browser has decoded the image (it came from our server)."""
    handle = await image.element_handle()
    await page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=handle)


async def _available(page: Page, server: Running) -> None:
    await sign_in(page, server.base_url, "rui@example.com")
    await expect(page.locator(".conn")).to_have_text("Live")
    async with page.expect_response("**/api/v1/agents/me/presence"):
        await page.get_by_label("Presence").select_option("available")


async def test_an_emailed_photo_opens_larger_and_a_pdf_downloads(
    server: Running, world: World, browser: Browser
) -> None:
    await set_capacity(server, world.agents["rui"], chat=2, voice=1, email=2)
    await add_mailbox(server.ctx, world)
    context, page, errors = await _page(browser)
    await _available(page, server)
    port = server.ctx.settings.email_smtp_port
    assert port is not None

    def send() -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail("ana@example.com", [MAILBOX], _email_with_files())

    await asyncio.to_thread(send)
    offer = page.get_by_test_id("offer")
    await expect(offer).to_be_visible(timeout=10_000)
    await offer.get_by_role("button", name="Accept").click()

    thumb = page.get_by_test_id("file-thumb")
    await expect(thumb).to_have_count(1)  # the PNG; the SVG is a file to download
    image = thumb.locator("img")
    await expect(image).to_have_attribute("loading", "lazy")
    await _loaded(page, image)
    assert await thumb.get_attribute("aria-label") == "Open photo.png larger"

    await thumb.click()
    preview = page.get_by_role("dialog", name="photo.png")
    await expect(preview).to_be_visible()
    big = preview.get_by_test_id("file-preview-image")
    await _loaded(page, big)
    await page.keyboard.press("Escape")
    await expect(preview).to_be_hidden()
    await expect(thumb).to_be_focused()  # back where the agent was

    await page.keyboard.press("Enter")  # the keyboard opens it as well
    await expect(preview).to_be_visible()
    await preview.get_by_test_id("file-preview-close").click()
    await expect(preview).to_be_hidden()

    tiles = page.get_by_test_id("file")
    pdf = tiles.filter(has_text="statement.pdf")
    await expect(pdf.get_by_test_id("file-size")).to_have_text(
        re.compile(rf"^{len(PDF)}\s?(byte|B)")
    )
    download_link = pdf.get_by_test_id("file-download")
    await expect(download_link).to_have_attribute("download", "")
    href = await download_link.get_attribute("href")
    assert href and href.startswith("/api/v1/threads/")
    async with page.expect_download() as downloading:
        await download_link.click()
    download = await downloading.value
    assert download.suggested_filename == "statement.pdf"
    saved = await download.path()
    assert await asyncio.to_thread(Path(saved).read_bytes) == PDF
    svg = tiles.filter(has_text="logo.svg")
    await expect(svg.get_by_test_id("file-download")).to_be_visible()
    await expect(svg.locator("img")).to_have_count(0)  # never rendered as an image here

    src = await image.get_attribute("src")
    photo = await page.request.get(f"{server.base_url}{src}")
    assert photo.status == 200 and await photo.body() == PNG
    assert errors == []
    await context.close()


async def test_a_call_recording_plays_on_the_desktop(
    server: Running, world: World, browser: Browser, twilio: FakeTwilio
) -> None:
    admin = await login(server, "admin@example.com")
    created = await admin.post("/api/v1/endpoints", json=voice_endpoint(world, twilio, record=True))
    assert created.status_code == 201, created.text
    await admin.aclose()
    context, page, errors = await _page(browser)
    await _available(page, server)
    await call_into_queue(server, twilio, "CA80", ("1", "2"))
    offer = page.get_by_test_id("offer")
    await expect(offer).to_be_visible(timeout=10_000)
    await offer.get_by_role("button", name="Accept").click()
    await expect(page.locator("li[data-kind='call']")).to_have_count(1)

    recording_sid, recording_url = twilio.record(seconds=3)
    callback = {
        "RecordingSid": recording_sid,
        "RecordingUrl": recording_url,
        "RecordingStatus": "completed",
        "RecordingDuration": "3",
    }
    done = await twilio.call_webhook(url(server, "/recording"), "CA80", CALLER, NUMBER, **callback)
    assert done.status_code == 200
    player = page.get_by_test_id("recording-player")
    await expect(player).to_be_visible(timeout=10_000)
    await expect(page.locator("li[data-kind='call_recording']")).to_contain_text(
        "Call recording (0:03)"
    )
    await expect(player).to_have_attribute("controls", "")
    # the browser reads the audio from our server: it knows its length
    handle = await player.element_handle()
    await page.wait_for_function("a => a.readyState >= 1 && a.duration > 2", arg=handle)
    assert errors == []
    await context.close()


async def test_a_whatsapp_photo_kept_from_meta_shows_as_a_thumbnail(
    server: Running, world: World, browser: Browser, graph: FakeGraph
) -> None:
    body = graph.endpoint("whatsapp", PHONE_NUMBER_ID, "WhatsApp", world.queues["general"].id)
    await add_endpoint(server, **body)
    await set_capacity(server, world.agents["rui"], chat=2, voice=1, whatsapp=3)
    context, page, errors = await _page(browser)
    await _available(page, server)
    hook = f"{server.base_url}/webhooks/whatsapp/{PHONE_NUMBER_ID}"
    media_id = graph.add_media(PNG, "image/png")
    kept = whatsapp_message(
        "wamid.P1", "351912345678", "image", id=media_id, mime_type="image/png", caption="my card"
    )
    assert (await graph.notify(hook, kept)).status_code == 200
    offer = page.get_by_test_id("offer")
    await expect(offer).to_be_visible(timeout=10_000)
    await offer.get_by_role("button", name="Accept").click()

    thumb = page.get_by_test_id("file-thumb")
    await expect(thumb).to_have_count(1)
    await _loaded(page, thumb.locator("img"))  # served from our server, not from Meta
    assert await thumb.get_attribute("aria-label") == "Open image.png larger"

    # a media id Meta no longer knows: a tile with no link, the message there all the same
    gone = whatsapp_message(
        "wamid.P2", "351912345678", "image", id="99990000", mime_type="image/jpeg", caption="gone"
    )
    assert (await graph.notify(hook, gone)).status_code == 200
    tiles = page.get_by_test_id("file")
    await expect(tiles).to_have_count(2)
    await expect(tiles.nth(1)).to_have_attribute("data-kind", "file")
    await expect(tiles.nth(1).get_by_test_id("file-download")).to_be_hidden()
    await expect(thumb).to_have_count(1)
    assert errors == []
    await context.close()
