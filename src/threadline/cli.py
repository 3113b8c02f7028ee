"""`threadline serve | migrate | demo | create-agent | staffing | forecast | analytics`."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from threadline.analytics import forecast_cli
from threadline.config import Settings
from threadline.db import across_orgs
from threadline.intents import cli as intents_cli
from threadline.queueing import staffing_cli
from threadline.simulation import cli as simulate_cli

app = typer.Typer(help="Threadline: one customer, one thread, every channel.", no_args_is_help=True)
console = Console()
staffing_cli.register(app)
simulate_cli.register(app)
intents_cli.register(app)
forecast_cli.register(app)


def _settings() -> Settings:
    return Settings()


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    from threadline.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    console.print(f"[green]database is up to date[/green] ({_safe_url(settings.database_url)})")


def _safe_url(url: str) -> str:
    """The URL without its password, for printing."""
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://***@{rest.split('@', 1)[1]}"


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
) -> None:
    """Serve the API, the agent desktop and the chat widget."""
    import uvicorn

    from threadline.app import create_app

    settings = _settings()
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_level=settings.log_level.lower(),
        ws="websockets-sansio",
        ws_per_message_deflate=False,  # chat frames are small; compressing them costs CPU
        # the client address is the socket peer unless Settings.trusted_proxies says which
        # proxies' X-Forwarded-For to believe (ratelimit.py), not uvicorn's own default
        proxy_headers=False,
    )


@app.command()
def demo(
    env_file: Annotated[Path, typer.Option(help="where to keep a stable secret key")] = Path(
        ".env"
    ),
) -> None:
    """Migrate, then load the demo company (idempotent) and print how to try it."""
    from threadline.demo import (
        AGENTS,
        DEMO_PASSWORD,
        DEMO_WIDGET_KEY,
        ensure_demo_intents,
        load_demo,
    )
    from threadline.migrate import upgrade

    _ensure_secret(env_file)
    settings = _settings()
    upgrade(settings.database_url)
    created = asyncio.run(_with_context(settings, load_demo))
    console.print("[green]demo data loaded[/green]" if created else "demo data already present")
    with console.status("intent model") as status:
        note = ensure_demo_intents(progress=lambda step: status.update(f"intent model: {step}"))
    console.print(note, highlight=False)
    base = settings.base_url
    console.print(f"\n  Agent desktop:   {base}/login")
    console.print(f"  Supervisor view: {base}/supervisor")
    console.print(f"  Customer site:   {base}/demo-site  (chat widget '{DEMO_WIDGET_KEY}')")
    console.print(f"  API docs:        {base}/docs\n")
    console.print(f"  Logins (password [bold]{DEMO_PASSWORD}[/bold]):")
    for name, email, role, _skills, languages, *_ in AGENTS:
        console.print(f"    {email:<20} {role:<11} {name} ({', '.join(languages)})")


def _ensure_secret(env_file: Path) -> None:
    """A stable secret so that sessions and visitor tokens survive restarts."""
    text = env_file.read_text() if env_file.exists() else ""
    if "THREADLINE_SECRET_KEY" not in text:
        with env_file.open("a") as handle:
            handle.write(f"THREADLINE_SECRET_KEY={secrets.token_urlsafe(32)}\n")
        env_file.chmod(0o600)


async def _with_context(settings: Settings, work):  # type: ignore[no-untyped-def]
    from threadline.app import build_context

    ctx = build_context(settings)
    try:
        with across_orgs():  # the operator at the console acts for any organisation
            return await work(ctx)
    finally:
        await ctx.db.dispose()


@app.command("create-agent")
def create_agent(
    org: Annotated[str, typer.Option(help="organisation slug (created if missing)")],
    email: Annotated[str, typer.Option()],
    name: Annotated[str, typer.Option()],
    role: Annotated[str, typer.Option(help="agent | supervisor | admin")] = "agent",
    skills: Annotated[str, typer.Option(help="e.g. 'cards:4,general:3'")] = "general:3",
    languages: Annotated[str, typer.Option(help="e.g. 'en,pt'")] = "en",
    password: Annotated[
        str | None, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)
    ] = None,
) -> None:
    """Create an agent account (the password is asked for, never echoed)."""
    from pydantic import ValidationError

    from threadline.agents.schemas import AgentCreate
    from threadline.errors import ThreadlineError

    try:
        data = AgentCreate.model_validate(
            {
                "email": email,
                "name": name,
                "role": role,
                "password": password or "",
                "skills": {
                    k.strip(): int(v) for k, v in (p.split(":") for p in skills.split(",") if p)
                },
                "languages": [lang.strip() for lang in languages.split(",") if lang.strip()],
            }
        )
    except (ValidationError, ValueError) as exc:
        console.print(f"[red]invalid agent:[/red] {exc}")
        raise typer.Exit(2) from exc
    try:
        agent = asyncio.run(_with_context(_settings(), lambda ctx: _create(ctx, org, data)))
    except ThreadlineError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc
    console.print(f"[green]created[/green] {agent.email} ({agent.role}) id={agent.id}")


async def _create(ctx, org_slug: str, data):  # type: ignore[no-untyped-def]
    from threadline.agents.services import do_create_agent
    from threadline.errors import NotFound
    from threadline.orgs.services import do_create_org, get_org_by_slug

    try:
        org = await get_org_by_slug(ctx, org_slug)
    except NotFound:
        org = await do_create_org(ctx, org_slug, org_slug)
    return await do_create_agent(ctx, org.id, data)


analytics = typer.Typer(help="KPI counters behind the reports.", no_args_is_help=True)
app.add_typer(analytics, name="analytics")


@analytics.command("rebuild")
def analytics_rebuild(
    org: Annotated[str | None, typer.Option(help="organisation slug (default: all)")] = None,
    since: Annotated[
        str | None, typer.Option(help="date or moment with offset (default: all history)")
    ] = None,
) -> None:
    """Recompute the KPI counters from the contacts and the event log (they then equal what
    the live consumer counts); writes pause while it runs."""
    from datetime import UTC, datetime

    from threadline.analytics.aggregates import rebuild
    from threadline.errors import ThreadlineError

    try:
        moment = datetime.fromisoformat(since) if since else None
    except ValueError as exc:
        console.print(f"[red]--since {since!r}: not a date or moment[/red]")
        raise typer.Exit(2) from exc
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)

    async def work(ctx):  # type: ignore[no-untyped-def]
        from threadline.orgs.services import get_org_by_slug

        org_id = (await get_org_by_slug(ctx, org)).id if org else None
        with console.status("rebuilding") as status:
            return await rebuild(
                ctx, org_id, moment, lambda n: status.update(f"rebuilding: {n:,} contacts")
            )

    try:
        done = asyncio.run(_with_context(_settings(), work))
    except ThreadlineError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from exc
    console.print(
        f"[green]rebuilt[/green] {done.contacts:,} contacts into {done.contact_rows:,} rows, "
        f"{done.events:,} events into {done.event_rows:,} rows (log position {done.position})"
    )


def main() -> None:
    app()
