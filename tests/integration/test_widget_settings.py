"""A chat widget's settings as admins set them: colour, languages, a greeting per language
and the sites allowed to embed it, checked on save and honoured by the widget's session;
and its identity secret, shown once and replaced by a new one that alone verifies."""

from __future__ import annotations

import json

import pytest
from websockets.asyncio.client import connect

from tests.conftest import WIDGET_SECRET, Running, World, login
from tests.fakes.site_backend import signed_identify
from tests.integration.test_api_roles import assert_problem


async def _session(server: Running, world: World, **headers: str) -> dict[str, object]:
    async with server.client() as visitor:
        opened = await visitor.post(
            f"/api/v1/widget/{world.widget.key}/session", json={"locale": "ru-RU"}, headers=headers
        )
    assert opened.status_code == 200, opened.text
    return dict(opened.json())


@pytest.mark.parametrize(
    ("given", "wrong"),
    [
        ({"color": "blue"}, "color"),
        ({"languages": ["pt", "xx"]}, "languages"),
        ({"languages": ["pt"], "language": "en"}, "language"),
        ({"greeting": {"pt": "x" * 501}}, "greeting.pt"),
        ({"allowed_origins": ["https://shop.example/path"]}, "allowed_origins"),
        ({"allowed_origins": ["ftp://shop.example"]}, "allowed_origins"),
    ],
)
async def test_wrong_settings_are_refused_saying_which(
    server: Running, world: World, given: dict[str, object], wrong: str
) -> None:
    admin = await login(server, "admin@example.com")
    refused = await admin.patch(f"/api/v1/endpoints/{world.widget.id}", json={"settings": given})
    assert_problem(refused, 422)
    assert refused.json()["message"].startswith(f"{wrong}:"), refused.text
    await admin.aclose()


async def test_the_session_speaks_the_widget_languages_with_its_greeting_and_colour(
    server: Running, world: World
) -> None:
    admin = await login(server, "admin@example.com")
    saved = await admin.patch(
        f"/api/v1/endpoints/{world.widget.id}",
        json={
            "settings": {
                "color": "#AA3300",
                "languages": ["pt", "en"],
                "greeting": {"pt": "Olá! Somos o Banco.", "en": "  "},
                "allowed_origins": ["https://Shop.example:8443/", server.base_url],
            }
        },
    )
    assert saved.status_code == 200, saved.text
    settings = saved.json()["settings"]
    assert settings["color"] == "#aa3300" and settings["language"] == "pt"
    assert settings["greeting"] == {"pt": "Olá! Somos o Banco."}
    assert settings["allowed_origins"] == ["https://shop.example:8443", server.base_url]

    # a Russian browser: the widget does not speak Russian, so its default, Portuguese
    session = await _session(server, world, origin="https://shop.example:8443")
    assert session["language"] == "pt" and session["color"] == "#aa3300"
    strings = session["strings"]
    assert isinstance(strings, dict) and strings["greeting"] == "Olá! Somos o Banco."

    async with server.client() as stranger:
        refused = await stranger.post(
            f"/api/v1/widget/{world.widget.key}/session",
            json={},
            headers={"origin": "https://evil.example"},
        )
    assert_problem(refused, 403)
    await admin.aclose()


async def test_a_new_identity_secret_is_shown_once_and_alone_verifies(
    server: Running, world: World
) -> None:
    admin = await login(server, "admin@example.com")
    made = await admin.post(f"/api/v1/endpoints/{world.widget.id}/identity-secret")
    assert made.status_code == 201, made.text
    secret = made.json()["secret"]
    assert len(secret) == 64 and secret != WIDGET_SECRET
    listed = (await admin.get("/api/v1/endpoints")).text
    assert secret not in listed  # never shown again

    session = await _session(server, world)
    url = f"{server.ws_url}/api/v1/widget/{world.widget.key}/ws"
    async with connect(url) as ws:
        await ws.send(json.dumps({"type": "auth", "token": session["visitor_token"]}))
        await ws.send(json.dumps(signed_identify(WIDGET_SECRET, email="ana@example.com")))
        old = json.loads(await ws.recv())
        while old["type"] not in ("error", "identified"):
            old = json.loads(await ws.recv())
        assert old["type"] == "error"  # the old secret verifies nothing any more
        await ws.send(json.dumps(signed_identify(secret, email="ana@example.com")))
        new = json.loads(await ws.recv())
        while new["type"] not in ("error", "identified"):
            new = json.loads(await ws.recv())
        assert new["type"] == "identified"

    sms = await admin.post(
        "/api/v1/endpoints",
        json={
            "channel": "sms",
            "key": "+351910000001",
            "name": "SMS",
            "settings": {"account_sid": "AC1"},
        },
    )
    assert sms.status_code == 201, sms.text
    assert_problem(await admin.post(f"/api/v1/endpoints/{sms.json()['id']}/identity-secret"), 409)
    rui = await login(server, "rui@example.com")
    assert_problem(await rui.post(f"/api/v1/endpoints/{world.widget.id}/identity-secret"), 403)
    for client in (admin, rui):
        await client.aclose()
