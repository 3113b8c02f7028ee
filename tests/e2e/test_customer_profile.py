"""The customer profile page in real headless chromium: an agent edits the profile (the
server's refusal shown beside the field), opens a previous conversation (times in their own
time zone), merges a duplicate record and undoes it, and cannot export or erase; an admin
downloads the export and erases the customer after typing their id, refused first while a
conversation is in progress. (test_desktop checks the customer panel links here.)"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime

import pytest
from playwright.async_api import Browser, Dialog, Page, expect

from tests.conftest import Running, World
from tests.e2e.conftest import sign_in
from threadline.customers.models import Customer, Identity
from threadline.routing.models import Contact
from threadline.threads.models import Thread, ThreadEvent

pytestmark = pytest.mark.browser

WHEN = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)  # 18:15 in Tokyo


async def _seed(server: Running, world: World) -> dict[str, str]:
    """Marta with an email, a resolved SMS conversation and an assigned chat (in progress);
    a duplicate record of her with another email."""
    async with server.ctx.uow() as uow:
        marta = Customer(org_id=world.org_id, name="Marta Silva", email="marta@example.com")
        twin = Customer(org_id=world.org_id, name="Marta S.", email="marta.s@example.org")
        uow.session.add_all([marta, twin])
        await uow.session.flush()
        uow.session.add_all(
            [
                Identity(
                    org_id=world.org_id,
                    customer_id=marta.id,
                    kind="email",
                    value="marta@example.com",
                ),
                Identity(
                    org_id=world.org_id,
                    customer_id=twin.id,
                    kind="email",
                    value="marta.s@example.org",
                ),
            ]
        )
        old = Thread(org_id=world.org_id, customer_id=marta.id, status="resolved")
        live = Thread(org_id=world.org_id, customer_id=marta.id, status="assigned")
        uow.session.add_all([old, live])
        await uow.session.flush()
        uow.session.add_all(
            [
                ThreadEvent(
                    org_id=world.org_id,
                    thread_id=old.id,
                    seq=1,
                    kind="message",
                    channel="sms",
                    author_type="customer",
                    author_name="Marta Silva",
                    body="My card was stolen",
                    created_at=WHEN,
                ),
                ThreadEvent(
                    org_id=world.org_id,
                    thread_id=live.id,
                    seq=1,
                    kind="message",
                    channel="chat",
                    author_type="customer",
                    author_name="Marta Silva",
                    body="Hello again",
                ),
            ]
        )
        old.updated_at = WHEN
        contact = Contact(
            org_id=world.org_id,
            thread_id=live.id,
            customer_id=marta.id,
            queue_id=world.queues["general"].id,
            channel="chat",
            status="assigned",
            agent_id=world.agents["rui"].id,
        )
        uow.session.add(contact)
    return {"marta": marta.id, "twin": twin.id, "contact": contact.id}


async def _open(browser: Browser, server: Running, email: str, locale: str = "en-GB") -> Page:
    context = await browser.new_context(
        viewport={"width": 1400, "height": 900},
        locale=locale,
        timezone_id="Asia/Tokyo",
        base_url=server.base_url,
        accept_downloads=True,
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.errors = errors  # type: ignore[attr-defined]
    await sign_in(page, server.base_url, email)
    return page


def _console_errors(page: Page) -> list[str]:
    # a refused request (422, 409) is logged by chromium as a failed resource: expected here
    errors: list[str] = page.errors  # type: ignore[attr-defined]
    return [e for e in errors if "Failed to load resource" not in e]


async def test_an_agent_edits_reads_and_merges(
    server: Running, world: World, browser: Browser
) -> None:
    ids = await _seed(server, world)
    page = await _open(browser, server, "rui@example.com")
    await page.goto(f"/customers/{ids['marta']}")
    await expect(page.get_by_role("heading", name="Marta Silva")).to_be_visible()
    await expect(page.get_by_test_id("customer-email")).to_have_text("marta@example.com")
    await expect(page.get_by_test_id("identities")).to_contain_text("marta@example.com")
    await expect(page.get_by_test_id("data-duties")).to_be_hidden()  # agents: no export/erase

    # an invalid value: the server refuses it, and says so beside the field
    await page.get_by_test_id("field-language").fill("Portuguese")
    await page.get_by_test_id("save").click()
    error = page.get_by_test_id("error-language")
    await expect(error).to_have_text(
        "Use a language code of two or three lowercase letters, e.g. en."
    )
    await expect(page.get_by_test_id("field-language")).to_have_attribute("aria-invalid", "true")
    async with server.ctx.db.sessions() as session:
        assert (await session.get(Customer, ids["marta"])).language is None  # type: ignore[union-attr]

    await page.get_by_test_id("field-language").fill("pt")
    await page.get_by_test_id("field-name").fill("Marta Sousa Silva")
    await page.get_by_test_id("save").click()
    await expect(page.get_by_test_id("notice")).to_have_text("Saved.")
    await expect(error).to_be_hidden()
    await expect(page.get_by_role("heading", name="Marta Sousa Silva")).to_be_visible()
    async with server.ctx.db.sessions() as session:
        saved = await session.get(Customer, ids["marta"])
        assert saved is not None and (saved.name, saved.language) == ("Marta Sousa Silva", "pt")

    # previous conversations, newest first; the old one in the viewer's time zone
    rows = page.get_by_test_id("conversation")
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0)).to_contain_text("With an agent")
    await expect(rows.nth(0)).to_contain_text("chat")
    await expect(rows.nth(1)).to_contain_text("Resolved")
    await expect(rows.nth(1)).to_contain_text("sms")
    await expect(rows.nth(1)).to_contain_text("18:15")
    await rows.nth(1).get_by_role("button", name="Open").click()
    timeline = page.get_by_test_id("conversation-timeline")
    await expect(timeline).to_contain_text("My card was stolen")
    await expect(timeline).not_to_contain_text("Hello again")

    # merge the duplicate, found by its email; then undo it
    await page.get_by_test_id("merge-query").fill("marta.s@example.org")
    await page.get_by_role("button", name="Search").click()
    candidate = page.get_by_test_id("candidate")
    await expect(candidate).to_have_count(1)

    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    page.on("dialog", accept)
    await candidate.get_by_role("button", name="Merge into this one").click()
    await expect(page.get_by_test_id("notice")).to_contain_text("Marta S. was merged")
    await expect(page.get_by_test_id("identities")).to_contain_text("marta.s@example.org")
    link = page.get_by_test_id("link")
    await expect(link).to_contain_text("Marta S., merged")
    await expect(link).to_contain_text("by Rui")
    async with server.ctx.db.sessions() as session:
        twin = await session.get(Customer, ids["twin"])
        assert twin is not None and twin.merged_into_id == ids["marta"]
    await link.get_by_test_id("undo").click()
    await expect(page.get_by_test_id("notice")).to_have_text("The merge was undone.")
    await expect(page.get_by_test_id("identities")).not_to_contain_text("marta.s@example.org")
    await expect(link.get_by_test_id("undo")).to_be_hidden()
    async with server.ctx.db.sessions() as session:
        twin = await session.get(Customer, ids["twin"])
        assert twin is not None and twin.merged_into_id is None

    assert _console_errors(page) == []
    await page.context.close()


async def test_an_admin_exports_and_erases(server: Running, world: World, browser: Browser) -> None:
    ids = await _seed(server, world)
    page = await _open(browser, server, "admin@example.com", locale="pt-PT")
    await page.goto(f"/customers/{ids['marta']}")
    await expect(page.get_by_role("heading", name="Marta Silva")).to_be_visible()
    await expect(page.get_by_role("heading", name="Dados do cliente")).to_be_visible()

    async with page.expect_download() as info:
        await page.get_by_test_id("export").click()
    download = await info.value
    assert download.suggested_filename.startswith(f"customer-{ids['marta']}-")
    path = await download.path()
    with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as archive:
        document = json.loads(archive.read("customer.json"))
    assert "Marta Silva" in json.dumps(document)

    # erasure needs the id typed exactly; refused while a conversation is in progress
    erase = page.get_by_test_id("erase")
    await expect(erase).to_be_disabled()
    await page.get_by_test_id("erase-confirm").fill("marta")
    await expect(erase).to_be_disabled()
    await page.get_by_test_id("erase-confirm").fill(ids["marta"])
    await erase.click()
    await expect(page.get_by_test_id("notice")).to_have_text(
        "Há uma conversa em curso com este cliente: resolva-a antes de apagar."
    )
    async with server.ctx.db.sessions() as session:
        assert (await session.get(Customer, ids["marta"])).erased_at is None  # type: ignore[union-attr]

    async with server.ctx.uow() as uow:
        contact = await uow.lock_existing(Contact, ids["contact"])
        contact.status = "resolved"
    await erase.click()
    await expect(page.get_by_test_id("notice")).to_have_text(
        "Os dados pessoais do cliente foram apagados."
    )
    await expect(page.get_by_test_id("erased-badge")).to_be_visible()
    await expect(page.get_by_test_id("erased-note")).to_contain_text("Dados pessoais apagados")
    await expect(page.get_by_test_id("customer-email")).to_have_text("—")
    await expect(page.get_by_role("heading", name="Apagado")).to_be_visible()
    async with server.ctx.db.sessions() as session:
        erased = await session.get(Customer, ids["marta"])
        assert erased is not None and erased.erased_at is not None and erased.email is None
    assert _console_errors(page) == []
    await page.context.close()


async def test_an_unknown_customer_and_a_stranger(
    server: Running, world: World, browser: Browser
) -> None:
    page = await _open(browser, server, "rui@example.com")
    response = await page.goto("/customers/no-such-customer")
    assert response is not None and response.status == 200  # the page; the API says 404
    await expect(page.get_by_test_id("missing")).to_be_visible()
    await page.context.close()

    context = await browser.new_context(base_url=server.base_url)
    anonymous = await context.new_page()
    await anonymous.goto("/customers/anyone")
    await anonymous.wait_for_url("**/login")
    await context.close()
