"""Every staff page names its navigation in the reader's language (the header's aria-label
comes from the page's own catalogue, never an English literal)."""

from __future__ import annotations

import re

import pytest

from tests.conftest import Running, World, login

PAGES = [
    "/admin/channels",
    "/admin/queues",
    "/admin/intents",
    "/admin/webhooks",
    "/admin/surveys",
    "/admin/flows",
    "/admin/help",
    "/admin/agents",
    "/admin/reasons",
    "/supervisor",
    "/desktop",
]
LABELS = {"en": "Pages", "pt": "Páginas", "es": "Páginas", "ru": "Страницы", "el": "Σελίδες"}
NAV = re.compile(r'<nav class="topnav" aria-label="([^"]*)"')


@pytest.mark.parametrize("language", ["pt", "el"])
async def test_the_staff_header_is_in_the_readers_language(
    server: Running, world: World, language: str
) -> None:
    admin = await login(server, "admin@example.com")
    try:
        for path in PAGES:
            response = await admin.get(path, headers={"accept-language": language})
            assert response.status_code == 200, (path, response.status_code)
            assert NAV.findall(response.text) == [LABELS[language]], path
    finally:
        await admin.aclose()


async def test_the_language_picked_at_login_carries_to_the_staff_pages(
    server: Running, world: World
) -> None:
    admin = await login(server, "admin@example.com")
    try:
        picked = await admin.get("/login?lang=ru")  # the login page's picker remembers it
        assert picked.status_code == 200
        for path in ("/desktop", "/admin/queues"):
            response = await admin.get(path, headers={"accept-language": "pt"})
            assert NAV.findall(response.text) == [LABELS["ru"]], path
            assert '<html lang="ru"' in response.text, path
    finally:
        await admin.aclose()
