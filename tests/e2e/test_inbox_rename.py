"""A supervisor renames and recolours a label and renames a macro in the desktop's "Replies,
labels and macros" dialog, in real headless chromium and in Portuguese: a name another label
or macro has is refused beside the field, in the page's language; the new name is what the
lists and the thread's label picker show."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

import threadline.web
from tests.conftest import Running, World, login
from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.browser

STRINGS = Path(threadline.web.__file__).parent / "locales" / "inbox" / "pt.json"


async def test_a_supervisor_renames_a_label_and_a_macro(
    server: Running, world: World, browser: Browser
) -> None:
    t = json.loads(STRINGS.read_text("utf-8"))
    nikos = await login(server, "nikos@example.com")
    try:
        await nikos.post("/api/v1/labels", json={"name": "Cards", "colour": "#6b7280"})
        await nikos.post("/api/v1/labels", json={"name": "Fraud", "colour": "#dc2626"})
        for name in ("Card on its way", "Close"):
            macro = {"name": name, "then": "resolve", "resolve_reason": "answered"}
            assert (await nikos.post("/api/v1/macros", json=macro)).status_code == 201
    finally:
        await nikos.aclose()

    context = await browser.new_context(viewport={"width": 1400, "height": 900}, locale="pt-PT")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await sign_in(page, server.base_url, "nikos@example.com")
    await page.get_by_test_id("manage-open").click()
    dialog = page.get_by_test_id("manage")
    await expect(dialog).to_be_visible()

    # the label: a taken name is refused beside the field, then renamed and recoloured
    cards = dialog.get_by_test_id("label-row").filter(has_text="Cards")
    await cards.get_by_role("button", name=t["edit"]).click()
    name = dialog.get_by_test_id("label-name")
    await expect(name).to_have_value("Cards")
    await expect(name).to_be_focused()
    await expect(dialog.get_by_text(t["rename_label"])).to_be_visible()
    await name.fill("fraud")
    await dialog.get_by_test_id("label-save").click()
    await expect(dialog.get_by_test_id("label-name-error")).to_have_text(t["label_name_taken"])
    await expect(name).to_have_attribute("aria-invalid", "true")
    await expect(dialog.get_by_test_id("macro-name-error")).to_have_text("")  # not the macro's
    await name.fill("Card delivery")
    await dialog.get_by_test_id("label-colour").fill("#1f5fbf")
    await dialog.get_by_test_id("label-save").click()
    renamed = dialog.get_by_test_id("label-row").filter(has_text="Card delivery")
    await expect(renamed).to_be_visible()
    await expect(renamed.locator(".swatch")).to_have_css("background-color", "rgb(31, 95, 191)")
    await expect(dialog.get_by_test_id("label-row").filter(has_text="Cards")).to_have_count(0)
    await expect(name).to_have_value("")  # the form is for a new label again
    await expect(dialog.get_by_text(t["new_label"])).to_be_visible()

    # the macro: the same, beside its own name field
    row = dialog.get_by_test_id("macro-row").filter(has_text="Card on its way")
    await row.get_by_role("button", name=t["edit"]).click()
    await expect(dialog.get_by_test_id("macro-editing")).to_be_visible()
    macro_name = dialog.get_by_test_id("macro-name")
    await expect(macro_name).to_have_value("Card on its way")
    await macro_name.fill("CLOSE")
    await dialog.get_by_test_id("macro-save").click()
    await expect(dialog.get_by_test_id("macro-name-error")).to_have_text(t["macro_name_taken"])
    await expect(dialog.get_by_test_id("label-name-error")).to_have_text("")
    await macro_name.fill("Card sent")
    await dialog.get_by_test_id("macro-save").click()
    await expect(dialog.get_by_test_id("macro-row").filter(has_text="Card sent")).to_be_visible()
    await expect(dialog.get_by_test_id("macro-row")).to_have_count(2)
    await expect(dialog.get_by_test_id("macro-editing")).to_be_hidden()

    # saved on the server, as renamed
    nikos = await login(server, "nikos@example.com")
    try:
        labels = {x["name"]: x["colour"] for x in (await nikos.get("/api/v1/labels")).json()}
        assert labels == {"Card delivery": "#1f5fbf", "Fraud": "#dc2626"}
        macros = {m["name"]: m for m in (await nikos.get("/api/v1/macros")).json()}
        assert set(macros) == {"Card sent", "Close"}
        assert macros["Card sent"]["then"] == "resolve"  # the rest of it kept
        assert macros["Card sent"]["resolve_reason"] == "answered"
    finally:
        await nikos.aclose()
    assert errors == []
    await context.close()
