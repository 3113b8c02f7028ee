"""An agent edits a customer's email and phone identities on the customer page, in real
headless chromium, in Portuguese, on a phone (390x844) and a desktop screen: a national
number is read in the organisation's region; a changed phone loses the old one's
verification; another customer's email is refused beside the field, naming them, with a
merge offered (and done); a bad address is refused beside the field; a phone is removed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.async_api import Browser, Dialog, expect

import threadline.web
from tests.conftest import Running, World
from tests.e2e.conftest import sign_in
from threadline.customers.models import Customer
from threadline.customers.services import add_identity
from threadline.orgs.models import Organization

pytestmark = pytest.mark.browser

STRINGS = Path(threadline.web.__file__).parent / "locales" / "customer_profile" / "pt.json"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


async def _seed(server: Running, world: World) -> tuple[str, str]:
    async with server.ctx.uow() as uow:
        org = await uow.session.get(Organization, world.org_id)
        assert org is not None
        org.phone_region = "PT"
        marta = Customer(org_id=world.org_id, name="Marta Silva")
        joana = Customer(org_id=world.org_id, name="Joana Reis")
        uow.session.add_all([marta, joana])
        await uow.session.flush()
        await add_identity(uow.session, marta, "phone", "+351912345678", verified=True)
        await add_identity(uow.session, joana, "email", "joana@example.com", verified=False)
        return marta.id, joana.id


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
async def test_an_agent_edits_the_customers_email_and_phone(
    server: Running, world: World, browser: Browser, viewport: dict[str, int]
) -> None:
    t = json.loads(STRINGS.read_text("utf-8"))
    marta, joana = await _seed(server, world)
    context = await browser.new_context(viewport=viewport, locale="pt-PT")  # type: ignore[arg-type]
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    page.on("dialog", accept)
    await sign_in(page, server.base_url, "rui@example.com")
    await page.goto(f"{server.base_url}/customers/{marta}")
    identities = page.get_by_test_id("identity")
    await expect(identities).to_have_count(1)
    verified = identities.filter(has_text="+351912345678")
    await expect(verified.locator(".verified")).to_have_text(f"✓ {t['verified']}")
    await expect(verified.locator(".verified")).to_be_visible()

    # a national number, read in the organisation's region (PT)
    await page.get_by_test_id("identity-kind").select_option("phone")
    await expect(page.get_by_text(t["phone_hint"])).to_be_visible()
    await page.get_by_test_id("identity-value").fill("213 456 789")
    await page.get_by_test_id("identity-add-save").click()
    await expect(identities.filter(has_text="+351213456789")).to_have_count(1)
    await expect(page.get_by_test_id("identity-value")).to_have_value("")

    # the verified phone changes: the new number is not verified
    await verified.get_by_test_id("identity-change").click()
    editing = identities.filter(has_text="+351912345678")
    await expect(editing.get_by_test_id("identity-new-value")).to_be_focused()
    await editing.get_by_test_id("identity-new-value").fill("919 999 999")
    await editing.get_by_test_id("identity-save").click()
    changed = identities.filter(has_text="+351919999999")
    await expect(changed).to_have_count(1)
    await expect(changed.locator(".verified")).to_be_hidden()
    await expect(page.get_by_test_id("notice")).to_have_text(t["identity_changed"])

    # a bad address, then another customer's: refused beside the field, with a way out
    await page.get_by_test_id("identity-kind").select_option("email")
    await page.get_by_test_id("identity-value").fill("nobody@")
    await page.get_by_test_id("identity-add-save").click()
    add_error = page.get_by_test_id("identity-add-error")
    await expect(add_error).to_have_text(t["invalid_identity_email"])
    await expect(page.get_by_test_id("identity-value")).to_have_attribute("aria-invalid", "true")
    await page.get_by_test_id("identity-value").fill("Joana@Example.com")
    await page.get_by_test_id("identity-add-save").click()
    await expect(add_error).to_contain_text(t["identity_taken"].format(name="Joana Reis"))
    link = add_error.get_by_role("link", name=t["open_other"].format(name="Joana Reis"))
    await expect(link).to_have_attribute("href", f"/customers/{joana}")
    await add_error.get_by_test_id("merge-taken").click()
    await expect(identities.filter(has_text="joana@example.com")).to_have_count(1)
    await expect(add_error).to_be_hidden()
    await expect(page.get_by_test_id("link")).to_have_count(1)  # the merge, undoable below

    # a phone removed
    added = identities.filter(has_text="+351213456789")
    await added.get_by_test_id("identity-remove").click()
    await expect(added).to_have_count(0)
    await expect(identities).to_have_count(2)

    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"], width
    assert errors == []
    await context.close()
