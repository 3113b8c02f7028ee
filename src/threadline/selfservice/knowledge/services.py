"""The knowledge base's writes (`do_*`, one transaction each) and reads.

Every function takes the organisation first; another organisation's category or article
is "not found". Staff see drafts; readers (the help center, the widget) see published
articles only, and the search index holds nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.context import Context
from threadline.db import UnitOfWork, enter_org, utcnow
from threadline.errors import Conflict, Invalid, NotFound
from threadline.events.domain import ArticleFeedbackGiven, ArticlePublished
from threadline.orgs.models import Organization
from threadline.orgs.services import audit
from threadline.selfservice.knowledge import LANGUAGES, diffs, rendering
from threadline.selfservice.knowledge.analysis import Query, build_query
from threadline.selfservice.knowledge.highlight import highlight, snippet
from threadline.selfservice.knowledge.models import (
    KbArticle,
    KbCategory,
    KbFeedback,
    KbTranslation,
    KbVersion,
)
from threadline.selfservice.knowledge.schemas import (
    ArticleIn,
    ArticlePatch,
    CategoryIn,
    CategoryPatch,
    TranslationIn,
)
from threadline.selfservice.knowledge.search import Document, search_index
from threadline.threads.services import get_thread, timeline

MAX_RESULTS = 20
SUGGESTION_MESSAGES = 3  # the customer's last messages an agent's suggestions read


# ---------------------------------------------------------------- categories
async def list_categories(ctx: Context, org_id: str) -> list[KbCategory]:
    query = select(KbCategory).where(KbCategory.org_id == org_id)
    async with ctx.db.sessions() as session:
        return list(await session.scalars(query.order_by(KbCategory.position, KbCategory.slug)))


async def _category(session: AsyncSession, org_id: str, category_id: str) -> KbCategory:
    found = await session.get(KbCategory, category_id)
    if found is None or found.org_id != org_id:
        raise NotFound("no such category")
    return found


async def _slug_free(
    session: AsyncSession, model: type[KbCategory] | type[KbArticle], org_id: str, slug: str
) -> None:
    taken = await session.scalar(select(model.id).where(model.org_id == org_id, model.slug == slug))
    if taken is not None:
        raise Conflict(f"the slug {slug!r} is taken", field="slug")


async def do_create_category(
    ctx: Context, org_id: str, actor: str | None, data: CategoryIn
) -> KbCategory:
    async with ctx.uow() as uow:
        await _slug_free(uow.session, KbCategory, org_id, data.slug)
        category = KbCategory(
            org_id=org_id,
            slug=data.slug,
            names={str(k): v for k, v in data.names.items()},
            position=data.position,
        )
        uow.session.add(category)
        await uow.session.flush()
        audit(uow.session, org_id, actor, "kb.category.create", category.id, slug=data.slug)
    return category


async def do_update_category(
    ctx: Context, org_id: str, actor: str | None, category_id: str, data: CategoryPatch
) -> KbCategory:
    async with ctx.uow() as uow:
        category = await _category(uow.session, org_id, category_id)
        if data.slug is not None and data.slug != category.slug:
            await _slug_free(uow.session, KbCategory, org_id, data.slug)
            category.slug = data.slug
        if data.names is not None:
            category.names = {str(k): v for k, v in data.names.items()}
        if data.position is not None:
            category.position = data.position
        audit(uow.session, org_id, actor, "kb.category.update", category.id)
    return category


async def do_delete_category(
    ctx: Context, org_id: str, actor: str | None, category_id: str
) -> None:
    """Remove an empty category (409 while articles are in it)."""
    async with ctx.uow() as uow:
        category = await _category(uow.session, org_id, category_id)
        used = await uow.session.scalar(
            select(func.count()).where(KbArticle.category_id == category.id)
        )
        if used:
            raise Conflict("move or delete the category's articles first")
        await uow.session.delete(category)
        audit(uow.session, org_id, actor, "kb.category.delete", category_id)


# ---------------------------------------------------------------- articles
async def list_articles(
    ctx: Context, org_id: str, *, category_id: str | None = None, status: str | None = None
) -> list[tuple[KbArticle, list[KbTranslation]]]:
    query = select(KbArticle).where(KbArticle.org_id == org_id)
    if category_id:
        query = query.where(KbArticle.category_id == category_id)
    if status:
        query = query.where(KbArticle.status == status)
    async with ctx.db.sessions() as session:
        articles = list(await session.scalars(query.order_by(KbArticle.position, KbArticle.slug)))
        translations = await _translations_of(session, [a.id for a in articles])
    return [(a, translations.get(a.id, [])) for a in articles]


async def _translations_of(
    session: AsyncSession, article_ids: Sequence[str]
) -> dict[str, list[KbTranslation]]:
    out: dict[str, list[KbTranslation]] = {}
    if not article_ids:
        return out
    query = select(KbTranslation).where(KbTranslation.article_id.in_(article_ids))
    for t in await session.scalars(query.order_by(KbTranslation.language)):
        out.setdefault(t.article_id, []).append(t)
    return out


async def _article(session: AsyncSession, org_id: str, article_id: str) -> KbArticle:
    found = await session.get(KbArticle, article_id)
    if found is None or found.org_id != org_id:
        raise NotFound("no such article")
    return found


async def get_article(
    ctx: Context, org_id: str, article_id: str
) -> tuple[KbArticle, list[KbTranslation]]:
    async with ctx.db.sessions() as session:
        article = await _article(session, org_id, article_id)
        translations = await _translations_of(session, [article.id])
    return article, translations.get(article.id, [])


async def do_create_article(
    ctx: Context, org_id: str, actor: str | None, data: ArticleIn
) -> KbArticle:
    """A new draft article, without text yet (save a translation next)."""
    async with ctx.uow() as uow:
        await _category(uow.session, org_id, data.category_id)
        await _slug_free(uow.session, KbArticle, org_id, data.slug)
        now = utcnow()
        article = KbArticle(
            org_id=org_id,
            category_id=data.category_id,
            slug=data.slug,
            position=data.position,
            created_at=now,
            updated_at=now,
        )
        uow.session.add(article)
        await uow.session.flush()
        audit(uow.session, org_id, actor, "kb.article.create", article.id, slug=data.slug)
    return article


async def do_update_article(
    ctx: Context, org_id: str, actor: str | None, article_id: str, data: ArticlePatch
) -> KbArticle:
    async with ctx.uow() as uow:
        article = await _article(uow.session, org_id, article_id)
        if data.category_id is not None:
            article.category_id = (await _category(uow.session, org_id, data.category_id)).id
        if data.slug is not None and data.slug != article.slug:
            await _slug_free(uow.session, KbArticle, org_id, data.slug)
            article.slug = data.slug
        if data.position is not None:
            article.position = data.position
        article.updated_at = utcnow()
        audit(uow.session, org_id, actor, "kb.article.update", article.id)
    return article


async def do_delete_article(ctx: Context, org_id: str, actor: str | None, article_id: str) -> None:
    """Remove an article, its translations, versions and feedback (and its search entries)."""
    async with ctx.uow() as uow:
        article = await _article(uow.session, org_id, article_id)
        translations = await _translations_of(uow.session, [article.id])
        ids = [t.id for t in translations.get(article.id, [])]
        await search_index(ctx.db.dialect).remove(uow.session, ids)
        await uow.session.delete(article)
        audit(uow.session, org_id, actor, "kb.article.delete", article_id, slug=article.slug)


def _document(article: KbArticle, translation: KbTranslation) -> Document:
    return Document(
        translation_id=translation.id,
        org_id=article.org_id,
        article_id=article.id,
        language=translation.language,
        title=translation.title,
        body=rendering.to_text(translation.body),
    )


async def do_save_translation(
    ctx: Context,
    org_id: str,
    actor: str | None,
    article_id: str,
    language: str,
    data: TranslationIn,
) -> KbTranslation:
    """Save the article's text in a language as a new version (the old ones stay); a
    published article shows the new text at once."""
    _known(language)
    async with ctx.uow() as uow:
        article = await uow.lock(KbArticle, article_id)
        if article is None or article.org_id != org_id:
            raise NotFound("no such article")
        translation = await uow.session.scalar(
            select(KbTranslation).where(
                KbTranslation.article_id == article.id, KbTranslation.language == language
            )
        )
        now = utcnow()
        if translation is None:
            translation = KbTranslation(
                org_id=org_id,
                article_id=article.id,
                language=language,
                version=0,
                title=data.title,
                body=data.body,
            )
            uow.session.add(translation)
        translation.version += 1
        translation.title, translation.body = data.title, data.body
        translation.updated_by, translation.updated_at = actor, now
        article.updated_at = now
        await uow.session.flush()
        uow.session.add(
            KbVersion(
                org_id=org_id,
                translation_id=translation.id,
                number=translation.version,
                title=data.title,
                body=data.body,
                author_id=actor,
                created_at=now,
            )
        )
        if article.status == "published":
            await search_index(ctx.db.dialect).put(uow.session, _document(article, translation))
        audit(
            uow.session,
            org_id,
            actor,
            "kb.translation.save",
            article.id,
            language=language,
            version=translation.version,
        )
    return translation


async def do_publish(ctx: Context, org_id: str, actor: str | None, article_id: str) -> KbArticle:
    """Make the article visible in every language it has text in (422 if none)."""
    async with ctx.uow() as uow:
        article = await _locked_article(uow, org_id, article_id)
        translations = (await _translations_of(uow.session, [article.id])).get(article.id, [])
        if not translations:
            raise Invalid("write the article in at least one language before publishing it")
        index = search_index(ctx.db.dialect)
        for translation in translations:
            await index.put(uow.session, _document(article, translation))
        article.status, article.published_at = "published", utcnow()
        article.updated_at = article.published_at
        audit(uow.session, org_id, actor, "kb.article.publish", article.id)
        uow.emit(
            ArticlePublished(
                org_id=org_id,
                article_id=article.id,
                slug=article.slug,
                languages=[t.language for t in translations],
            )
        )
    return article


async def do_unpublish(ctx: Context, org_id: str, actor: str | None, article_id: str) -> KbArticle:
    """Back to draft: readers and search no longer see it."""
    async with ctx.uow() as uow:
        article = await _locked_article(uow, org_id, article_id)
        translations = (await _translations_of(uow.session, [article.id])).get(article.id, [])
        await search_index(ctx.db.dialect).remove(uow.session, [t.id for t in translations])
        article.status, article.updated_at = "draft", utcnow()
        audit(uow.session, org_id, actor, "kb.article.unpublish", article.id)
    return article


async def _locked_article(uow: UnitOfWork, org_id: str, article_id: str) -> KbArticle:
    article = await uow.lock(KbArticle, article_id)
    if article is None or article.org_id != org_id:
        raise NotFound("no such article")
    return article


# ---------------------------------------------------------------- versions
def _known(language: str) -> None:
    if language not in LANGUAGES:
        raise NotFound(f"no language {language[:16]!r}: articles are in {', '.join(LANGUAGES)}")


async def _translation(
    session: AsyncSession, org_id: str, article_id: str, language: str
) -> KbTranslation:
    _known(language)
    await _article(session, org_id, article_id)
    found = await session.scalar(
        select(KbTranslation).where(
            KbTranslation.article_id == article_id, KbTranslation.language == language
        )
    )
    if found is None:
        raise NotFound(f"the article has no {language!r} text")
    return found


async def list_versions(
    ctx: Context, org_id: str, article_id: str, language: str
) -> list[KbVersion]:
    """Every saved version of the article in a language, newest first."""
    async with ctx.db.sessions() as session:
        translation = await _translation(session, org_id, article_id, language)
        query = select(KbVersion).where(KbVersion.translation_id == translation.id)
        return list(await session.scalars(query.order_by(KbVersion.number.desc())))


async def diff_versions(
    ctx: Context, org_id: str, article_id: str, language: str, old: int | None, new: int | None
) -> tuple[int, int, str]:
    """The unified diff from version `old` to version `new` (title first, then body); by
    default `new` is the latest and `old` the one before it."""
    async with ctx.db.sessions() as session:
        translation = await _translation(session, org_id, article_id, language)
        new = translation.version if new is None else new
        old = max(1, new - 1) if old is None else old
        found = {
            v.number: v
            for v in await session.scalars(
                select(KbVersion).where(
                    KbVersion.translation_id == translation.id, KbVersion.number.in_([old, new])
                )
            )
        }
    missing = [n for n in (old, new) if n not in found]
    if missing:
        raise NotFound(f"no version {missing[0]}")
    a, b = found[old], found[new]
    text = diffs.unified(
        f"# {a.title}\n\n{a.body}", f"# {b.title}\n\n{b.body}", f"v{old}", f"v{new}"
    )
    return old, new, text


# ---------------------------------------------------------------- search and reading
@dataclass(frozen=True, slots=True)
class Hit:
    article: KbArticle
    translation: KbTranslation
    title_html: str
    snippet_html: str
    rank: float


async def search(
    ctx: Context,
    org_id: str,
    language: str,
    text: str,
    *,
    typing: bool = False,
    limit: int = 10,
) -> list[Hit]:
    """Published articles in `language` matching `text`, best first, with highlights;
    `typing`: the last word may be unfinished (the widget's suggestions)."""
    return await _search(ctx, org_id, build_query(language, text, prefix=typing), limit)


async def _search(ctx: Context, org_id: str, query: Query, limit: int) -> list[Hit]:
    limit = max(1, min(limit, MAX_RESULTS))
    async with ctx.db.sessions() as session:
        matches = await search_index(ctx.db.dialect).find(session, org_id, query, limit)
        if not matches:
            return []
        translations = {
            t.id: t
            for t in await session.scalars(
                select(KbTranslation).where(
                    KbTranslation.id.in_([m.translation_id for m in matches])
                )
            )
        }
        articles = {
            a.id: a
            for a in await session.scalars(
                select(KbArticle).where(
                    KbArticle.id.in_([m.article_id for m in matches]),
                    KbArticle.status == "published",
                )
            )
        }
    hits = []
    for match in matches:
        article, translation = (
            articles.get(match.article_id),
            translations.get(match.translation_id),
        )
        if article is None or translation is None:
            continue
        hits.append(
            Hit(
                article,
                translation,
                highlight(query, translation.title),
                snippet(query, rendering.to_text(translation.body)),
                match.rank,
            )
        )
    return hits


async def suggest_for_thread(
    ctx: Context, org_id: str, thread_id: str, limit: int = 5
) -> tuple[str, list[Hit]]:
    """Articles for what the customer said last on a thread (their last few messages), in
    the thread's language; returns the language searched and the hits."""
    thread = await get_thread(ctx, org_id, thread_id)
    entries = await timeline(ctx, org_id, thread_id=thread_id)
    said = [
        e.body for e in entries if e.kind == "message" and e.author_type == "customer" and e.body
    ][-SUGGESTION_MESSAGES:]
    language = thread.language if thread.language in LANGUAGES else "en"
    return language, await search(ctx, org_id, language, " ".join(said), limit=limit)


async def org_by_slug(ctx: Context, slug: str) -> Organization:
    """The organisation a public help-center URL names; the request works for it from now."""
    async with ctx.db.sessions() as session:
        org = await session.scalar(select(Organization).where(Organization.slug == slug))
    if org is None:
        raise NotFound("no such help center")
    enter_org(org.id)
    return org


async def org_slug(ctx: Context, org_id: str) -> str:
    async with ctx.db.sessions() as session:
        org = await session.get(Organization, org_id)
    if org is None:
        raise NotFound("no such organisation")
    return org.slug


@dataclass(frozen=True, slots=True)
class Published:
    """A published article in one language, and its category."""

    article: KbArticle
    translation: KbTranslation
    category: KbCategory
    languages: list[str]  # every language it is published in (hreflang alternates)


async def published_categories(
    ctx: Context, org_id: str, language: str
) -> list[tuple[KbCategory, list[tuple[KbArticle, KbTranslation]]]]:
    """The categories with articles published in `language`, each with those articles."""
    async with ctx.db.sessions() as session:
        rows = (
            await session.execute(
                select(KbArticle, KbTranslation)
                .join(KbTranslation, KbTranslation.article_id == KbArticle.id)
                .where(
                    KbArticle.org_id == org_id,
                    KbArticle.status == "published",
                    KbTranslation.language == language,
                )
                .order_by(KbArticle.position, KbTranslation.title)
            )
        ).all()
        categories = await session.scalars(
            select(KbCategory)
            .where(KbCategory.org_id == org_id)
            .order_by(KbCategory.position, KbCategory.slug)
        )
        by_category: dict[str, list[tuple[KbArticle, KbTranslation]]] = {}
        for article, translation in rows:
            by_category.setdefault(article.category_id, []).append((article, translation))
        return [(c, by_category[c.id]) for c in categories if c.id in by_category]


async def published_article(ctx: Context, org_id: str, language: str, slug: str) -> Published:
    """A published article's text in `language`; not found when it is a draft, another
    organisation's, or not written in that language."""
    async with ctx.db.sessions() as session:
        article = await session.scalar(
            select(KbArticle).where(
                KbArticle.org_id == org_id,
                KbArticle.slug == slug,
                KbArticle.status == "published",
            )
        )
        if article is None:
            raise NotFound("no such article")
        translations = (await _translations_of(session, [article.id])).get(article.id, [])
        category = await session.get(KbCategory, article.category_id)
    translation = next((t for t in translations if t.language == language), None)
    if translation is None or category is None:
        raise NotFound("no such article in this language")
    return Published(article, translation, category, [t.language for t in translations])


async def published_sitemap(ctx: Context, org_id: str) -> list[tuple[KbArticle, list[str]]]:
    """Every published article with the languages it is published in."""
    async with ctx.db.sessions() as session:
        rows = (
            await session.execute(
                select(KbArticle, KbTranslation.language)
                .join(KbTranslation, KbTranslation.article_id == KbArticle.id)
                .where(KbArticle.org_id == org_id, KbArticle.status == "published")
                .order_by(KbArticle.slug, KbTranslation.language)
            )
        ).all()
    out: dict[str, tuple[KbArticle, list[str]]] = {}
    for article, language in rows:
        out.setdefault(article.id, (article, []))[1].append(language)
    return list(out.values())


# ---------------------------------------------------------------- feedback
async def do_give_feedback(
    ctx: Context, org_id: str, slug: str, language: str, helpful: bool, source: str
) -> None:
    """Record "did this help?" for a published article a reader sees in `language`."""
    async with ctx.uow() as uow:
        article = await uow.session.scalar(
            select(KbArticle).where(
                KbArticle.org_id == org_id,
                KbArticle.slug == slug,
                KbArticle.status == "published",
            )
        )
        if article is None:
            raise NotFound("no such article")
        uow.session.add(
            KbFeedback(
                org_id=org_id,
                article_id=article.id,
                language=language,
                helpful=helpful,
                source=source,
            )
        )
        uow.emit(
            ArticleFeedbackGiven(
                org_id=org_id,
                article_id=article.id,
                language=language,
                helpful=helpful,
                source=source,
            )
        )


async def feedback_counts(ctx: Context, org_id: str, article_id: str) -> dict[str, dict[str, int]]:
    """Per language: how many said it helped ("yes") and how many said not ("no")."""
    async with ctx.db.sessions() as session:
        await _article(session, org_id, article_id)
        rows = await session.execute(
            select(KbFeedback.language, KbFeedback.helpful, func.count())
            .where(KbFeedback.org_id == org_id, KbFeedback.article_id == article_id)
            .group_by(KbFeedback.language, KbFeedback.helpful)
        )
        out: dict[str, dict[str, int]] = {}
        for language, helpful, n in rows:
            out.setdefault(language, {"yes": 0, "no": 0})["yes" if helpful else "no"] = n
    return out
