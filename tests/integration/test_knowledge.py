"""The knowledge base through its HTTP API, on SQLite and PostgreSQL: versions kept and
diffed, drafts invisible to search and readers, ranking, language-aware matching (the
Portuguese plural, Russian and Spanish stems, Greek without accents), organisations
isolated, agents read but do not write, suggestions from a thread's last messages."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from sqlalchemy import select

from tests.conftest import Running, World, login, make_world
from threadline.channels.chat.schemas import SessionIn
from threadline.channels.chat.services import do_open_session, do_visitor_message, visitor_session
from threadline.context import Context
from threadline.demo import load_demo
from threadline.orgs.models import Organization
from threadline.selfservice.knowledge import services

ARTICLES: dict[str, dict[str, tuple[str, str]]] = {
    "change-pin": {
        "en": ("How to change your card PIN", "Open the app, choose **Cards**, then *Change PIN*."),
        "pt": ("Como alterar o PIN do cartão", "Abra a app, escolha **Cartões** e *Alterar PIN*."),
        "ru": ("Как сменить ПИН-код карты", "Откройте приложение, выберите **Карты**."),
        "el": ("Πώς αλλάζω το PIN της κάρτας", "Ανοίξτε την εφαρμογή και επιλέξτε **Κάρτες**."),
    },
    "card-not-arrived": {
        "en": ("My card has not arrived", "Cards arrive within 7 working days of the order."),
        "pt": ("O cartão não chegou", "Os cartões chegam em 7 dias úteis após o pedido."),
        "es": ("Mi tarjeta no ha llegado", "Las tarjetas llegan en 7 días hábiles."),
    },
    "transfer-pending": {
        "en": ("Why is my transfer pending?", "A transfer stays pending while the bank checks it."),
        "pt": ("Transferência pendente", "Uma transferência fica pendente durante a verificação."),
    },
}


async def _category(admin: httpx.AsyncClient, slug: str = "cards") -> str:
    created = await admin.post(
        "/api/v1/kb/categories", json={"slug": slug, "names": {"en": "Cards", "pt": "Cartões"}}
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def _article(
    admin: httpx.AsyncClient, category_id: str, slug: str, texts: dict[str, tuple[str, str]]
) -> str:
    created = await admin.post(
        "/api/v1/kb/articles", json={"category_id": category_id, "slug": slug}
    )
    assert created.status_code == 201, created.text
    article_id = str(created.json()["id"])
    for language, (title, body) in texts.items():
        saved = await admin.put(
            f"/api/v1/kb/articles/{article_id}/translations/{language}",
            json={"title": title, "body": body},
        )
        assert saved.status_code == 200, saved.text
    return article_id


async def _publish(admin: httpx.AsyncClient, article_id: str) -> None:
    published = await admin.post(f"/api/v1/kb/articles/{article_id}/publish")
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published"


async def _search(client: httpx.AsyncClient, language: str, q: str) -> list[dict[str, Any]]:
    found = await client.get("/api/v1/kb/search", params={"q": q, "language": language})
    assert found.status_code == 200, found.text
    return list(found.json())


async def _bank(admin: httpx.AsyncClient) -> dict[str, str]:
    category = await _category(admin)
    ids = {}
    for slug, texts in ARTICLES.items():
        ids[slug] = await _article(admin, category, slug, texts)
        await _publish(admin, ids[slug])
    return ids


async def test_every_version_is_kept_and_diffed_and_drafts_stay_hidden(
    server: Running, world: World
) -> None:
    admin = await login(server, "admin@example.com")
    agent = await login(server, "rui@example.com")
    category = await _category(admin)
    article = await _article(
        admin, category, "lost-card", {"pt": ("Perdi o cartão", "Bloqueie o cartão na app.")}
    )
    saved = await admin.put(
        f"/api/v1/kb/articles/{article}/translations/pt",
        json={"title": "Perdi o cartão", "body": "Bloqueie o cartão na app.\n\nDepois peça outro."},
    )
    assert saved.json()["version"] == 2

    versions = (await agent.get(f"/api/v1/kb/articles/{article}/translations/pt/versions")).json()
    assert [v["number"] for v in versions] == [2, 1]
    assert versions[0]["author_id"] == world.agents["admin"].id
    assert versions[1]["body"] == "Bloqueie o cartão na app."
    diff = (
        await agent.get(
            f"/api/v1/kb/articles/{article}/translations/pt/diff", params={"from": 1, "to": 2}
        )
    ).json()["diff"]
    assert "--- v1" in diff and "+++ v2" in diff and "+Depois peça outro." in diff
    latest = (await agent.get(f"/api/v1/kb/articles/{article}/translations/pt/diff")).json()
    assert (latest["from_version"], latest["to_version"], latest["diff"]) == (1, 2, diff)
    missing = await agent.get(
        f"/api/v1/kb/articles/{article}/translations/pt/diff", params={"from": 1, "to": 9}
    )
    assert missing.status_code == 404

    # a draft: no search hit, no public page
    assert await _search(agent, "pt", "cartão") == []
    page = await agent.get(f"/help/{await _org_slug(server, world)}/pt/articles/lost-card")
    assert page.status_code == 404

    await _publish(admin, article)
    hits = await _search(agent, "pt", "perdi cartão")
    assert [h["slug"] for h in hits] == ["lost-card"]
    assert "<mark>cartão</mark>" in hits[0]["snippet_html"]
    assert hits[0]["url"].endswith("/pt/articles/lost-card")

    # a published article's new version is what search sees at once
    await admin.put(
        f"/api/v1/kb/articles/{article}/translations/pt",
        json={"title": "Perdi o cartão", "body": "Ligue-nos para bloquear."},
    )
    assert await _search(agent, "pt", "bloqueie") == []
    assert [h["slug"] for h in await _search(agent, "pt", "ligue")] == ["lost-card"]

    unpublished = await admin.post(f"/api/v1/kb/articles/{article}/unpublish")
    assert unpublished.json()["status"] == "draft"
    assert await _search(agent, "pt", "cartão") == []

    # agents read; only admins write
    refused = await agent.post(f"/api/v1/kb/articles/{article}/publish")
    assert refused.status_code == 403
    refused = await agent.put(
        f"/api/v1/kb/articles/{article}/translations/pt", json={"title": "x", "body": "y"}
    )
    assert refused.status_code == 403
    bad = await admin.put(
        f"/api/v1/kb/articles/{article}/translations/de", json={"title": "x", "body": "y"}
    )
    assert bad.status_code == 404  # no such translation
    await admin.aclose()
    await agent.aclose()


async def _org_slug(server: Running, world: World) -> str:
    from threadline.orgs.models import Organization

    async with server.ctx.db.sessions() as session:
        org = await session.get(Organization, world.org_id)
    assert org is not None
    return org.slug


async def test_search_is_ranked_and_language_aware(server: Running, world: World) -> None:
    admin = await login(server, "admin@example.com")
    await _bank(admin)

    # Portuguese: the plural "cartões" is found for "cartão", and the reverse
    hits = await _search(admin, "pt", "o meu cartão não chegou")
    assert hits[0]["slug"] == "card-not-arrived"
    assert "<mark>cartões</mark>" in hits[0]["snippet_html"]
    assert {h["slug"] for h in await _search(admin, "pt", "cartões")} >= {"card-not-arrived"}
    # English stems: "changing" finds "change", the title counts most
    hits = await _search(admin, "en", "changing my PIN")
    assert hits[0]["slug"] == "change-pin"
    assert "<mark>PIN</mark>" in hits[0]["title_html"]
    ranked = await _search(admin, "en", "card arrived")
    assert ranked[0]["slug"] == "card-not-arrived"
    assert ranked[0]["rank"] >= ranked[-1]["rank"]
    # Russian and Spanish stems, Greek typed without accents
    assert (await _search(admin, "ru", "сменить пин карты"))[0]["slug"] == "change-pin"
    assert (await _search(admin, "es", "tarjetas"))[0]["slug"] == "card-not-arrived"
    assert (await _search(admin, "el", "πιν καρτας"))[0]["slug"] == "change-pin"
    # one language at a time: no Spanish text, no Spanish hit
    assert await _search(admin, "es", "transferencia") == []
    assert await _search(admin, "en", "the") == []  # nothing but stopwords matches nothing
    # hostile input is a query like any other
    assert await _search(admin, "en", 'pin" OR * NEAR( -:) & | !') != []
    await admin.aclose()


async def test_organisations_are_isolated(server: Running, world: World) -> None:
    admin = await login(server, "admin@example.com")
    ids = await _bank(admin)
    other = await make_world(server.ctx)
    assert other.org_id != world.org_id
    other_admin = httpx.AsyncClient(base_url=server.base_url, timeout=10)
    token = await _token_for(server, other)
    other_admin.headers["Authorization"] = f"Bearer {token}"
    assert await _search(other_admin, "en", "PIN") == []
    assert (await other_admin.get(f"/api/v1/kb/articles/{ids['change-pin']}")).status_code == 404
    assert (await other_admin.get("/api/v1/kb/articles")).json() == []
    hijack = await other_admin.put(
        f"/api/v1/kb/articles/{ids['change-pin']}/translations/en",
        json={"title": "x", "body": "y"},
    )
    assert hijack.status_code == 404
    slug = await _org_slug(server, other)
    assert (await other_admin.get(f"/help/{slug}/en/articles/change-pin")).status_code == 404
    await admin.aclose()
    await other_admin.aclose()


async def _token_for(server: Running, world: World) -> str:
    from threadline.auth.roles import Principal
    from threadline.auth.services import do_create_token

    admin = world.agents["admin"]
    principal = Principal(agent_id=admin.id, org_id=world.org_id, role="admin", name=admin.name)
    _row, token = await do_create_token(server.ctx, principal, "kb test")
    return token


async def test_agents_get_suggestions_from_the_customers_last_messages(
    server: Running, world: World
) -> None:
    admin = await login(server, "admin@example.com")
    await _bank(admin)

    async def customer_says(*texts: str) -> str:
        opened = await do_open_session(server.ctx, world.widget.key, SessionIn(locale="pt-PT"))
        session = await visitor_session(server.ctx, world.widget.key, opened.visitor_token)
        thread_id = ""
        for text in texts:
            ingested = await do_visitor_message(
                server.ctx, session, text, str(uuid.uuid4()), language="pt"
            )
            thread_id = ingested.thread.id
        return thread_id

    # in a task of its own: the widget's calls scope their task to the organisation
    thread_id = await asyncio.create_task(customer_says("Olá", "o meu cartão ainda não chegou"))
    agent = await login(server, "rui@example.com")
    suggested = await agent.get(f"/api/v1/kb/threads/{thread_id}/suggestions")
    assert suggested.status_code == 200, suggested.text
    assert suggested.json()[0]["slug"] == "card-not-arrived"
    assert suggested.json()[0]["language"] == "pt"
    missing = await agent.get(f"/api/v1/kb/threads/{uuid.uuid4()}/suggestions")
    assert missing.status_code == 404
    await admin.aclose()
    await agent.aclose()


DEMO_QUESTIONS = {
    "en": ("how do I change my PIN", "change-pin"),
    "pt": ("o meu cartão ainda não chegou", "card-not-arrived"),
    "es": ("perdí mi tarjeta", "lost-card"),
    "ru": ("перевод в обработке", "transfer-pending"),
    "el": ("ισοτιμια πληρωμες στο εξωτερικο", "exchange-rates"),
}


async def test_the_demo_bank_answers_in_five_languages(ctx: Context) -> None:
    assert await load_demo(ctx)
    async with ctx.db.sessions() as session:
        org_id = await session.scalar(select(Organization.id).where(Organization.slug == "demo"))
    assert org_id is not None
    for language, (question, slug) in DEMO_QUESTIONS.items():
        hits = await services.search(ctx, org_id, language, question)
        assert hits and hits[0].article.slug == slug, (language, [h.article.slug for h in hits])


async def test_deleting_removes_from_search_and_categories_must_be_empty(
    server: Running, world: World
) -> None:
    admin = await login(server, "admin@example.com")
    ids = await _bank(admin)
    category = (await admin.get(f"/api/v1/kb/articles/{ids['change-pin']}")).json()["category_id"]
    busy = await admin.delete(f"/api/v1/kb/categories/{category}")
    assert busy.status_code == 409
    taken = await admin.post(
        "/api/v1/kb/articles", json={"category_id": category, "slug": "change-pin"}
    )
    assert taken.status_code == 409
    renamed = await admin.patch(
        f"/api/v1/kb/articles/{ids['change-pin']}", json={"slug": "new-pin"}
    )
    assert renamed.json()["slug"] == "new-pin"
    assert (await _search(admin, "en", "PIN"))[0]["slug"] == "new-pin"

    for article_id in ids.values():
        assert (await admin.delete(f"/api/v1/kb/articles/{article_id}")).status_code == 204
    assert await _search(admin, "en", "PIN") == []
    assert await _search(admin, "pt", "cartão") == []
    assert (await admin.get(f"/api/v1/kb/articles/{ids['change-pin']}")).status_code == 404
    assert (await admin.delete(f"/api/v1/kb/categories/{category}")).status_code == 204
    assert (await admin.get("/api/v1/kb/categories")).json() == []
    await admin.aclose()
