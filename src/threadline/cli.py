"""`threadline serve | migrate | demo | create-agent | backup | restore | staffing | forecast |
analytics` (and more: `threadline --help`)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console

from threadline.analytics import forecast_cli
from threadline.config import Settings
from threadline.db import across_orgs
from threadline.intents import cli as intents_cli
from threadline.queueing import staffing_cli
from threadline.simulation import cli as simulate_cli

if TYPE_CHECKING:
    from threadline.agents.schemas import AgentCreate
    from threadline.encryption import Keyring

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
    from threadline.encryption import keyring_for
    from threadline.migrate import upgrade

    settings = _settings()
    keyring = keyring_for(settings)
    upgrade(settings.database_url, keyring=keyring)
    console.print(f"[green]database is up to date[/green] ({_safe_url(settings.database_url)})")
    _note_generated_key(keyring)


def _note_generated_key(keyring: Keyring) -> None:
    if keyring.generated:
        console.print(
            f"[yellow]no encryption key was configured: a new one is in {keyring.source} "
            "(owner-only). Back it up apart from the database: secrets stored with it cannot "
            "be read without it.[/yellow]"
        )


@app.command("generate-key")
def generate_key_command() -> None:
    """Print a new encryption key (for THREADLINE_ENCRYPTION_KEYS)."""
    from threadline.encryption import generate_key

    typer.echo(generate_key())


@app.command("rotate-keys")
def rotate_keys() -> None:
    """Re-encrypt every stored secret with the first of THREADLINE_ENCRYPTION_KEYS; the other
    keys can be removed afterwards."""
    from threadline.db import Base, Database
    from threadline.encryption import EncryptionError, configured_keyring, rotate_all
    from threadline.models import import_models

    settings = _settings()
    keyring = configured_keyring(settings)
    if keyring is None:
        _cli_error("no encryption keys configured (THREADLINE_ENCRYPTION_KEYS or the key file)")
    import_models()

    async def work() -> int:
        db = Database(settings.database_url, keyring)
        try:
            return await rotate_all(db.engine, Base.metadata, keyring)
        finally:
            await db.dispose()

    try:
        count = asyncio.run(work())
    except EncryptionError as exc:
        _cli_error(str(exc))
    console.print(f"[green]{count} secrets re-encrypted with the first key[/green]")


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
    _check_secrets_readable(settings)
    uvicorn.run(
        create_app(settings, freeze_heap=True),
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
def worker() -> None:
    """Fire the callbacks' timers beside `threadline serve`, so they stay on time while the
    server restarts. Set THREADLINE_TIMER_WORKER=true for both: the server then reads what
    the worker commits. Stops on SIGINT or SIGTERM."""
    from threadline.app import run_worker
    from threadline.logging import configure_logging

    settings = _settings()
    _check_secrets_readable(settings)
    configure_logging(settings.log_level, settings.log_json)
    if not settings.timer_worker:
        _cli_error(
            "set THREADLINE_TIMER_WORKER=true for the worker and the server alike: "
            "without it the server would not hear of the contacts the worker opens"
        )

    async def until_stopped() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await run_worker(settings)

    asyncio.run(until_stopped())


def _check_secrets_readable(settings: Settings) -> None:
    """Refuse to start, with the reason, when the stored secrets cannot be decrypted."""
    from threadline.db import Base, Database
    from threadline.encryption import EncryptionError, check_readable, keyring_for
    from threadline.models import import_models

    import_models()
    try:
        keyring = keyring_for(settings)
    except EncryptionError as exc:
        _cli_error(str(exc))

    async def check() -> None:
        db = Database(settings.database_url, keyring)
        try:
            await check_readable(db.engine, Base.metadata, keyring)
        finally:
            await db.dispose()

    try:
        asyncio.run(check())
    except EncryptionError as exc:
        _cli_error(str(exc))
    _note_generated_key(keyring)


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
    from threadline.encryption import keyring_for
    from threadline.migrate import upgrade

    _ensure_secret(env_file)
    settings = _settings()
    keyring = keyring_for(settings)
    upgrade(settings.database_url, keyring=keyring)
    _note_generated_key(keyring)
    created = asyncio.run(_with_context(settings, load_demo))
    console.print("[green]demo data loaded[/green]" if created else "demo data already present")
    with console.status("intent model") as status:
        note = ensure_demo_intents(progress=lambda step: status.update(f"intent model: {step}"))
    console.print(note, highlight=False)
    base = settings.base_url
    console.print(f"\n  Agent desktop:   {base}/login")
    console.print(f"  Supervisor view: {base}/supervisor")
    console.print(f"  Customer site:   {base}/demo-site  (chat widget '{DEMO_WIDGET_KEY}')")
    console.print(f"  App page:        {base}/app/{DEMO_WIDGET_KEY}")
    console.print(f"  API docs:        {base}/docs")
    if settings.demo_simulated:
        console.print(f"  Simulated:       {base}/simulated  (phone, mail and voice pages)")
    console.print("")
    console.print(f"  Logins (password [bold]{DEMO_PASSWORD}[/bold]):")
    for name, email, role, _skills, languages, *_ in AGENTS:
        console.print(f"    {email:<20} {role:<11} {name} ({', '.join(languages)})")


def _ensure_secret(env_file: Path) -> None:
    """A stable secret so that sessions and visitor tokens survive restarts, and the demo's
    intent models where the bot and /admin/intents find them, and the simulated providers
    with the built-in SMTP server on (threadline/simulated)."""
    from threadline.demo import DEMO_ENV, DEMO_INTENTS_ROOT

    text = env_file.read_text() if env_file.exists() else ""
    lines = []
    if "THREADLINE_SECRET_KEY" not in text:
        lines.append(f"THREADLINE_SECRET_KEY={secrets.token_urlsafe(32)}")
    if "THREADLINE_INTENT_MODELS_DIR" not in text:
        lines.append(f"THREADLINE_INTENT_MODELS_DIR={DEMO_INTENTS_ROOT}")
    lines += [f"{name}={value}" for name, value in DEMO_ENV.items() if name not in text]
    if lines:
        with env_file.open("a") as handle:
            handle.write("".join(f"{line}\n" for line in lines))
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
    org: Annotated[str, typer.Option(help="organisation slug (must exist, see --create-org)")],
    email: Annotated[str, typer.Option()],
    name: Annotated[str, typer.Option()],
    role: Annotated[str, typer.Option(help="agent | supervisor | admin")] = "agent",
    skills: Annotated[str, typer.Option(help="e.g. 'cards:4,general:3'")] = "general:3",
    languages: Annotated[str, typer.Option(help="e.g. 'en,pt'")] = "en",
    create_org: Annotated[
        bool, typer.Option("--create-org", help="create the organisation if it does not exist")
    ] = False,
    password: Annotated[
        str | None,
        typer.Option(help="asked for, never echoed, when not given (keeps it out of history)"),
    ] = None,
) -> None:
    """Create an agent account. Everything is checked before the password is asked for."""
    from threadline.errors import ThreadlineError

    fields = _agent_fields(email, name, role, skills, languages)
    _check_agent(fields, "placeholder-password")  # every other field, before the prompt
    settings = _settings()
    try:
        found = asyncio.run(_with_context(settings, lambda ctx: _find_org(ctx, org)))
    except Exception as exc:  # no database, not migrated: one line, no traceback
        _cli_error(f"cannot read the database ({_safe_url(settings.database_url)}): {_why(exc)}")
    if not found and not create_org:
        _cli_error(f"no organisation {org!r}: check the slug, or add --create-org to create it")
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    data = _check_agent(fields, password)
    try:
        agent = asyncio.run(_with_context(settings, lambda ctx: _create(ctx, org, data)))
    except ThreadlineError as exc:
        _cli_error(exc.message, code=1)
    console.print(f"[green]created[/green] {agent.email} ({agent.role}) id={agent.id}")


def _why(exc: Exception) -> str:
    """A database error in one line (SQLAlchemy's carry the SQL and a link), with what to do
    when the schema is missing."""
    original = getattr(exc, "orig", None) or exc
    first = (str(original).strip().splitlines() or [type(exc).__name__])[0]
    if "no such table" in first or ("relation" in first and "does not exist" in first):
        return f"{first}; run `threadline migrate` first"
    return first


def _cli_error(message: str, code: int = 2) -> NoReturn:
    Console(stderr=True).print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def _agent_fields(
    email: str, name: str, role: str, skills: str, languages: str
) -> dict[str, object]:
    levels: dict[str, int] = {}
    for part in (p.strip() for p in skills.split(",") if p.strip()):
        skill, sep, level = part.partition(":")
        if not sep or not skill.strip() or not level.strip().isdigit():
            _cli_error(f"--skills: {part!r} is not SKILL:LEVEL (e.g. cards:4)")
        levels[skill.strip()] = int(level)
    return {
        "email": email,
        "name": name,
        "role": role,
        "skills": levels,
        "languages": [lang.strip() for lang in languages.split(",") if lang.strip()],
    }


def _check_agent(fields: dict[str, object], password: str) -> AgentCreate:
    """The agent as the API would take it, or one line per problem and exit code 2."""
    from pydantic import ValidationError

    from threadline.agents.schemas import AgentCreate

    try:
        return AgentCreate.model_validate({**fields, "password": password})
    except ValidationError as exc:
        problems = "; ".join(
            f"--{'-'.join(str(p) for p in e['loc'][:1])}: {e['msg']}" for e in exc.errors()
        )
        _cli_error(problems)


async def _find_org(ctx, org_slug: str) -> bool:  # type: ignore[no-untyped-def]
    from threadline.errors import NotFound
    from threadline.orgs.services import get_org_by_slug

    try:
        await get_org_by_slug(ctx, org_slug)
    except NotFound:
        return False
    return True


async def _create(ctx, org_slug: str, data):  # type: ignore[no-untyped-def]
    from threadline.agents.services import do_create_agent
    from threadline.errors import NotFound
    from threadline.orgs.services import do_create_org, get_org_by_slug

    try:
        org = await get_org_by_slug(ctx, org_slug)
    except NotFound:  # only reached with --create-org (checked before the prompt)
        org = await do_create_org(ctx, org_slug, org_slug)
    return await do_create_agent(ctx, org.id, data)


@app.command("backup")
def backup_command(
    out: Annotated[
        Path | None, typer.Option(help="the copy (default: beside the database, timestamped)")
    ] = None,
) -> None:
    """Copy the embedded SQLite database while Threadline runs (online, consistent)."""
    from datetime import UTC, datetime

    from threadline.backup import BackupError, backup, default_name, free_space_ok

    database = _sqlite_path("backup")
    target = out or default_name(database, datetime.now(UTC))
    if database.is_file() and target.parent.is_dir() and not free_space_ok(database, target.parent):
        _cli_error(f"not enough free space in {target.parent} for a copy of {database}")
    try:
        with _pages_progress("backing up") as progress:
            copied = backup(database, target, progress)
    except BackupError as exc:
        _cli_error(str(exc))
    console.print(
        f"[green]backed up[/green] {database} -> {copied.path} "
        f"({copied.size / 1e6:.1f} MB, schema {copied.revision}, integrity checked)"
    )


@app.command("restore")
def restore_command(
    file: Annotated[Path, typer.Argument(help="a backup made by `threadline backup`")],
    yes: Annotated[bool, typer.Option("--yes", help="do not ask for confirmation")] = False,
) -> None:
    """Replace the embedded SQLite database with a backup (stop the server first)."""
    from threadline.backup import BackupError, restore
    from threadline.migrate import known_revisions, upgrade

    database = _sqlite_path("restore")
    if not yes:
        typer.confirm(
            f"Replace {database} with {file}? (stop Threadline first; the current database "
            "is kept beside it)",
            abort=True,
        )
    try:
        with _pages_progress("restoring") as progress:
            copied = restore(file, database, known_revisions(), progress)
    except BackupError as exc:
        _cli_error(str(exc))
    upgrade(_settings().database_url)  # a backup from an older version is brought up to date
    console.print(f"[green]restored[/green] {file} -> {copied.path} (schema now up to date)")


def _sqlite_path(command: str) -> Path:
    settings = _settings()
    path = settings.sqlite_path()
    if path is None:
        _cli_error(
            f"`threadline {command}` is for the embedded SQLite database; on PostgreSQL use "
            "pg_dump / pg_restore (docs/operations.md)"
        )
    return path


@contextmanager
def _pages_progress(what: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr for copies that take a while."""
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(what, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


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
