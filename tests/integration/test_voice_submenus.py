"""IVR submenus through the signed Twilio webhooks, the fake Twilio playing the caller: a
caller presses 1 (cards) then 2 (card not arrived) and waits in the Cards queue with that
reason; the back key returns to the menu above, an invalid key asks the same submenu again,
speech works inside a submenu, and a retried webhook neither advances nor writes twice; on
SQLite and PostgreSQL."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from tests.conftest import Running, World, login
from tests.fakes.twilio import FakeTwilio, running_fake_twilio
from tests.integration.test_voice import (
    CALLER,
    IVR,
    NUMBER,
    contact_of,
    events,
    gather_action,
    query,
    said,
    twiml,
    url,
    voice_endpoint,
)

NESTED: dict[str, Any] = copy.deepcopy(IVR)
NESTED["options"][0] = {
    "digit": "1",
    "keywords": {"en": ["card", "cards"], "pt": ["cartão"]},
    "prompt": {"en": "For cards, press 1.", "pt": "Para cartões, prima 1."},
    "submenu": {
        "intro": {"en": "Cards.", "pt": "Cartões."},
        "options": [
            {
                "digit": "1",
                "keywords": {"en": ["lost"], "pt": ["perdido"]},
                "queue": "Cards",
                "reason": "card_lost",
                "prompt": {"en": "For a lost card, press 1.", "pt": "Cartão perdido, prima 1."},
            },
            {
                "digit": "2",
                "queue": "Cards",
                "reason": "card_not_arrived",
                "prompt": {"en": "If your card has not arrived, press 2."},
            },
        ],
    },
}
SUBMENU_EN = (
    "Cards. For a lost card, press 1. If your card has not arrived, press 2. "
    "To go back, press star."
)
MAIN_EN = "For cards, press 1. For anything else, press 2."


@pytest.fixture
async def twilio() -> Any:
    async with running_fake_twilio() as fake:
        yield fake


@pytest.fixture
async def nested(server: Running, world: World, twilio: FakeTwilio) -> dict[str, Any]:
    admin = await login(server, "admin@example.com")
    created = await admin.post("/api/v1/endpoints", json=voice_endpoint(world, twilio, ivr=NESTED))
    assert created.status_code == 201, created.text
    await admin.aclose()
    return dict(created.json())


async def press(twilio: FakeTwilio, action: str, sid: str, **params: str) -> httpx.Response:
    return await twilio.call_webhook(action, sid, CALLER, NUMBER, **params)


async def test_one_then_two_queues_in_the_submenus_queue_with_its_reason(
    server: Running, world: World, twilio: FakeTwilio, nested: dict[str, Any]
) -> None:
    root = twiml(await twilio.call_webhook(url(server), "CS1", CALLER, NUMBER, "ringing"))
    root = twiml(await press(twilio, gather_action(root), "CS1", Digits="1"))  # English
    assert said(root) == [MAIN_EN]
    main = gather_action(root)
    first = await press(twilio, main, "CS1", Digits="1")  # cards
    root = twiml(first)
    action = gather_action(root)
    assert query(action) == {"step": "menu", "lang": "en", "tries": "1", "at": "0"}
    assert said(root) == [SUBMENU_EN]
    written = len(await events(server, "ivr"))
    # Twilio retries the same webhook: the same answer, and nothing written twice
    retried = await press(twilio, main, "CS1", Digits="1")
    assert retried.text == first.text
    assert len(await events(server, "ivr")) == written
    hold = twiml(await press(twilio, action, "CS1", Digits="2"))  # card not arrived
    assert hold.find("Gather") is None and hold.findtext("Redirect")
    contact = await contact_of(server, "CS1")
    assert contact.queue_id == world.queues["cards"].id
    assert contact.reason == "card_not_arrived"
    assert contact.context["ivr"] == [
        {"step": "language", "input": "dtmf", "value": "1", "result": "en"},
        {"step": "menu", "input": "dtmf", "value": "1", "result": "submenu:1"},
        {"step": "menu", "input": "dtmf", "value": "2", "result": "card_not_arrived"},
    ]
    entries = await events(server, "ivr")
    assert [(e.data["at"], e.data["result"]) for e in entries[1:]] == [
        ("", "submenu:1"),
        ("0", "card_not_arrived"),
    ]


async def test_back_key_invalid_key_and_speech_inside_a_submenu(
    server: Running, world: World, twilio: FakeTwilio, nested: dict[str, Any]
) -> None:
    root = twiml(await twilio.call_webhook(url(server), "CS2", CALLER, NUMBER, "ringing"))
    root = twiml(await press(twilio, gather_action(root), "CS2", Digits="1"))  # English
    root = twiml(await press(twilio, gather_action(root), "CS2", Digits="1"))  # cards
    # an invalid key: sorry, and the same submenu again
    root = twiml(await press(twilio, gather_action(root), "CS2", Digits="7"))
    assert said(root) == ["Sorry, I did not understand.", SUBMENU_EN]
    assert query(gather_action(root)) == {"step": "menu", "lang": "en", "tries": "2", "at": "0"}
    # back: the main menu
    root = twiml(await press(twilio, gather_action(root), "CS2", Digits="*"))
    assert said(root) == [MAIN_EN]
    assert query(gather_action(root)) == {"step": "menu", "lang": "en", "tries": "1"}
    # back in the main menu: said again
    root = twiml(await press(twilio, gather_action(root), "CS2", Digits="*", SpeechResult=""))
    assert said(root) == [MAIN_EN]
    # spoken keywords at each level
    root = twiml(await press(twilio, gather_action(root), "CS2", SpeechResult="My card."))
    assert said(root) == [SUBMENU_EN]
    assert "lost" in (root.find("Gather").get("hints") or "")  # type: ignore[union-attr]
    hold = twiml(await press(twilio, gather_action(root), "CS2", SpeechResult="I lost it"))
    assert hold.find("Gather") is None
    contact = await contact_of(server, "CS2")
    assert contact.queue_id == world.queues["cards"].id and contact.reason == "card_lost"
    assert [c["result"] for c in contact.context["ivr"]] == [
        "en",
        "submenu:1",
        None,
        "back",
        "back",
        "submenu:1",
        "card_lost",
    ]


async def test_a_submenu_naming_an_unknown_queue_is_refused_naming_its_field(
    server: Running, world: World, twilio: FakeTwilio
) -> None:
    bad = copy.deepcopy(NESTED)
    bad["options"][0]["submenu"]["options"][1]["queue"] = "Mortgages"
    admin = await login(server, "admin@example.com")
    refused = await admin.post("/api/v1/endpoints", json=voice_endpoint(world, twilio, ivr=bad))
    assert refused.status_code == 422, refused.text
    assert refused.json()["message"] == (
        "settings.ivr.options[0].submenu.options[1].queue: no queue named 'Mortgages'"
    )
    await admin.aclose()
