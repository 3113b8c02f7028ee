"""The contact-reasons admin page in real headless chromium: an admin adds reasons with a
label per language and a parent, edits and deletes them; the server's refusals (a code
taken, a wrap-up code that already means another reason, a parent that would make three
levels, a reason with sub-reasons deleted) show beside the field or on top, in the page's
language; the trends chart counts the contacts per reason; a supervisor gets 403."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from tests.conftest import Running, World
from tests.e2e.conftest import sign_in
from tests.integration.test_reports import writes
from threadline.db import utcnow
from threadline.orgs.models import AuditEntry
from threadline.routing.models import Contact

pytestmark = pytest.mark.browser


async def _open(browser: Browser, server: Running, locale: str, email: str) -> Page:
    context = await browser.new_context(
        viewport={"width": 1400, "height": 1000},
        locale=locale,
        timezone_id="Europe/Athens",
        base_url=server.base_url,
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors  # type: ignore[attr-defined]
    page.on("dialog", lambda dialog: dialog.accept())
    await sign_in(page, server.base_url, email)
    return page


async def _add(page: Page, code: str, en: str, **fields: str) -> None:
    form = page.get_by_test_id("reason-form")
    await form.get_by_test_id("code").fill(code)
    await form.get_by_test_id("label-en").fill(en)
    for name, value in fields.items():
        if name == "parent":
            await form.get_by_test_id("parent").select_option(value)
        else:
            await form.get_by_test_id(name.replace("_", "-")).fill(value)
    await form.get_by_test_id("save").click()


async def _contacts_with_reasons(server: Running, world: World) -> None:
    """3 contacts about a lost card and 1 about cards in general, today."""
    thread_id = await writes(server, world, "v9", "hello")
    now = utcnow() - timedelta(minutes=1)
    async with server.ctx.uow() as uow:
        template = await uow.session.scalar(select(Contact).where(Contact.thread_id == thread_id))
        assert template is not None
        for code in ("card_lost", "card_lost", "card_lost", "cards"):
            uow.session.add(
                Contact(
                    org_id=world.org_id,
                    thread_id=thread_id,
                    customer_id=template.customer_id,
                    queue_id=template.queue_id,
                    channel="chat",
                    status="resolved",
                    enqueued_at=now,
                    ended_at=now,
                    reason_code=code,
                    reason_source="wrapup",
                )
            )


async def test_an_admin_edits_the_taxonomy_and_reads_its_trends(
    server: Running, world: World, browser: Browser
) -> None:
    page = await _open(browser, server, "en-GB", "admin@example.com")
    await page.goto("/admin/reasons")
    await expect(page.get_by_role("heading", name="Contact reasons", level=1)).to_be_visible()
    await expect(page.get_by_test_id("empty")).to_be_visible()
    rows = page.get_by_test_id("reason-row")

    # a code of the wrong shape is refused before asking; the English label is required
    await _add(page, "Bad Code", "")
    await expect(page.get_by_test_id("code-error")).to_contain_text("Use lower case letters")
    await expect(page.get_by_test_id("labels-error")).to_have_text(
        "Give at least the English label."
    )

    await _add(page, "cards", "Cards", label_pt="Cartões")
    await expect(rows).to_have_count(1)
    await _add(page, "card_lost", "Lost card", parent="cards", wrapup="lost-card, stolen")
    await expect(rows).to_have_count(2)
    await expect(page.locator("tr[data-code=card_lost]")).to_have_class("rs-child")
    await expect(page.locator("tr[data-code=card_lost]")).to_contain_text(
        "wrap-up: lost-card, stolen"
    )

    # the server's refusals, beside their fields
    await _add(page, "cards", "Cards again")
    await expect(page.get_by_test_id("code-error")).to_have_text(
        "There is already a reason with this code."
    )
    await _add(page, "loans", "Loans", wrapup="stolen")
    await expect(page.get_by_test_id("wrapup-error")).to_have_text(
        "One of these values already means another reason."
    )
    await page.get_by_test_id("reason-form").get_by_test_id("wrapup").fill("loan")
    await page.get_by_test_id("reason-form").get_by_test_id("save").click()
    await expect(rows).to_have_count(3)
    # cards has a sub-reason: it cannot go under loans (three levels)
    await page.locator("tr[data-code=cards]").get_by_test_id("edit").click()
    await page.get_by_test_id("reason-form").get_by_test_id("parent").select_option("loans")
    await page.get_by_test_id("reason-form").get_by_test_id("save").click()
    await expect(page.get_by_test_id("parent-error")).to_contain_text("Choose a top-level reason")

    # rename, per language
    await page.locator("tr[data-code=card_lost]").get_by_test_id("edit").click()
    await expect(page.get_by_test_id("reason-form").get_by_test_id("code")).to_have_value(
        "card_lost"
    )
    await page.get_by_test_id("reason-form").get_by_test_id("label-en").fill("Lost or stolen card")
    await page.get_by_test_id("reason-form").get_by_test_id("label-el").fill("Χαμένη κάρτα")
    await page.get_by_test_id("reason-form").get_by_test_id("save").click()
    await expect(page.locator("tr[data-code=card_lost] th")).to_have_text("Lost or stolen card")
    async with server.ctx.db.sessions() as session:
        actions = list(
            await session.scalars(select(AuditEntry.action).where(AuditEntry.target == "card_lost"))
        )
    assert sorted(actions) == ["reason.create", "reason.update"]

    # trends: today's contacts per reason, under their labels
    await _contacts_with_reasons(server, world)
    await page.get_by_test_id("trend-span").select_option("hours48")
    totals = page.get_by_test_id("trend-totals")
    await expect(totals.locator("li[data-code=card_lost]")).to_have_text("Lost or stolen card 3")
    await expect(totals.locator("li[data-code=cards]")).to_have_text("Cards 1")
    chart = await page.evaluate(
        "() => window.Chart.getChart('rs-chart').data.datasets.map("
        "(d) => [d.label, d.data.reduce((a, b) => a + b, 0)])"
    )
    assert chart == [["Lost or stolen card", 3], ["Cards", 1]]
    labels = await page.evaluate("() => window.Chart.getChart('rs-chart').data.labels.length")
    assert labels == 48  # yesterday and today, every hour

    # a reason with a sub-reason cannot go; the sub-reason can
    await page.locator("tr[data-code=cards]").get_by_test_id("delete").click()
    await expect(page.get_by_test_id("notice")).to_contain_text("has sub-reasons")
    await page.locator("tr[data-code=card_lost]").get_by_test_id("delete").click()
    await expect(rows).to_have_count(2)
    await expect(page.get_by_test_id("notice")).to_have_text("Reason card_lost deleted.")
    assert page.errors == []  # type: ignore[attr-defined]
    await page.context.close()


async def test_the_page_speaks_greek_and_refuses_supervisors(
    server: Running, world: World, browser: Browser
) -> None:
    admin = await _open(browser, server, "el-GR", "admin@example.com")
    await admin.goto("/admin/reasons")
    await expect(admin.get_by_role("heading", name="Αιτίες επικοινωνίας", level=1)).to_be_visible()
    await _add(admin, "Κάρτες", "")
    await expect(admin.get_by_test_id("labels-error")).to_have_text(
        "Δώστε τουλάχιστον την αγγλική ετικέτα."
    )
    await _add(admin, "cards", "Cards", label_el="Κάρτες")
    await expect(admin.locator("tr[data-code=cards] th")).to_have_text("Κάρτες")
    await expect(admin.get_by_test_id("trend-empty")).to_be_visible()
    assert admin.errors == []  # type: ignore[attr-defined]
    await admin.context.close()

    supervisor = await _open(browser, server, "en-GB", "nikos@example.com")
    response = await supervisor.goto("/admin/reasons")
    assert response is not None and response.status == 403
    await supervisor.context.close()
