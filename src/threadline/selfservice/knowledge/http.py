"""The knowledge base's staff API: admins write and publish, agents (and supervisors) read,
search, and get suggestions beside a thread."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from threadline.auth.dependencies import Admin, AgentUser, Ctx
from threadline.channels.app.services import get_app
from threadline.channels.chat.services import get_widget
from threadline.channels.models import Endpoint
from threadline.context import Context
from threadline.errors import PROBLEM_RESPONSES
from threadline.ratelimit import rate_limited
from threadline.selfservice.knowledge import LANGUAGES, rendering, services
from threadline.selfservice.knowledge.models import KbArticle, KbTranslation
from threadline.selfservice.knowledge.schemas import (
    ArticleIn,
    ArticleOut,
    ArticlePatch,
    ArticleView,
    CategoryIn,
    CategoryOut,
    CategoryPatch,
    DiffOut,
    FeedbackIn,
    FeedbackOut,
    HitOut,
    Language,
    TranslationIn,
    TranslationOut,
    VersionOut,
)
from threadline.web.customer_api import CustomerRoute

router = APIRouter(prefix="/api/v1/kb", tags=["knowledge base"], responses=PROBLEM_RESPONSES)
SearchText = Annotated[str, Query(max_length=500, description="what to look for")]
# a translation is a resource: one in a language we do not write in is not found (404)
LanguagePath = Annotated[str, Path(description="en, pt, es, ru or el")]


def article_url(ctx: Context, org_slug: str, language: str, slug: str) -> str:
    base = ctx.settings.base_url.rstrip("/")
    return f"{base}/help/{org_slug}/{language}/articles/{slug}"


def _article(article: KbArticle, translations: list[KbTranslation]) -> ArticleOut:
    out = ArticleOut.model_validate(article)
    out.translations = [TranslationOut.model_validate(t) for t in translations]
    return out


async def hits_out(ctx: Context, org_id: str, hits: list[services.Hit]) -> list[HitOut]:
    slug = await services.org_slug(ctx, org_id) if hits else ""
    return [
        HitOut(
            article_id=h.article.id,
            slug=h.article.slug,
            language=h.translation.language,
            title=h.translation.title,
            title_html=h.title_html,
            snippet_html=h.snippet_html,
            url=article_url(ctx, slug, h.translation.language, h.article.slug),
            rank=h.rank,
        )
        for h in hits
    ]


# ---------------------------------------------------------------- categories
@router.get("/categories", response_model=list[CategoryOut])
async def categories(principal: AgentUser, ctx: Ctx) -> list[CategoryOut]:
    return [
        CategoryOut.model_validate(c) for c in await services.list_categories(ctx, principal.org_id)
    ]


@router.post("/categories", response_model=CategoryOut, status_code=201)
async def create_category(body: CategoryIn, principal: Admin, ctx: Ctx) -> CategoryOut:
    created = await services.do_create_category(ctx, principal.org_id, principal.agent_id, body)
    return CategoryOut.model_validate(created)


@router.patch("/categories/{category_id}", response_model=CategoryOut)
async def update_category(
    category_id: str, body: CategoryPatch, principal: Admin, ctx: Ctx
) -> CategoryOut:
    updated = await services.do_update_category(
        ctx, principal.org_id, principal.agent_id, category_id, body
    )
    return CategoryOut.model_validate(updated)


@router.delete("/categories/{category_id}", status_code=204, response_class=Response)
async def delete_category(category_id: str, principal: Admin, ctx: Ctx) -> Response:
    """Remove an empty category (409 while it holds articles)."""
    await services.do_delete_category(ctx, principal.org_id, principal.agent_id, category_id)
    return Response(status_code=204)


# ---------------------------------------------------------------- articles
@router.get("/articles", response_model=list[ArticleOut])
async def articles(
    principal: AgentUser,
    ctx: Ctx,
    category_id: Annotated[str | None, Query(max_length=36)] = None,
    status: Annotated[str | None, Query(pattern="^(draft|published)$")] = None,
) -> list[ArticleOut]:
    """Every article with its translations, drafts included."""
    found = await services.list_articles(
        ctx, principal.org_id, category_id=category_id, status=status
    )
    return [_article(a, t) for a, t in found]


@router.post("/articles", response_model=ArticleOut, status_code=201)
async def create_article(body: ArticleIn, principal: Admin, ctx: Ctx) -> ArticleOut:
    """A new draft; write it in a language with PUT .../translations/{language}."""
    created = await services.do_create_article(ctx, principal.org_id, principal.agent_id, body)
    return _article(created, [])


@router.get("/articles/{article_id}", response_model=ArticleOut)
async def article(article_id: str, principal: AgentUser, ctx: Ctx) -> ArticleOut:
    return _article(*await services.get_article(ctx, principal.org_id, article_id))


@router.patch("/articles/{article_id}", response_model=ArticleOut)
async def update_article(
    article_id: str, body: ArticlePatch, principal: Admin, ctx: Ctx
) -> ArticleOut:
    await services.do_update_article(ctx, principal.org_id, principal.agent_id, article_id, body)
    return _article(*await services.get_article(ctx, principal.org_id, article_id))


@router.delete("/articles/{article_id}", status_code=204, response_class=Response)
async def delete_article(article_id: str, principal: Admin, ctx: Ctx) -> Response:
    """Remove an article with every version and its feedback."""
    await services.do_delete_article(ctx, principal.org_id, principal.agent_id, article_id)
    return Response(status_code=204)


@router.put("/articles/{article_id}/translations/{language}", response_model=TranslationOut)
async def save_translation(
    article_id: str, language: LanguagePath, body: TranslationIn, principal: Admin, ctx: Ctx
) -> TranslationOut:
    """Save the article's text in a language: a new version each time, the old kept."""
    saved = await services.do_save_translation(
        ctx, principal.org_id, principal.agent_id, article_id, language, body
    )
    return TranslationOut.model_validate(saved)


@router.post("/articles/{article_id}/publish", response_model=ArticleOut)
async def publish(article_id: str, principal: Admin, ctx: Ctx) -> ArticleOut:
    """Readers see it in every language it is written in (422 if none yet)."""
    await services.do_publish(ctx, principal.org_id, principal.agent_id, article_id)
    return _article(*await services.get_article(ctx, principal.org_id, article_id))


@router.post("/articles/{article_id}/unpublish", response_model=ArticleOut)
async def unpublish(article_id: str, principal: Admin, ctx: Ctx) -> ArticleOut:
    """Back to draft: the help center, the widget and search no longer show it."""
    await services.do_unpublish(ctx, principal.org_id, principal.agent_id, article_id)
    return _article(*await services.get_article(ctx, principal.org_id, article_id))


@router.get(
    "/articles/{article_id}/translations/{language}/versions", response_model=list[VersionOut]
)
async def versions(
    article_id: str, language: LanguagePath, principal: AgentUser, ctx: Ctx
) -> list[VersionOut]:
    """Every saved version (who, when, what), newest first."""
    found = await services.list_versions(ctx, principal.org_id, article_id, language)
    return [VersionOut.model_validate(v) for v in found]


@router.get("/articles/{article_id}/translations/{language}/diff", response_model=DiffOut)
async def diff(
    article_id: str,
    language: LanguagePath,
    principal: AgentUser,
    ctx: Ctx,
    from_version: Annotated[int | None, Query(alias="from", ge=1, le=2**31)] = None,
    to_version: Annotated[int | None, Query(alias="to", ge=1, le=2**31)] = None,
) -> DiffOut:
    """What changed from one version to another, as a unified diff (by default, what the
    latest version changed)."""
    old, new, text = await services.diff_versions(
        ctx, principal.org_id, article_id, language, from_version, to_version
    )
    return DiffOut(from_version=old, to_version=new, diff=text)


@router.get("/articles/{article_id}/feedback", response_model=dict[str, dict[str, int]])
async def feedback(article_id: str, principal: AgentUser, ctx: Ctx) -> dict[str, dict[str, int]]:
    """ "Did this help?" answers per language: {"pt": {"yes": 12, "no": 3}}."""
    return await services.feedback_counts(ctx, principal.org_id, article_id)


# ---------------------------------------------------------------- search
@router.get("/search", response_model=list[HitOut])
async def search(
    q: SearchText,
    language: Language,
    principal: AgentUser,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=services.MAX_RESULTS)] = 10,
) -> list[HitOut]:
    """Published articles in a language, best match first, with highlighted snippets."""
    hits = await services.search(ctx, principal.org_id, language, q, limit=limit)
    return await hits_out(ctx, principal.org_id, hits)


@router.get("/threads/{thread_id}/suggestions", response_model=list[HitOut])
async def suggestions(thread_id: str, principal: AgentUser, ctx: Ctx) -> list[HitOut]:
    """Articles for what the customer said last on the thread, in the thread's language:
    the agent can send one's link in the reply."""
    _language, hits = await services.suggest_for_thread(ctx, principal.org_id, thread_id)
    return await hits_out(ctx, principal.org_id, hits)


# ---------------------------------------------------------------- the widget and the app
# Called from the customer's site or app (another origin), by the public key of a chat
# widget or an app endpoint, which says whose articles these are; no visitor token needed
# (the articles are public), limits per client address.
widget_router = APIRouter(
    prefix="/api/v1/widget/{key}/help",
    tags=["chat widget"],
    responses=PROBLEM_RESPONSES,
    route_class=CustomerRoute,
)
app_router = APIRouter(
    prefix="/api/v1/app/{key}/help",
    tags=["app"],
    responses=PROBLEM_RESPONSES,
    route_class=CustomerRoute,
)
TypedText = Annotated[str, Query(max_length=200, description="what is typed so far")]
ReaderLanguage = Annotated[
    Language | None, Query(description="the reader's language (default: the endpoint's)")
]


async def _endpoint(ctx: Context, key: str, source: str) -> Endpoint:
    return await (get_widget(ctx, key) if source == "widget" else get_app(ctx, key))


def _language(endpoint: Endpoint, language: str | None) -> str:
    chosen = language or (endpoint.settings or {}).get("language") or "en"
    return chosen if chosen in LANGUAGES else "en"


async def _reader_search(
    ctx: Context, key: str, source: str, q: str, language: str | None, typing: bool
) -> list[HitOut]:
    endpoint = await _endpoint(ctx, key, source)
    hits = await services.search(
        ctx, endpoint.org_id, _language(endpoint, language), q, typing=typing, limit=5
    )
    return await hits_out(ctx, endpoint.org_id, hits)


async def _reader_article(
    ctx: Context, key: str, source: str, slug: str, language: str | None
) -> ArticleView:
    endpoint = await _endpoint(ctx, key, source)
    language = _language(endpoint, language)
    found = await services.published_article(ctx, endpoint.org_id, language, slug)
    org_slug = await services.org_slug(ctx, endpoint.org_id)
    return ArticleView(
        article_id=found.article.id,
        slug=found.article.slug,
        language=language,
        title=found.translation.title,
        html=rendering.to_html(found.translation.body),
        url=article_url(ctx, org_slug, language, found.article.slug),
        category=str(found.category.names.get(language) or found.category.slug),
    )


async def _reader_feedback(
    ctx: Context, key: str, source: str, slug: str, body: FeedbackIn
) -> FeedbackOut:
    endpoint = await _endpoint(ctx, key, source)
    await services.do_give_feedback(ctx, endpoint.org_id, slug, body.language, body.helpful, source)
    return FeedbackOut()


@widget_router.get(
    "/search", response_model=list[HitOut], dependencies=[Depends(rate_limited("kb_search"))]
)
async def widget_search(
    key: str, ctx: Ctx, q: TypedText = "", language: ReaderLanguage = None, typing: bool = True
) -> list[HitOut]:
    """Articles for what the visitor is typing (`typing`: the last word may be unfinished)."""
    return await _reader_search(ctx, key, "widget", q, language, typing)


@widget_router.get("/articles/{slug}", response_model=ArticleView)
async def widget_article(
    key: str, slug: str, ctx: Ctx, language: ReaderLanguage = None
) -> ArticleView:
    """A published article, its body as sanitised HTML."""
    return await _reader_article(ctx, key, "widget", slug, language)


@widget_router.post(
    "/articles/{slug}/feedback",
    response_model=FeedbackOut,
    status_code=201,
    dependencies=[Depends(rate_limited("kb_feedback"))],
)
async def widget_feedback(key: str, slug: str, body: FeedbackIn, ctx: Ctx) -> FeedbackOut:
    """ "Did this help?" from the widget."""
    return await _reader_feedback(ctx, key, "widget", slug, body)


@app_router.get(
    "/search", response_model=list[HitOut], dependencies=[Depends(rate_limited("kb_search"))]
)
async def app_search(
    key: str, ctx: Ctx, q: TypedText = "", language: ReaderLanguage = None, typing: bool = True
) -> list[HitOut]:
    """Articles for what the customer is typing in the app."""
    return await _reader_search(ctx, key, "app", q, language, typing)


@app_router.get("/articles/{slug}", response_model=ArticleView)
async def app_article(
    key: str, slug: str, ctx: Ctx, language: ReaderLanguage = None
) -> ArticleView:
    """A published article, its body as sanitised HTML."""
    return await _reader_article(ctx, key, "app", slug, language)


@app_router.post(
    "/articles/{slug}/feedback",
    response_model=FeedbackOut,
    status_code=201,
    dependencies=[Depends(rate_limited("kb_feedback"))],
)
async def app_feedback(key: str, slug: str, body: FeedbackIn, ctx: Ctx) -> FeedbackOut:
    """ "Did this help?" from the app."""
    return await _reader_feedback(ctx, key, "app", slug, body)
