"""The intents page (/admin/intents) in real headless chromium: an admin uploads a CSV of
examples in five languages, follows the training's progress until the held-out accuracy
shows, sees the per-intent table and tries a sentence; a bad file is refused with the
reason and line; an agent gets 403."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.conftest import Running, World
from tests.e2e.conftest import sign_in
from tests.integration.test_intents_admin import PHRASES, examples_csv
from threadline.config import Settings

pytestmark = pytest.mark.browser


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"intent_models_dir": tmp_path / "intents"})


async def _page(browser: Browser, server: Running, email: str, locale: str = "en-GB") -> Page:
    context = await browser.new_context(
        viewport={"width": 1280, "height": 900}, locale=locale, base_url=server.base_url
    )
    page = await context.new_page()
    await sign_in(page, server.base_url, email)
    return page


async def test_an_admin_trains_from_a_csv_and_sees_the_accuracy(
    server: Running, world: World, browser: Browser, tmp_path: Path
) -> None:
    page = await _page(browser, server, "admin@example.com")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # (the refused upload below is a 422 the console reports: that one is expected)
    page.on(
        "console",
        lambda m: (
            errors.append(m.text) if m.type == "error" and "status of 422" not in m.text else None
        ),
    )
    await page.goto("/admin/intents")
    await expect(page.get_by_role("heading", name="Intents", level=1)).to_be_visible()
    await expect(page.get_by_test_id("no-model")).to_be_visible()

    bad = tmp_path / "bad.csv"
    bad.write_text("text,category\nhello,greet\nbye,\n", encoding="utf-8")
    await page.get_by_test_id("file").set_input_files(bad)
    await page.get_by_test_id("train").click()
    await expect(page.get_by_test_id("notice")).to_have_text(
        "The file was refused: the CSV, line 3: empty category"
    )

    good = tmp_path / "examples.csv"
    good.write_bytes(examples_csv())
    await page.get_by_test_id("file").set_input_files(good)
    await page.get_by_test_id("train").click()
    state = page.get_by_test_id("training-state")
    await expect(state).to_have_text("Training", timeout=10_000)  # then live progress
    await expect(page.get_by_test_id("progress")).to_be_visible()
    await expect(state).to_have_text("Done", timeout=120_000)
    await expect(page.get_by_test_id("training-result")).to_contain_text("The new model is in use")

    model = page.get_by_test_id("model")
    await expect(model.get_by_test_id("model-source")).to_have_text("Trained for this organisation")
    await expect(model.get_by_test_id("model-examples")).to_have_text("60")
    await expect(model.get_by_test_id("model-intents")).to_have_text("3")
    await expect(model.get_by_test_id("model-accuracy")).to_have_text(re.compile(r"^\d+\.\d %$"))
    table = page.get_by_test_id("intent-table")
    await expect(table.locator("tbody tr")).to_have_count(len(PHRASES))
    await expect(table.locator("tbody tr").first).to_contain_text("card_arrival")

    await page.get_by_test_id("try-text").fill("моя карта не пришла")
    await page.get_by_test_id("try").click()
    # the first sentence loads the model and the sentence encoder in the server: seconds
    await expect(page.get_by_test_id("tried-intent")).to_have_text("card_arrival", timeout=30_000)
    await expect(page.get_by_test_id("tried-clarify")).to_be_visible()
    assert errors == []

    agent = await _page(browser, server, "rui@example.com")
    refused = await agent.goto("/admin/intents")
    assert refused is not None and refused.status == 403


async def test_the_page_speaks_the_admins_language(
    server: Running, world: World, browser: Browser
) -> None:
    page = await _page(browser, server, "admin@example.com", locale="el-GR")
    await page.goto("/admin/intents")
    await expect(page.get_by_role("heading", name="Προθέσεις", level=1)).to_be_visible()
    await expect(page.get_by_test_id("train")).to_have_text("Ανέβασμα και εκπαίδευση")
