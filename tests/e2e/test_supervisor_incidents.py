"""The supervisors' incidents page in real headless chromium. On a desktop, in another time
zone than the server's: a supervisor reaches it from the supervisor page, declares an
incident through the form (the browser's check, then a server 422 shown next to its field),
sees it listed with its expected end in their own time, and the widget's API then returns its
banner; they change its message, mark a texter affected from a CSV file with "tell them now"
(the SMS goes out), and resolve it after confirming (a cancelled confirmation resolves
nothing); the texter hears of the fix. An agent is refused the page. On a phone (390x844, in
Portuguese) the page fits the screen and the same declare-and-resolve works by touch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, Dialog, Page, expect

from tests.conftest import Running, World, add_endpoint, eventually, login
from tests.e2e.conftest import sign_in
from tests.e2e.test_widget_phone import PHONE
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, running_fake_twilio

pytestmark = pytest.mark.browser

ZONE = "America/Sao_Paulo"  # not the server's (UTC): times are typed and shown in this one
NUMBER = "+15005550006"
TEXTER = "+351912000111"
PAGE = "/supervisor/incidents"


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with running_fake_twilio() as fake:
        yield fake


async def _signed_in(
    browser: Browser, server: Running, email: str, **options: Any
) -> tuple[Page, list[str]]:
    context = await browser.new_context(
        base_url=server.base_url,
        timezone_id=ZONE,
        **{"viewport": {"width": 1400, "height": 900}, "locale": "en-GB", **options},
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # console errors (CSP refusals among them), but not the 4xx answers the test asks for
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and "Failed to load resource" not in m.text
            else None
        ),
    )
    await sign_in(page, server.base_url, email)
    return page, errors


async def _banners(server: Running, world: World, lang: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=server.base_url) as visitor:
        answer = await visitor.get(f"/api/v1/widget/{world.widget.key}/incidents?lang={lang}")
    assert answer.status_code == 200, answer.text
    return list(answer.json())


async def _incidents(server: Running, status: str) -> list[dict[str, Any]]:
    supervisor = await login(server, "nikos@example.com")
    try:
        return list((await supervisor.get(f"/api/v1/incidents?status={status}")).json())
    finally:
        await supervisor.aclose()


async def _texter_writes_in(server: Running, world: World, twilio: FakeTwilio) -> None:
    """An SMS number, and a customer who texted it (so they can be found by phone and told)."""
    await add_endpoint(
        server,
        channel="sms",
        key=NUMBER,
        name="Support line",
        queue_id=world.queues["general"].id,
        secret=AUTH_TOKEN,
        settings={"account_sid": ACCOUNT_SID, "api_base": twilio.base_url},
    )
    texted = await twilio.post_signed(
        f"{server.base_url}/webhooks/sms/twilio/{quote(NUMBER, safe='')}",
        {"MessageSid": "SM1", "From": TEXTER, "To": NUMBER, "Body": "Hello", "NumMedia": "0"},
    )
    assert texted.status_code == 200, texted.text


async def test_a_supervisor_declares_marks_affected_and_resolves_an_incident(
    server: Running, world: World, browser: Browser, twilio: FakeTwilio
) -> None:
    await _texter_writes_in(server, world, twilio)
    page, errors = await _signed_in(browser, server, "nikos@example.com")
    await page.goto("/supervisor")
    await page.get_by_role("link", name="Incidents").click()
    await page.wait_for_url(f"**{PAGE}")
    await expect(page.get_by_role("heading", name="Incidents", exact=True)).to_be_visible()
    active = page.get_by_test_id("active-incidents")
    await expect(active).to_contain_text("No incident in force.")

    # the browser's own checks, then one only the server makes (at most 50 products)
    await page.get_by_role("button", name="Declare an incident").click()
    form = page.get_by_role("form", name="New incident")
    await form.get_by_label("Title").fill("Card payments failing")
    await form.get_by_role("button", name="Declare", exact=True).click()
    await expect(form.locator("#err-messages")).to_have_text(
        "Write what customers see in at least one language."
    )
    await form.locator("#f-msg-en").fill("Card payments are failing. We are fixing it.")
    await form.locator("#f-msg-pt").fill("Os pagamentos com cartão estão a falhar.")
    await form.locator("#f-res-pt").fill("Os pagamentos com cartão já funcionam.")
    await form.get_by_label("Keywords").fill("card payment, cartão")
    await form.get_by_label("Products").fill(", ".join(f"product {n}" for n in range(51)))
    end = (datetime.now(ZoneInfo(ZONE)) + timedelta(days=1)).replace(
        hour=14, minute=30, second=0, microsecond=0
    )
    await form.get_by_label("Expected end").fill(end.strftime("%Y-%m-%dT%H:%M"))
    await expect(form.locator("#help-end")).to_contain_text(ZONE)
    await form.get_by_role("button", name="Declare", exact=True).click()
    await expect(form.locator("#err-products")).to_contain_text("50")
    await expect(form.locator("#f-products")).to_have_attribute("aria-invalid", "true")
    await expect(form.locator("#err-messages")).to_be_hidden()
    assert await _incidents(server, "active") == []  # nothing declared yet

    await form.get_by_label("Products").fill("cards")
    await form.get_by_role("button", name="Declare", exact=True).click()
    await expect(form).to_be_hidden()
    await expect(page.get_by_test_id("notice")).to_have_text(
        'Declared "Card payments failing": customers see it now.'
    )
    [declared] = await _incidents(server, "active")
    assert declared["messages"] == {
        "en": "Card payments are failing. We are fixing it.",
        "pt": "Os pagamentos com cartão estão a falhar.",
    }
    assert declared["resolution_messages"] == {"pt": "Os pagamentos com cartão já funcionam."}
    assert declared["keywords"] == ["card payment", "cartão"] and declared["products"] == ["cards"]
    expected_end = datetime.fromisoformat(declared["expected_end_at"])
    assert expected_end == end.astimezone(UTC)  # typed in São Paulo's time, stored as the instant
    row = active.locator(f"tr[data-incident='{declared['id']}']")
    await expect(row.locator("[data-col=title]")).to_contain_text("Card payments failing")
    await expect(row.locator("[data-col=expected_end]")).to_contain_text("14:30")
    await expect(page.get_by_test_id("zone")).to_have_text(f"Times in {ZONE}")
    for column in ("followers", "affected", "told", "skipped", "threads"):
        await expect(row.locator(f"[data-col={column}]")).to_have_text("0")

    # the widget's API now returns its banner, in the visitor's language
    [banner] = await _banners(server, world, "pt-PT")
    assert banner["id"] == declared["id"]
    assert banner["message"] == "Os pagamentos com cartão estão a falhar."

    # change the English message (only what changed is sent)
    patches: list[str] = []
    page.on(
        "request",
        lambda r: patches.append(r.post_data or "") if r.method == "PATCH" else None,
    )
    await row.get_by_role("button", name="Change Card payments failing").click()
    edit = page.get_by_role("form", name="Change the incident")
    await expect(edit.locator("#f-msg-pt")).to_have_value(
        "Os pagamentos com cartão estão a falhar."
    )
    await expect(edit.get_by_label("Expected end")).to_have_value(end.strftime("%Y-%m-%dT%H:%M"))
    await edit.locator("#f-msg-en").fill("Card payments fail since 9:00. Back by the afternoon.")
    await edit.get_by_role("button", name="Save").click()
    await expect(edit).to_be_hidden()
    assert len(patches) == 1 and '"messages"' in patches[0]
    assert "expected_end_at" not in patches[0] and "title" not in patches[0]
    [english] = await _banners(server, world, "en")
    assert english["message"] == "Card payments fail since 9:00. Back by the afternoon."

    # affected customers from a CSV file: a header the page refuses, then the real file
    await row.get_by_role("button", name="Mark customers affected by Card payments failing").click()
    panel = page.get_by_test_id("affected-panel")
    await expect(panel.get_by_role("heading")).to_have_text(
        "Customers affected by Card payments failing"
    )
    csv = panel.get_by_label("CSV file")
    await csv.set_input_files(
        {"name": "names.csv", "mimeType": "text/csv", "buffer": b"name\nAna\n"}
    )
    await panel.get_by_role("button", name="Mark affected").click()
    await expect(panel.locator("#err-csv")).to_have_text(
        "The first row must name a customer_id, phone or email column."
    )
    await csv.set_input_files(
        {
            "name": "affected.csv",
            "mimeType": "text/csv",
            "buffer": f"name;phone\nAna;{TEXTER}\nNobody;+15550000000\n".encode(),
        }
    )
    await panel.get_by_label("Tell them about the outage now, before they ask").check()
    await panel.get_by_role("button", name="Mark affected").click()
    result = panel.get_by_test_id("affected-result")
    await expect(result.get_by_test_id("matched")).to_have_text("1 found")
    await expect(result.get_by_test_id("added")).to_have_text("1 added")
    await expect(result.get_by_test_id("unknown")).to_have_text("1 unknown")
    await expect(result).to_contain_text("+15550000000")
    await expect(row.locator("[data-col=affected]")).to_have_text("1")

    async def texted(n: int) -> bool:
        return len([m for m in twilio.messages if m.to == TEXTER]) >= n

    await eventually(lambda: texted(1))  # told of the outage now, as asked
    assert twilio.messages[0].body == "Card payments fail since 9:00. Back by the afternoon."

    # resolve: a cancelled confirmation changes nothing; a confirmed one resolves it
    answers = iter([False, True])
    prompts: list[str] = []

    async def on_dialog(dialog: Dialog) -> None:
        prompts.append(dialog.message)
        await (dialog.accept() if next(answers) else dialog.dismiss())

    page.on("dialog", on_dialog)
    resolve = row.get_by_role("button", name="Resolve Card payments failing")
    await resolve.click()
    await expect(row).to_be_visible()
    assert [i["id"] for i in await _incidents(server, "active")] == [declared["id"]]
    await resolve.click()
    await expect(active).to_contain_text("No incident in force.")
    assert all(p.startswith('Resolve "Card payments failing"?') for p in prompts)
    assert len(prompts) == 2
    resolved = page.get_by_test_id("resolved-incidents").locator(
        f"tr[data-incident='{declared['id']}']"
    )
    await expect(resolved).to_contain_text("Card payments failing")
    await expect(panel).to_be_hidden()  # nothing left to mark affected
    assert await _banners(server, world, "pt") == []

    await eventually(lambda: texted(2))  # and of the fix, in the only resolution text given
    assert twilio.messages[1].body == "Os pagamentos com cartão já funcionam."
    await page.get_by_role("button", name="Refresh").click()
    await expect(resolved.locator("[data-col=told]")).to_have_text("1")
    await expect(resolved.locator("[data-col=affected]")).to_have_text("1")
    assert not errors, errors
    await page.context.close()


async def test_an_agent_is_refused_the_incidents_page(
    server: Running, world: World, browser: Browser
) -> None:
    page, _errors = await _signed_in(browser, server, "rui@example.com")
    answer = await page.goto(PAGE)
    assert answer is not None and answer.status == 403
    await expect(page.get_by_text("Only supervisors can manage incidents.")).to_be_visible()
    assert await page.get_by_role("link", name="Incidents").count() == 0
    await page.context.close()
    nobody = await browser.new_context(base_url=server.base_url)
    anonymous = await nobody.new_page()
    await anonymous.goto(PAGE)
    await anonymous.wait_for_url("**/login")
    await nobody.close()


async def test_on_a_phone_in_portuguese(server: Running, world: World, browser: Browser) -> None:
    options = {**PHONE.options, "locale": "pt-PT"}
    page, errors = await _signed_in(browser, server, "nikos@example.com", **options)
    await page.goto(PAGE)
    await expect(page.get_by_role("heading", name="Incidentes", exact=True)).to_be_visible()
    await page.get_by_role("button", name="Declarar um incidente").tap()
    form = page.get_by_role("form", name="Novo incidente")
    await form.get_by_label("Título").fill("Aplicação em baixo")
    await form.locator("#f-msg-pt").fill("A aplicação está em baixo. Estamos a resolver.")
    await form.get_by_label("Palavras-chave").fill("aplicação, app")
    await _fits(page)
    submit = form.get_by_role("button", name="Declarar", exact=True)
    box = await submit.bounding_box()
    assert box is not None and box["height"] >= 44  # finger-sized
    await submit.tap()
    await expect(form).to_be_hidden()
    row = page.get_by_test_id("active-incidents").locator("tr[data-incident]")
    await expect(row).to_have_count(1)
    await expect(row.locator("[data-col=title]")).to_contain_text("Aplicação em baixo")
    await expect(row.locator("[data-col=expected_end]")).to_contain_text("não indicado")
    # one block per incident, each count labelled in Portuguese, nothing wider than the screen
    label = await row.locator("[data-col=affected]").evaluate(
        "el => getComputedStyle(el, '::before').content"
    )
    assert label == '"Afetados"'
    await _fits(page)
    [banner] = await _banners(server, world, "pt")
    assert banner["message"] == "A aplicação está em baixo. Estamos a resolver."
    await row.get_by_role("button", name="Marcar clientes afetados por Aplicação em baixo").tap()
    panel = page.get_by_test_id("affected-panel")
    await expect(panel.get_by_label("Ficheiro CSV")).to_be_visible()
    await _fits(page)
    await panel.get_by_role("button", name="Fechar").tap()
    await expect(panel).to_be_hidden()

    page.on("dialog", lambda dialog: dialog.accept())
    await row.get_by_role("button", name="Resolver Aplicação em baixo").tap()
    await expect(page.get_by_test_id("active-incidents")).to_contain_text(
        "Nenhum incidente em curso."
    )
    await expect(page.get_by_test_id("resolved-incidents")).to_contain_text("Aplicação em baixo")
    await _fits(page)
    assert await _banners(server, world, "pt") == []
    assert not errors, errors
    await page.context.close()


async def _fits(page: Page) -> None:
    """Nothing on the page is wider than the 390 px screen (no sideways scrolling)."""
    widest = await page.evaluate(
        """() => {
          const main = document.querySelector('main');
          const over = [...document.querySelectorAll('main *')]
            .filter(el => el.offsetParent !== null
                          && el.getBoundingClientRect().right > innerWidth + 1)
            .map(el => el.tagName + '.' + el.className + '#' + el.id);
          return {doc: document.documentElement.scrollWidth, main: main.scrollWidth,
                  width: innerWidth, over: over.slice(0, 5)};
        }"""
    )
    assert widest["doc"] <= widest["width"] and widest["main"] <= widest["width"], widest
    assert not widest["over"], widest
    assert widest["width"] == 390
