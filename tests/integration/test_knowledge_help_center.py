"""The public help center and the widget's and app's article API, on SQLite and PostgreSQL:
pages search engines can index (title, description, canonical, hreflang, sitemap), Markdown
shown safely, drafts and other organisations' articles 404, search with highlights,
"did this help?" without script and rate-limited, suggestions while typing by widget key."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import Running, World, login, make_world
from threadline.config import Settings
from threadline.events.models import EventRecord
from threadline.selfservice.knowledge.models import KbFeedback

PIN_EN = (
    "How to change your card PIN",
    "Open the app and choose **Cards**, then *Change PIN*.\n\n"
    "<script>alert('x')</script> [bad](javascript:alert(1)) [site](https://bank.example)",
)
PIN_PT = ("Como alterar o PIN do cartão", "Abra a app e escolha **Cartões** e *Alterar PIN*.")
ARRIVAL_PT = ("O cartão não chegou", "Os cartões chegam em 7 dias úteis após o pedido.")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limits": {"kb_feedback": "3/minute"}})


async def _setup(server: Running) -> tuple[httpx.AsyncClient, dict[str, str]]:
    admin = await login(server, "admin@example.com")
    category = await admin.post(
        "/api/v1/kb/categories",
        json={"slug": "cards", "names": {"en": "Cards", "pt": "Cartões"}},
    )
    ids = {}
    for slug, texts, publish in (
        ("change-pin", {"en": PIN_EN, "pt": PIN_PT}, True),
        ("card-not-arrived", {"pt": ARRIVAL_PT}, True),
        ("secret-draft", {"en": ("Draft about cards", "Not yet.")}, False),
    ):
        created = await admin.post(
            "/api/v1/kb/articles", json={"category_id": category.json()["id"], "slug": slug}
        )
        ids[slug] = created.json()["id"]
        for language, (title, body) in texts.items():
            saved = await admin.put(
                f"/api/v1/kb/articles/{ids[slug]}/translations/{language}",
                json={"title": title, "body": body},
            )
            assert saved.status_code == 200, saved.text
        if publish:
            assert (await admin.post(f"/api/v1/kb/articles/{ids[slug]}/publish")).is_success
    return admin, ids


async def _slug(server: Running, world: World) -> str:
    from threadline.orgs.models import Organization

    async with server.ctx.db.sessions() as session:
        org = await session.get(Organization, world.org_id)
    assert org is not None
    return org.slug


async def test_pages_are_indexable_safe_and_only_published(server: Running, world: World) -> None:
    admin, _ids = await _setup(server)
    org = await _slug(server, world)
    reader = server.client()  # no session: a stranger
    base = server.base_url

    home = await reader.get(f"/help/{org}/pt/")
    assert home.status_code == 200
    assert "Centro de ajuda" in home.text and "Cartões" in home.text
    assert "O cartão não chegou" in home.text and "Draft" not in home.text
    assert "public" in home.headers["cache-control"]

    page = await reader.get(f"/help/{org}/en/articles/change-pin")
    assert page.status_code == 200
    html = page.text
    assert "<title>How to change your card PIN · Test Bank</title>" in html
    assert '<meta name="description" content="Open the app and choose Cards' in html
    assert f'<link rel="canonical" href="{base}/help/{org}/en/articles/change-pin">' in html
    assert f'hreflang="pt" href="{base}/help/{org}/pt/articles/change-pin"' in html
    assert 'hreflang="es"' not in html  # not written in Spanish
    assert "<strong>Cards</strong>" in html
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    assert 'href="javascript:' not in html
    assert 'href="https://bank.example" rel="nofollow noopener noreferrer"' in html
    assert "script-src 'self'" in page.headers["content-security-policy"]

    for missing in (
        f"/help/{org}/en/articles/secret-draft",  # a draft
        f"/help/{org}/es/articles/change-pin",  # not in Spanish
        f"/help/{org}/de/",  # not a language of ours
        f"/help/{org}/en/articles/nope",
        "/help/no-such-bank/en/",
        f"/help/{org}/en/no-such-category/",
    ):
        assert (await reader.get(missing)).status_code == 404, missing

    category = await reader.get(f"/help/{org}/pt/cards/")
    assert category.status_code == 200 and "Como alterar o PIN do cartão" in category.text

    found = await reader.get(f"/help/{org}/pt/search", params={"q": "cartões"})
    assert found.status_code == 200
    assert "<mark>cartões</mark>" in found.text or "<mark>cartão</mark>" in found.text
    assert len(re.findall('data-testid="search-result"', found.text)) == 2
    sneaky = await reader.get(f"/help/{org}/en/search", params={"q": "<img src=x onerror=1>"})
    assert "<img src=x" not in sneaky.text

    sitemap = await reader.get(f"/help/{org}/sitemap.xml")
    assert sitemap.headers["content-type"].startswith("application/xml")
    assert f"<loc>{base}/help/{org}/en/articles/change-pin</loc>" in sitemap.text
    assert f"<loc>{base}/help/{org}/pt/articles/card-not-arrived</loc>" in sitemap.text
    assert "secret-draft" not in sitemap.text

    # another organisation's help center does not show these articles
    other = await make_world(server.ctx)
    other_slug = await _slug(server, other)
    assert (await reader.get(f"/help/{other_slug}/en/articles/change-pin")).status_code == 404
    assert "How to change" not in (await reader.get(f"/help/{other_slug}/en/")).text
    await admin.aclose()
    await reader.aclose()


async def test_did_this_help_works_without_script_and_is_limited(
    server: Running, world: World
) -> None:
    admin, ids = await _setup(server)
    org = await _slug(server, world)
    reader = server.client()
    url = f"/help/{org}/pt/articles/change-pin/feedback"
    answered = await reader.post(url, data={"helpful": "yes"})
    assert answered.status_code == 303
    assert answered.headers["location"].endswith("?feedback=thanks#feedback")
    thanks = await reader.get(answered.headers["location"])
    assert "Obrigado por nos dizer." in thanks.text
    assert (await reader.post(url, data={"helpful": "no"})).status_code == 303
    assert (await reader.post(url, data={"helpful": "maybe"})).status_code == 422
    assert (
        await reader.post(f"/help/{org}/en/articles/secret-draft/feedback", data={"helpful": "yes"})
    ).status_code == 404
    # three a minute from one address (this test's settings), unknown articles included:
    # the fourth answer is not recorded, the reader is told
    limited = await reader.post(url, data={"helpful": "yes"})
    assert limited.headers["location"].endswith("?feedback=later#feedback")

    counts = await admin.get(f"/api/v1/kb/articles/{ids['change-pin']}/feedback")
    assert counts.json() == {"pt": {"yes": 1, "no": 1}}
    async with server.ctx.db.sessions() as session:
        sources = set(await session.scalars(select(KbFeedback.source)))
        logged = list(
            await session.scalars(
                select(EventRecord.type).where(EventRecord.type == "article.feedback_given")
            )
        )
    assert sources == {"help_center"} and len(logged) == 2
    await admin.aclose()
    await reader.aclose()


async def test_the_widget_suggests_while_typing_and_takes_feedback(
    server: Running, world: World
) -> None:
    admin, _ids = await _setup(server)
    reader = server.client()
    key = world.widget.key
    typed = await reader.get(
        f"/api/v1/widget/{key}/help/search", params={"q": "cart", "language": "pt"}
    )
    assert typed.status_code == 200, typed.text
    assert typed.headers["access-control-allow-origin"] == "*"
    assert {h["slug"] for h in typed.json()} == {"change-pin", "card-not-arrived"}
    finished = await reader.get(
        f"/api/v1/widget/{key}/help/search",
        params={"q": "o meu cartão não chegou ", "language": "pt"},
    )
    assert finished.json()[0]["slug"] == "card-not-arrived"
    # English is the widget's default language; drafts never show
    english = await reader.get(f"/api/v1/widget/{key}/help/search", params={"q": "Dra"})
    assert english.json() == []

    article = await reader.get(f"/api/v1/widget/{key}/help/articles/change-pin")
    assert article.status_code == 200
    assert article.json()["language"] == "en"
    assert "&lt;script&gt;" in article.json()["html"]
    assert article.json()["url"].endswith("/en/articles/change-pin")
    assert (await reader.get(f"/api/v1/widget/{key}/help/articles/secret-draft")).status_code == 404
    assert (await reader.get("/api/v1/widget/nope/help/articles/change-pin")).status_code == 404
    blank = await reader.get(f"/api/v1/widget/{key}/help/search", params={"q": " "})
    assert blank.status_code == 200 and blank.json() == []
    too_long = await reader.get(f"/api/v1/widget/{key}/help/search", params={"q": "x" * 201})
    assert too_long.status_code == 422

    given = await reader.post(
        f"/api/v1/widget/{key}/help/articles/change-pin/feedback",
        json={"helpful": True, "language": "pt"},
    )
    assert given.status_code == 201, given.text
    async with server.ctx.db.sessions() as session:
        assert list(await session.scalars(select(KbFeedback.source))) == ["widget"]
    await admin.aclose()
    await reader.aclose()
