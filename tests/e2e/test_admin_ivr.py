"""The voice number's IVR as a tree on the channels page, in real headless chromium (issue 13
§1): an admin builds a two-language menu with two keypad options, the server's refusal of an
option without a reason is shown at that option's node, and once saved, a call through the
Twilio voice webhooks (signed by the fake provider, as Twilio would) hears the menu as built
and lands in the queue its key leads to. A third option opens a submenu built in the tree (options
added, reordered, a nested submenu added and removed, a key used twice flagged beside it, the
server's refusal shown at the nested node), and a caller pressing 3 then 1 lands in its queue.
Then the admin makes a built-in flow the number's IVR."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from urllib.parse import quote

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select

from tests.conftest import Running, World
from tests.e2e.conftest import sign_in
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, running_fake_twilio
from threadline.channels.models import Endpoint
from threadline.routing.models import Contact

pytestmark = pytest.mark.browser

NUMBER = "+15005550006"
CALLER = "+351912345678"


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with running_fake_twilio() as fake:
        yield fake


def _twiml(text: str) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314  # our own server's TwiML


def _action(root: ET.Element) -> str:
    gather = root.find("Gather")
    assert gather is not None, ET.tostring(root)
    return str(gather.get("action"))


def _said(root: ET.Element) -> list[str]:
    return [el.text or "" for el in root.iter("Say")]


async def test_an_admin_builds_an_ivr_menu_and_a_call_hears_it(
    server: Running, world: World, browser: Browser, twilio: FakeTwilio
) -> None:
    context = await browser.new_context(
        viewport={"width": 1400, "height": 1000}, locale="en-GB", base_url=server.base_url
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await sign_in(page, server.base_url, "admin@example.com")
    await page.goto("/admin/channels")
    await page.get_by_role("button", name="Add endpoint").click()
    form = page.get_by_role("form", name="New endpoint")
    await form.get_by_label("Channel", exact=True).select_option("voice")
    await form.get_by_label("Name", exact=True).fill("Phone line")
    await form.get_by_label("Phone number (E.164, e.g. +15005550006)").fill(NUMBER)
    await form.get_by_label("Queue", exact=True).select_option(label="General")
    await form.get_by_label("Auth token").fill(AUTH_TOKEN)
    await form.get_by_label("Account SID").fill(ACCOUNT_SID)
    await form.get_by_label("API base URL (optional)").fill(twilio.base_url)

    tree = form.get_by_test_id("ivr-editor")
    await expect(tree.locator("textarea")).to_have_count(0)  # no raw JSON any more
    await tree.get_by_label("What is said for language 1").fill("For English, press 1.")
    await tree.get_by_role("button", name="Add a language").click()
    await tree.get_by_label("Code of language 2").fill("pt")
    await tree.get_by_label("Voice of language 2").fill("pt-PT")
    await tree.get_by_label("What is said for language 2").fill("Para português, prima 2.")
    await tree.get_by_label("Greeting (en)").fill("Welcome to Test Bank.")
    await tree.get_by_label("Greeting (pt)").fill("Bem-vindo ao Test Bank.")

    await tree.get_by_role("button", name="Add an option").click()
    await tree.get_by_label("Queue of option 1").select_option("Cards")
    await tree.get_by_label("Prompt of option 1 (en)").fill("For cards, press 1.")
    await tree.get_by_label("Prompt of option 1 (pt)").fill("Para cartões, prima 1.")
    await tree.get_by_label("Keywords of option 1 (en)").fill("card, cards")
    await tree.get_by_role("button", name="Add an option").click()
    await tree.get_by_label("Queue of option 2").select_option("General")
    await tree.get_by_label("Reason of option 2").fill("other")
    await tree.get_by_label("Prompt of option 2 (en)").fill("For anything else, press 2.")

    # option 3 opens a submenu: card not arrived (1), lost card (2)
    await tree.get_by_role("button", name="Add an option").click()
    await tree.get_by_label("Prompt of option 3 (en)", exact=True).fill("Card problems, 3.")
    await tree.get_by_label("Where option leads 3", exact=True).select_option("submenu")
    await expect(tree.locator("[data-node='option2.0']")).to_be_visible()
    await expect(tree.get_by_label("Queue of option 3", exact=True)).to_be_hidden()
    await tree.get_by_label("Intro of submenu 3 (en)", exact=True).fill("Card problems.")
    await tree.get_by_label("Queue of option 3.1", exact=True).select_option("Cards")
    await tree.get_by_label("Reason of option 3.1", exact=True).fill("card_not_arrived")
    await tree.get_by_label("Prompt of option 3.1 (en)", exact=True).fill("Not arrived, 1.")
    add_sub = tree.get_by_role("button", name="Add an option to the submenu 3", exact=True)
    await add_sub.click()
    await tree.get_by_label("Queue of option 3.2", exact=True).select_option("Cards")
    await tree.get_by_label("Prompt of option 3.2 (en)", exact=True).fill("Lost, 2.")
    # a key used twice in the submenu is flagged beside it, before anything is saved
    key = tree.get_by_label("Key of option 3.2", exact=True)
    await key.select_option("1")
    check = tree.locator("[data-node='option2.1'] .ivr-check")
    await expect(check).to_have_text("This key is used twice in this menu.")
    await expect(key).to_have_attribute("aria-invalid", "true")
    await key.select_option("2")
    await expect(check).to_be_hidden()
    # reordered: the lost card is said first
    await tree.get_by_role("button", name="Move up option 3.2", exact=True).click()
    await expect(tree.get_by_label("Prompt of option 3.1 (en)", exact=True)).to_have_value(
        "Lost, 2."
    )
    # a submenu inside the submenu, added and removed again
    await add_sub.click()
    await tree.get_by_label("Where option leads 3.3", exact=True).select_option("submenu")
    await expect(tree.get_by_label("Queue of option 3.3.1", exact=True)).to_be_visible()
    await tree.get_by_role("button", name="Remove option 3.3", exact=True).click()
    await expect(tree.locator("[data-node^='option2.2']")).to_have_count(0)
    # option 1 has no reason: the server says so at that node
    await form.get_by_role("button", name="Create").click()
    option = tree.locator("[data-node=option0]")
    await expect(option.locator(".field-error").first).to_contain_text("the contact reason")
    await expect(option.get_by_label("Reason of option 1")).to_have_attribute(
        "aria-invalid", "true"
    )
    await expect(tree.locator("[data-node=option1] .field-error").first).to_be_hidden()
    await option.get_by_label("Reason of option 1").fill("card_blocked")
    # the lost card (now 3.1) has no reason either: said at that nested node
    await tree.get_by_role("button", name="Press 3 →").click()  # the submenu folded
    await form.get_by_role("button", name="Create").click()
    nested = tree.locator("[data-node='option2.0']")
    await expect(nested.locator(".field-error").first).to_have_text(
        "Give the contact reason, e.g. card_blocked."
    )
    await expect(nested.get_by_label("Reason of option 3.1", exact=True)).to_have_attribute(
        "aria-invalid", "true"
    )
    await nested.get_by_label("Reason of option 3.1", exact=True).fill("card_lost")
    await form.get_by_role("button", name="Create").click()
    await expect(form).to_be_hidden()
    row = page.get_by_test_id("endpoints").locator(f"tr[data-endpoint='{NUMBER}']")
    await expect(row).to_contain_text("Phone line")

    # a call: the greeting and the language question, then the menu as built
    hook = f"{server.base_url}/webhooks/voice/twilio/{quote(NUMBER, safe='')}"
    answer = await twilio.call_webhook(hook, "CA1", CALLER, NUMBER, "ringing")
    assert answer.status_code == 200, answer.text
    root = _twiml(answer.text)
    assert _said(root) == [
        "Welcome to Test Bank.",
        "For English, press 1.",
        "Para português, prima 2.",
    ]
    root = _twiml(
        (await twilio.call_webhook(_action(root), "CA1", CALLER, NUMBER, Digits="1")).text
    )
    assert _said(root) == ["For cards, press 1. For anything else, press 2. Card problems, 3."]
    hold = await twilio.call_webhook(_action(root), "CA1", CALLER, NUMBER, Digits="1")
    assert hold.status_code == 200, hold.text
    async with server.ctx.db.sessions() as db:
        [contact] = list(await db.scalars(select(Contact).where(Contact.channel == "voice")))
    assert contact.queue_id == world.queues["cards"].id and contact.reason == "card_blocked"

    # another call (its language known now): 3 opens the submenu as built, 1 queues it for
    # a card that has not arrived
    root = _twiml((await twilio.call_webhook(hook, "CA2", CALLER, NUMBER, "ringing")).text)
    root = _twiml(
        (await twilio.call_webhook(_action(root), "CA2", CALLER, NUMBER, Digits="3")).text
    )
    assert _said(root) == ["Card problems. Lost, 2. Not arrived, 1. To go back, press star."]
    hold = await twilio.call_webhook(_action(root), "CA2", CALLER, NUMBER, Digits="1")
    assert hold.status_code == 200, hold.text
    async with server.ctx.db.sessions() as db:
        contact = await db.scalar(
            select(Contact).where(Contact.channel == "voice", Contact.id != contact.id)
        )
    assert contact is not None and contact.queue_id == world.queues["cards"].id
    assert contact.reason == "card_not_arrived"

    # the same number now runs a built-in flow as its IVR
    await row.get_by_role("button", name="Edit").click()
    form = page.get_by_role("form", name="Edit endpoint")
    tree = form.get_by_test_id("ivr-editor")
    await expect(tree.get_by_label("Reason of option 2")).to_have_value("other")
    await expect(tree.get_by_label("Reason of option 3.2", exact=True)).to_have_value(
        "card_not_arrived"
    )
    await tree.get_by_label("A flow").check()
    flows = tree.get_by_label("Flow run as the IVR")
    await expect(flows.locator("option")).not_to_have_count(1)
    flow_id = await flows.locator("option").nth(1).get_attribute("value")
    await flows.select_option(flow_id)
    await form.get_by_role("button", name="Save").click()
    await expect(form).to_be_hidden()
    async with server.ctx.db.sessions() as db:
        endpoint = await db.scalar(select(Endpoint).where(Endpoint.key == NUMBER))
    assert endpoint is not None and endpoint.settings["bot"] == {"flow": flow_id}
    assert endpoint.settings["ivr"]["greeting"]["en"] == "Welcome to Test Bank."
    assert "options" not in endpoint.settings["ivr"]
    assert errors == []
    await context.close()
