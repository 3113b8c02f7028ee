"""The surveys page (/admin/surveys) in real headless chromium, desktop size: an admin sees
the settings, a value the server refuses shows its reason beside the field, a fixed form is
saved (the API reads it back), and today's figures show a survey answered in the widget; an
agent gets 403; no CSP violation or script error."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect

from tests.conftest import Running, World, eventually, login
from tests.e2e.conftest import sign_in
from tests.integration.test_surveys import survey_of, turn_on, visitor_chat

pytestmark = pytest.mark.browser


async def _page(browser: Browser, server: Running, email: str, locale: str = "en-GB") -> Page:
    context = await browser.new_context(
        viewport={"width": 1280, "height": 900}, locale=locale, base_url=server.base_url
    )
    page = await context.new_page()
    await sign_in(page, server.base_url, email)
    return page


async def test_an_admin_sets_the_surveys_and_sees_today(
    server: Running, world: World, browser: Browser
) -> None:
    # a survey answered in the widget today: CSAT 5, CES 6
    await turn_on(server, every_days=3)
    token, thread, rui = await visitor_chat(server, world)
    survey = await eventually(lambda: survey_of(server, thread))
    async with server.client() as widget:
        answered = await widget.post(
            f"/api/v1/widget/{world.widget.key}/surveys/{survey.id}/answers",
            json={"csat": 5, "ces": 6},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answered.status_code == 200, answered.text
    await rui.aclose()

    page = await _page(browser, server, "admin@example.com")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda m: (
            errors.append(m.text) if m.type == "error" and "status of 422" not in m.text else None
        ),
    )
    await page.goto("/admin/surveys")
    await expect(page.get_by_role("heading", name="Surveys", level=1)).to_be_visible()
    await expect(page.get_by_test_id("enabled")).to_be_checked()
    await expect(page.get_by_test_id("every_days")).to_have_value("3")
    await expect(page.get_by_test_id("channel-voice")).to_be_checked()
    await expect(page.get_by_test_id("sum-sent")).to_have_text("1")
    await expect(page.get_by_test_id("sum-answered")).to_have_text("1")
    await expect(page.get_by_test_id("sum-csat")).to_have_text("100 % of 1")
    await expect(page.get_by_test_id("sum-ces")).to_have_text("6.0 from 1")
    await expect(page.get_by_test_id("by-channel")).to_contain_text("Chat (widget)")

    # the server's reasons, beside the fields they concern
    await page.get_by_test_id("every_days").fill("-1")
    await page.get_by_test_id("whatsapp_template").fill("Not A Name")
    await page.get_by_test_id("question-csat").uncheck()
    await page.get_by_test_id("question-ces").uncheck()
    await page.get_by_test_id("save").click()
    await expect(page.get_by_test_id("err-every_days")).to_contain_text("greater than or equal")
    await expect(page.get_by_test_id("err-every_days")).to_be_visible()
    await expect(page.get_by_test_id("every_days")).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_test_id("err-questions")).to_be_visible()
    await expect(page.get_by_test_id("err-whatsapp_template")).to_be_visible()
    await expect(page.get_by_test_id("err-reply_hours")).to_be_hidden()

    # fixed: saved, and the API reads it back
    await page.get_by_test_id("every_days").fill("14")
    await page.get_by_test_id("whatsapp_template").fill("")
    await page.get_by_test_id("question-ces").check()
    await page.get_by_test_id("channel-email").uncheck()
    await page.get_by_test_id("save").click()
    await expect(page.get_by_test_id("notice")).to_have_text("Survey settings saved.")
    await expect(page.get_by_test_id("err-every_days")).to_be_hidden()
    admin = await login(server, "admin@example.com")
    saved = (await admin.get("/api/v1/surveys/settings")).json()
    await admin.aclose()
    assert saved["every_days"] == 14 and saved["questions"] == ["ces"]
    assert "email" not in saved["channels"] and "voice" in saved["channels"]
    assert saved["whatsapp_template"] is None and saved["enabled"] is True
    await page.reload()
    await expect(page.get_by_test_id("every_days")).to_have_value("14")
    assert errors == []
    await page.context.close()


async def test_the_page_in_greek_and_refused_to_an_agent(
    server: Running, world: World, browser: Browser
) -> None:
    page = await _page(browser, server, "admin@example.com", locale="el-GR")
    await page.goto("/admin/surveys")
    await expect(page.get_by_role("heading", name="Έρευνες", level=1)).to_be_visible()
    await expect(page.get_by_test_id("enabled")).not_to_be_checked()
    await expect(page.get_by_test_id("sum-sent")).to_have_text("0")
    await page.context.close()
    agent = await _page(browser, server, "rui@example.com")
    response = await agent.goto("/admin/surveys")
    assert response is not None and response.status == 403
    await agent.context.close()
