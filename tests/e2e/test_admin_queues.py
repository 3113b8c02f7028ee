"""The admins' queues page in real headless chromium (issue 13 §1): an admin edits a queue's
business hours (ranges per weekday, a time zone, holidays) and its callback policy as a form,
the server's refusals show beside the field they concern, and once saved, the widget of that
queue tells a customer (on a phone) that nobody is there until the next opening. A new queue
can be created; a queue overflows to a named queue, a loop refused beside the field (in
English and in Portuguese); agents get 403."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from tests.conftest import Running, World
from tests.e2e.conftest import sign_in
from threadline.orgs.models import AuditEntry
from threadline.routing.models import Queue

pytestmark = pytest.mark.browser

WIDGET = "#threadline-widget"


async def _admin(browser: Browser, server: Running, locale: str = "en-GB") -> Page:
    context = await browser.new_context(
        viewport={"width": 1400, "height": 1000},
        locale=locale,
        timezone_id="UTC",
        base_url=server.base_url,
    )
    page = await context.new_page()
    await sign_in(page, server.base_url, "admin@example.com")
    return page


async def test_an_admin_closes_a_queue_for_holidays_and_the_widget_says_so(
    server: Running, world: World, browser: Browser
) -> None:
    page = await _admin(browser, server)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # (the refused saves are logged by chromium as failed loads: not errors of the page)
    page.on(
        "console",
        lambda m: (
            errors.append(m.text) if m.type == "error" and "status of 422" not in m.text else None
        ),
    )
    await page.get_by_role("link", name="Queues").click()
    await page.wait_for_url("**/admin/queues")
    await expect(page.get_by_role("heading", name="Queues", exact=True)).to_be_visible()
    row = page.get_by_test_id("queues").locator("tr[data-queue='General']")
    await expect(row.locator("[data-col=hours]")).to_have_text("24/7")

    await row.get_by_role("button", name="Edit General").click()
    form = page.get_by_role("form", name="Edit queue")
    await form.get_by_label("Open 24 hours, every day").uncheck()
    await form.get_by_label("Time zone", exact=True).fill("UTC")
    hours = form.get_by_test_id("hours")
    # Monday: two ranges that overlap, refused by the server beside Monday's row
    await hours.get_by_role("button", name="Add opening hours on Monday").click()
    await hours.get_by_role("button", name="Add opening hours on Monday").click()
    await hours.get_by_label("Monday: opens (range 2)").fill("12:00")
    await form.get_by_role("button", name="Save").click()
    await expect(hours.locator("#err-day-mon")).to_have_text("overlaps another range of the day")
    await hours.get_by_role("button", name="Remove Monday range 2").click()
    await hours.get_by_role("button", name="Copy to weekdays").click()
    for day in ("Saturday", "Sunday"):
        await hours.get_by_role("button", name=f"Add opening hours on {day}").click()
    # closed today and tomorrow (a holiday with a label), whatever the time of day now
    today = datetime.now(UTC).date()
    for n, (day, label) in enumerate(((today, "Staff training"), (today + timedelta(1), "")), 1):
        await hours.get_by_role("button", name="Add a closed date").click()
        await hours.get_by_label(f"Closed date {n}", exact=True).fill(day.isoformat())
        await hours.get_by_label(f"Label of closed date {n}").fill(label)

    # the callback policy: a window that does not divide a day is refused beside its field
    policy = form.get_by_test_id("callback-policy")
    await policy.get_by_label("Offer callbacks").check()
    await policy.get_by_label("Offer when the wait passes (seconds)").fill("90")
    await policy.get_by_label("Window length (minutes)").fill("25")
    await policy.get_by_role("button", name="Add a shift on Tuesday").click()
    await policy.get_by_label("Tuesday: agents in shift 1").fill("4")
    await form.get_by_role("button", name="Save").click()
    await expect(policy.locator("#err-cb-window_minutes")).to_contain_text("must divide a day")
    await expect(hours.locator("#err-day-mon")).to_be_hidden()
    await policy.get_by_label("Window length (minutes)").fill("30")
    await form.get_by_role("button", name="Save").click()
    await expect(form).to_be_hidden()
    await expect(row.locator("[data-col=hours]")).to_have_text(
        "Mon Tue Wed Thu Fri Sat Sun (UTC), 2 closed dates"
    )
    await expect(row.locator("[data-col=callback]")).to_have_text("after 90 s")

    async with server.ctx.db.sessions() as session:
        queue = await session.get(Queue, world.queues["general"].id)
        assert queue is not None
        assert queue.business_hours["days"]["mon"] == [["09:00", "17:00"]]
        assert queue.business_hours["holidays"][0] == {
            "date": today.isoformat(),
            "label": "Staff training",
        }
        assert queue.callback_policy["plan"] == {"tue": [["09:00", "17:00", 4]]}
        assert queue.callback_policy["offer_after_s"] == 90
        entry = await session.get(AuditEntry, await _last_audit_id(server, queue.id))
        assert entry is not None and entry.action == "queue.update"
        assert "business_hours" in entry.data["fields"]

    # a customer on a phone opens the widget of that queue: closed, back on the next opening
    customer = await browser.new_context(
        viewport={"width": 390, "height": 844}, locale="en-GB", timezone_id="UTC"
    )
    site = await customer.new_page()
    await site.goto(f"{server.base_url}/demo-site?widget={world.widget.key}")
    await site.wait_for_function("() => window.Threadline && window.Threadline.ready === true")
    await site.evaluate("Threadline.open()")
    notice = site.locator(f"{WIDGET} .waiting")
    await expect(notice).to_contain_text("We're away right now — back ")
    await expect(notice).to_contain_text("09:00")
    assert errors == []
    await customer.close()
    await page.context.close()


async def _last_audit_id(server: Running, target: str) -> str:
    async with server.ctx.db.sessions() as session:
        found = await session.scalar(
            select(AuditEntry.id)
            .where(AuditEntry.target == target)
            .order_by(AuditEntry.created_at.desc())
        )
    assert found is not None
    return str(found)


async def test_an_admin_creates_a_queue_in_greek(
    server: Running, world: World, browser: Browser
) -> None:
    page = await _admin(browser, server, locale="el-GR")
    await page.goto("/admin/queues")
    await expect(page.get_by_role("heading", name="Ουρές", exact=True)).to_be_visible()
    await page.get_by_role("button", name="Προσθήκη ουράς").click()
    form = page.get_by_role("form", name="Νέα ουρά")
    await form.get_by_label("Όνομα", exact=True).fill("Cards")  # taken: beside the name
    await form.get_by_role("button", name="Δημιουργία").click()
    await expect(form.locator("#err-name")).to_be_visible()
    await form.get_by_label("Όνομα", exact=True).fill("Δάνεια")
    await form.get_by_label("Απαιτούμενες δεξιότητες").fill("loans, el")
    await form.get_by_label("Προτεραιότητα (0–10)").fill("11")
    await form.get_by_role("button", name="Δημιουργία").click()
    await expect(form.locator("#err-priority")).to_be_visible()
    await form.get_by_label("Προτεραιότητα (0–10)").fill("3")
    await form.get_by_role("button", name="Δημιουργία").click()
    await expect(form).to_be_hidden()
    row = page.get_by_test_id("queues").locator("tr[data-queue='Δάνεια']")
    await expect(row).to_contain_text("loans, el")
    await expect(row.locator("[data-col=hours]")).to_have_text("24/7")
    async with server.ctx.db.sessions() as session:
        queue = await session.scalar(select(Queue).where(Queue.name == "Δάνεια"))
        assert queue is not None and queue.priority == 3 and queue.org_id == world.org_id
        assert queue.required_skills == ["loans", "el"]
    await page.context.close()


async def test_an_admin_overflows_a_queue_to_a_named_queue_and_a_loop_is_refused(
    server: Running, world: World, browser: Browser
) -> None:
    page = await _admin(browser, server)
    await page.goto("/admin/queues")
    rows = page.get_by_test_id("queues")
    await (
        rows.locator("tr[data-queue='General']").get_by_role("button", name="Edit General").click()
    )
    form = page.get_by_role("form", name="Edit queue")
    target = form.get_by_label("Overflow to queue")
    await expect(target.locator("option")).to_have_text(["No queue (use the skills)", "Cards"])
    await target.select_option(label="Cards")
    await expect(form.get_by_label("Overflow to skills")).to_be_hidden()  # one or the other
    await form.get_by_role("button", name="Save").click()  # no wait given: beside that field
    await expect(form.locator("#err-overflow_after_s")).to_have_text(
        "Say after how many seconds the contact overflows."
    )
    await form.get_by_label("Overflow after (seconds)").fill("120")
    await form.get_by_role("button", name="Save").click()
    await expect(form).to_be_hidden()
    async with server.ctx.db.sessions() as session:
        general = await session.get_one(Queue, world.queues["general"].id)
        assert general.overflow_queue_id == world.queues["cards"].id
        assert general.overflow_after_s == 120 and general.overflow_skills is None
    await page.context.close()

    # Cards back to General would go round for ever: refused beside the field, in Portuguese
    page = await _admin(browser, server, locale="pt-PT")
    await page.goto("/admin/queues")
    rows = page.get_by_test_id("queues")
    await rows.locator("tr[data-queue='Cards']").get_by_role("button", name="Editar Cards").click()
    form = page.get_by_role("form", name="Editar fila")
    await expect(form.get_by_label("Transbordar para a fila")).to_have_value("")
    await form.get_by_label("Transbordar para a fila").select_option(label="General")
    await form.get_by_label("Transbordo após (segundos)").fill("60")
    await form.get_by_role("button", name="Guardar").click()
    await expect(form.locator("#err-overflow_queue_id")).to_have_text(
        "Essa fila transborda de volta para esta: escolha outra."
    )
    await expect(form.get_by_label("Transbordar para a fila")).to_have_attribute(
        "aria-invalid", "true"
    )
    async with server.ctx.db.sessions() as session:
        cards = await session.get_one(Queue, world.queues["cards"].id)
        assert cards.overflow_queue_id is None
    # reopened, General shows where it overflows
    await form.get_by_role("button", name="Cancelar").click()
    await (
        rows.locator("tr[data-queue='General']")
        .get_by_role("button", name="Editar General")
        .click()
    )
    form = page.get_by_role("form", name="Editar fila")
    await expect(form.get_by_label("Transbordar para a fila")).to_have_value(
        world.queues["cards"].id
    )
    await page.context.close()


async def test_an_agent_is_refused(server: Running, world: World, browser: Browser) -> None:
    context = await browser.new_context(base_url=server.base_url)
    page = await context.new_page()
    await sign_in(page, server.base_url, "rui@example.com")
    response = await page.goto("/admin/queues")
    assert response is not None and response.status == 403
    await context.close()
