"""Security headers on every page (issue 8, item 3): a Content-Security-Policy without inline
script, framing refused for staff pages and allowed for customer app pages only where the
operator says so, nosniff and a Referrer-Policy everywhere; files under /media downloaded
unless their type is safe to show, always sandboxed."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.conftest import Running, World, login
from tests.integration.test_app_api import make_app
from threadline.config import Settings
from threadline.web.media import MediaRef, media_links, media_store

CUSTOMER_SITE = "https://www.bank.example"
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(
        update={
            "email_attachments_dir": tmp_path / "files",
            "app_frame_ancestors": [CUSTOMER_SITE],
        }
    )


def directives(response: httpx.Response) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    parts = (d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    return {p[0]: (p[1] if len(p) > 1 else "") for p in parts}


def assert_page(response: httpx.Response, *, frameable_by: str | None = None) -> None:
    """An HTML page of ours: strict CSP, no inline script, framing as documented."""
    assert response.headers["content-type"].startswith("text/html"), response.url
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] in ("same-origin", "no-referrer")
    csp = directives(response)
    assert csp["script-src"] == "'self'", csp  # no 'unsafe-inline', no 'unsafe-eval'
    assert csp["object-src"] == "'none'" and csp["base-uri"] == "'none'"
    assert csp["default-src"] == "'self'"
    if frameable_by is None:
        assert csp["frame-ancestors"] == "'none'"
        assert response.headers["x-frame-options"] == "DENY"
    else:
        assert csp["frame-ancestors"] == frameable_by
        assert "x-frame-options" not in response.headers
    for attributes in SCRIPT_TAG.findall(response.text):
        # every script is a file, or a JSON data island the browser never runs
        assert "src=" in attributes or 'type="application/json"' in attributes, (
            response.url,
            attributes,
        )


async def test_staff_pages_are_never_framed_and_run_no_inline_script(
    server: Running, world: World
) -> None:
    async with server.client() as anonymous:
        assert_page(await anonymous.get("/login"))
        assert_page(await anonymous.get("/demo-site"))
        assert_page(await anonymous.get("/docs"))
        redoc = await anonymous.get("/redoc")
        assert_page(redoc)
        assert directives(redoc)["worker-src"] == "'self' blob:"  # ReDoc's search worker
        # the API docs load nothing from another host
        for url in ("/docs", "/redoc"):
            page = (await anonymous.get(url)).text
            assert "cdn" not in page.lower() and "https://" not in page
    for email, pages in (
        (
            "nikos@example.com",
            ["/desktop", "/supervisor", "/supervisor/incidents", "/reports", "/planning"],
        ),
        (
            "admin@example.com",
            ["/admin/channels", "/admin/queues", "/supervisor/incidents", "/admin/reasons"],
        ),
        ("rui@example.com", ["/customers/no-such-customer"]),
        # 403 for an agent:
        (
            "rui@example.com",
            ["/admin/channels", "/admin/queues", "/supervisor/incidents", "/reports", "/planning"],
        ),
    ):
        agent = await login(server, email)
        for path in pages:
            response = await agent.get(path)
            assert response.status_code in (200, 403), (path, response.status_code)
            assert_page(response)
        await agent.aclose()


async def test_customer_pages_are_framed_only_where_the_operator_allows(
    server: Running, world: World
) -> None:
    app = await make_app(server, world)
    async with server.client() as customer:
        assert_page(await customer.get(f"/app/{app.key}"), frameable_by=CUSTOMER_SITE)
        assert_page(await customer.get(f"/app/{app.key}/offline"), frameable_by=CUSTOMER_SITE)
        # the manage link is a credential with a cancel button: never framed, never referred
        manage = await customer.get("/callback/not-a-real-token")
        assert manage.status_code == 404
        assert_page(manage)
        assert manage.headers["referrer-policy"] == "no-referrer"
        # the API: nosniff and a referrer policy; no page policy needed
        health = await customer.get("/healthz")
        assert health.headers["x-content-type-options"] == "nosniff"
        assert health.headers["referrer-policy"] == "same-origin"
        assert "content-security-policy" not in health.headers


@pytest.mark.parametrize(
    ("content_type", "disposition"),
    [
        ("image/png", "inline"),
        ("image/jpeg", "inline"),
        ("audio/ogg", "inline"),
        ("video/mp4", "inline"),
        ("image/svg+xml", "attachment"),  # an SVG document runs script
        ("text/html", "attachment"),
        ("application/pdf", "attachment"),
        ("application/xhtml+xml", "attachment"),
        ("text/plain; charset=utf-8", "attachment"),
        ("IMAGE/PNG; name=x", "inline"),
    ],
)
async def test_media_files_download_unless_safe_to_show_and_are_always_sandboxed(
    server: Running, content_type: str, disposition: str
) -> None:
    settings = server.ctx.settings
    body = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"
    sha256 = await media_store(settings).put(body)
    url = media_links(settings).url(MediaRef(sha256, content_type, "file name.bin"))
    async with server.client() as anyone:
        response = await anyone.get(url.removeprefix(server.base_url))
    assert response.status_code == 200 and response.content == body
    assert response.headers["content-disposition"].startswith(f"{disposition}; filename*=")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    csp = directives(response)
    assert "sandbox" in csp and csp["default-src"] == "'none'"
    assert "script-src" not in csp
