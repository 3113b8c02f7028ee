"""The public help center of an organisation, per language, server-rendered: categories,
a category's articles, an article (Markdown rendered safely) with "did this help?", search,
and a sitemap. Indexable (title, description, canonical, hreflang alternates), no script
needed. The organisation's slug in the path says whose it is; drafts, other organisations'
articles and languages an article is not written in are 404."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from xml.sax.saxutils import escape

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from threadline.context import Context
from threadline.errors import NotFound, RateLimited
from threadline.orgs.models import Organization
from threadline.selfservice.knowledge import LANGUAGES, rendering, services
from threadline.web.i18n import accepted_language, page_catalogue
from threadline.web.pages import admin_page, principal_or_none

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parents[2] / "web" / "templates")
CACHE = {"Cache-Control": "public, max-age=300"}
LANGUAGE_NAMES = {
    "en": "English",
    "pt": "Português",
    "es": "Español",
    "ru": "Русский",
    "el": "Ελληνικά",
}
SearchText = Annotated[str, Query(max_length=200)]


def _ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def _base(request: Request) -> str:
    return _ctx(request).settings.base_url.rstrip("/")


def _page(
    request: Request,
    template: str,
    org: Organization,
    language: str,
    path: str,
    languages: list[str] | tuple[str, ...] = LANGUAGES,
    status: int = 200,
    **values: Any,
) -> Response:
    """A help-center page with what search engines read: the canonical URL of `path`
    (under /help/{org}/{language}) and its alternates in `languages`."""
    base = f"{_base(request)}/help/{org.slug}"
    context = {
        "lang": language,
        "t": page_catalogue("help", language),
        "org": org,
        "home": f"/help/{org.slug}/{language}/",
        "canonical": f"{base}/{language}{path}",
        "alternates": [(other, f"{base}/{other}{path}") for other in languages],
        "language_names": LANGUAGE_NAMES,
        "language_links": [(o, f"/help/{org.slug}/{o}{path}") for o in languages if o != language],
        **values,
    }
    headers = CACHE if status == 200 else {"Cache-Control": "no-cache"}
    return templates.TemplateResponse(
        request, template, context, status_code=status, headers=headers
    )


async def _org(request: Request, org_slug: str, language: str) -> Organization:
    if language not in LANGUAGES:
        raise NotFound("no such language")
    return await services.org_by_slug(_ctx(request), org_slug)


def _missing(request: Request, org: Organization | None, language: str) -> Response:
    strings = page_catalogue("help", language if language in LANGUAGES else "en")
    return templates.TemplateResponse(
        request,
        "help_missing.html",
        {"lang": language, "t": strings, "org": org},
        status_code=404,
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/help/{org_slug}", response_class=HTMLResponse)
@router.get("/help/{org_slug}/", response_class=HTMLResponse)
async def help_root(request: Request, org_slug: str) -> Response:
    """The help center in the browser's language."""
    try:
        org = await services.org_by_slug(_ctx(request), org_slug)
    except NotFound:
        return _missing(request, None, "en")
    language = accepted_language(request.headers.get("accept-language"))
    return RedirectResponse(f"/help/{org.slug}/{language}/", status_code=303)


@router.get("/help/{org_slug}/sitemap.xml")
async def sitemap(request: Request, org_slug: str) -> Response:
    """Every published article in every language it is written in, with its alternates."""
    ctx = _ctx(request)
    try:
        org = await services.org_by_slug(ctx, org_slug)
    except NotFound:
        return Response("", status_code=404)
    base = f"{_base(request)}/help/{org.slug}"
    urls = []
    for article, languages in await services.published_sitemap(ctx, org.id):
        links = "".join(
            f'<xhtml:link rel="alternate" hreflang="{lang}" '
            f'href="{escape(f"{base}/{lang}/articles/{article.slug}")}"/>'
            for lang in languages
        )
        for language in languages:
            loc = escape(f"{base}/{language}/articles/{article.slug}")
            lastmod = article.updated_at.date().isoformat()
            urls.append(f"<url><loc>{loc}</loc><lastmod>{lastmod}</lastmod>{links}</url>")
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:xhtml="http://www.w3.org/1999/xhtml">' + "".join(urls) + "</urlset>\n"
    )
    return Response(body, media_type="application/xml", headers=CACHE)


@router.get("/help/{org_slug}/{language}/", response_class=HTMLResponse)
async def help_home(request: Request, org_slug: str, language: str) -> Response:
    """The categories and their articles."""
    try:
        org = await _org(request, org_slug, language)
    except NotFound:
        return _missing(request, None, language)
    categories = await services.published_categories(_ctx(request), org.id, language)
    return _page(request, "help_home.html", org, language, "/", categories=categories)


@router.get("/help/{org_slug}/{language}/search", response_class=HTMLResponse)
async def help_search(
    request: Request, org_slug: str, language: str, q: SearchText = ""
) -> Response:
    """Search the published articles; results with highlighted passages."""
    try:
        org = await _org(request, org_slug, language)
    except NotFound:
        return _missing(request, None, language)
    ctx = _ctx(request)
    hits: list[services.Hit] = []
    limited = False
    if q.strip():
        try:
            await ctx.rate_limits.hit("kb_search", ctx.rate_limits.client(request))
            hits = await services.search(ctx, org.id, language, q)
        except RateLimited:
            limited = True
    results = [(h, Markup(h.title_html), Markup(h.snippet_html)) for h in hits]  # noqa: S704 - escaped by highlight.py
    return _page(
        request,
        "help_search.html",
        org,
        language,
        "/search",
        q=q,
        results=results,
        limited=limited,
    )


@router.get("/help/{org_slug}/{language}/articles/{slug}", response_class=HTMLResponse)
async def help_article(
    request: Request,
    org_slug: str,
    language: str,
    slug: str,
    feedback: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    """One article, and "did this help?"."""
    try:
        org = await _org(request, org_slug, language)
        found = await services.published_article(_ctx(request), org.id, language, slug)
    except NotFound:
        return _missing(request, None, language)
    html = Markup(rendering.to_html(found.translation.body))  # noqa: S704 - markdown-it, html off
    return _page(
        request,
        "help_article.html",
        org,
        language,
        f"/articles/{slug}",
        languages=found.languages,
        article=found.article,
        translation=found.translation,
        category=found.category,
        body=html,
        description=rendering.description(found.translation.body),
        feedback=feedback,
    )


@router.post("/help/{org_slug}/{language}/articles/{slug}/feedback")
async def help_feedback(
    request: Request,
    org_slug: str,
    language: str,
    slug: str,
    helpful: Annotated[str, Form(pattern="^(yes|no)$")],
) -> Response:
    """The "did this help?" buttons (a plain form: no script needed); back to the article."""
    ctx = _ctx(request)
    try:
        org = await _org(request, org_slug, language)
        await ctx.rate_limits.hit("kb_feedback", ctx.rate_limits.client(request))
        await services.do_give_feedback(
            ctx, org.id, slug, language, helpful == "yes", "help_center"
        )
        outcome = "thanks"
    except NotFound:
        return _missing(request, None, language)
    except RateLimited:
        outcome = "later"
    target = f"/help/{org.slug}/{language}/articles/{slug}?feedback={outcome}#feedback"
    return RedirectResponse(target, status_code=303)


@router.get("/help/{org_slug}/{language}/{category}/", response_class=HTMLResponse)
async def help_category(request: Request, org_slug: str, language: str, category: str) -> Response:
    """A category's published articles."""
    try:
        org = await _org(request, org_slug, language)
    except NotFound:
        return _missing(request, None, language)
    categories = await services.published_categories(_ctx(request), org.id, language)
    found = next(((c, a) for c, a in categories if c.slug == category), None)
    if found is None:
        return _missing(request, org, language)
    return _page(
        request,
        "help_category.html",
        org,
        language,
        f"/{category}/",
        category=found[0],
        articles=found[1],
    )


def name_in(names: dict[str, Any], language: str) -> str:
    """A category's name in the language, else in English, else any."""
    value = names.get(language) or names.get("en") or next(iter(names.values()), "")
    return str(value)


templates.env.globals["name_in"] = name_in


@router.get("/admin/help", response_class=HTMLResponse)
async def admin_help(request: Request) -> Response:
    """Admins write the knowledge base (through /api/v1/kb): /login for nobody, 403 for a
    non-admin."""
    principal = await principal_or_none(request)
    slug = await services.org_slug(_ctx(request), principal.org_id) if principal else None
    return await admin_page(
        request, "help_admin", context={"org_slug": slug}, languages=list(LANGUAGES)
    )
