"""Demo data: a company, three queues, six agents with different skills, some history."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.agents.models import Agent
from threadline.agents.schemas import AgentCreate
from threadline.agents.services import do_create_agent
from threadline.channels.models import Endpoint
from threadline.channels.schemas import EndpointIn, EndpointPatch
from threadline.channels.services import do_create_endpoint, do_update_endpoint
from threadline.context import Context
from threadline.customers.services import add_identity, resolve_identity
from threadline.db import org_scope, utcnow
from threadline.orgs.models import Organization
from threadline.orgs.services import do_create_org
from threadline.routing.models import Contact, Queue
from threadline.routing.schemas import QueueIn
from threadline.routing.services import do_create_queue
from threadline.selfservice.knowledge.demo_articles import load_demo_articles
from threadline.simulated.demo_world import (
    BANK_NUMBER,
    CARLOS_EMAIL,
    CARLOS_NAME,
    CARLOS_PHONE,
    endpoint_bodies,
)
from threadline.threads.models import Thread, ThreadEvent

DEMO_PASSWORD = "threadline-demo"  # noqa: S105 - demo accounts only, printed by `threadline demo`
DEMO_WIDGET_KEY = "demo"
# What `threadline demo` adds to .env: the simulated providers (never on by default), and
# the built-in SMTP server the mail page sends to
DEMO_ENV = {"THREADLINE_DEMO_SIMULATED": "true", "THREADLINE_EMAIL_SMTP_PORT": "2525"}
DEMO_BOT = {"flow": "demo_bank"}  # answers first: routes by the customer's choice or intent
# The demo bank's intent classifier: trained once from BANKING77 (77 banking intents), kept
# beside the other demo data (not in git: about 2 MB), loaded when present.
# The shared model the bot falls back to (`<THREADLINE_INTENT_MODELS_DIR>/default/`, and
# `threadline demo` sets THREADLINE_INTENT_MODELS_DIR=data/intents in .env)
DEMO_INTENTS_ROOT = Path("data/intents")
DEMO_INTENTS_DIR = DEMO_INTENTS_ROOT / "default"
_OLD_DEMO_INTENTS_DIR = DEMO_INTENTS_ROOT / "demo-bank"  # where earlier versions trained it
BANKING77_CANDIDATES = (
    Path("../shared/data/banking77/train.csv"),
    Path("shared/data/banking77/train.csv"),
)

AGENTS = [
    # name, email, role, skills, languages, tier, capacity
    (
        "Rui Costa",
        "rui@demo.bank",
        "agent",
        {"general": 3, "cards": 4},
        ["pt", "en"],
        1,
        {"chat": 3, "voice": 1, "email": 5, "sms": 3},
    ),
    (
        "Ana Ferreira",
        "ana@demo.bank",
        "agent",
        {"general": 4, "loans": 3},
        ["pt", "es", "en"],
        1,
        {"chat": 3, "voice": 1, "email": 5, "sms": 3},
    ),
    (
        "Olga Ivanova",
        "olga@demo.bank",
        "agent",
        {"general": 3, "cards": 3},
        ["ru", "en"],
        1,
        {"chat": 2, "voice": 1, "sms": 2},
    ),
    (
        "María López",
        "maria@demo.bank",
        "agent",
        {"general": 5, "loans": 4, "cards": 2},
        ["es", "en"],
        2,
        {"chat": 3, "voice": 1, "email": 5, "sms": 3},
    ),
    (
        "Nikos Papadopoulos",
        "nikos@demo.bank",
        "supervisor",
        {"general": 4, "cards": 3, "loans": 3},
        ["el", "en"],
        2,
        {"chat": 2, "voice": 1, "email": 3, "sms": 2},
    ),
    ("Alex Admin", "admin@demo.bank", "admin", {"general": 2}, ["en"], 1, {"chat": 1}),
]
# Keep-my-place callbacks are offered once the wait passes a minute (journey 2; the voice
# page's hold loop and the widget offer them).
CALLBACKS = {
    "enabled": True,
    "offer_after_s": 60,
    "keep_place": True,
    "max_attempts": 3,
    "retry_after_s": [120, 600],
}
QUEUES = [
    QueueIn(
        name="General",
        required_skills=["general"],
        priority=0,
        sl_target_pct=80,
        sl_threshold_s=30,
        callback_policy=CALLBACKS,
    ),
    QueueIn(
        name="Cards",
        required_skills=["cards"],
        priority=1,
        sl_target_pct=80,
        sl_threshold_s=20,
        overflow_after_s=120,
        overflow_skills=["general"],
        callback_policy=CALLBACKS,
    ),
    QueueIn(
        name="Loans", required_skills=["loans"], priority=0, sl_target_pct=70, sl_threshold_s=60
    ),
]


async def load_demo(ctx: Context) -> bool:
    """Create the demo organisation once; returns False when it already exists. Either way
    the demo bank ends up with every simulated channel (an older demo database gets the
    ones it lacks)."""
    async with ctx.db.sessions() as session:
        org_id = await session.scalar(select(Organization.id).where(Organization.slug == "demo"))
    if org_id is not None:
        with org_scope(org_id):
            await ensure_simulated_channels(ctx, org_id)
        return False
    org = await do_create_org(ctx, "demo", "Demo Bank", "Europe/Lisbon")
    with org_scope(org.id):  # everything else is the demo bank's
        await _populate(ctx, org.id)
        await ensure_simulated_channels(ctx, org.id)
    return True


async def ensure_simulated_channels(ctx: Context, org_id: str) -> list[str]:
    """The demo bank's SMS, voice, WhatsApp, Messenger, Telegram and email endpoints, sending
    through the simulated providers (threadline/simulated), created as an admin would
    (validated, audited) when missing; the widget answered by the demo bank's bot, which
    routes by the customer's choice or intent; the phone line's calls in a conference (hold,
    call coaching). Returns the channels added."""
    settings = ctx.settings
    async with ctx.db.sessions() as session:
        queues = {q.name: q.id for q in await session.scalars(select(Queue))}
        taken = {(e.channel, e.key) for e in await session.scalars(select(Endpoint))}
        widget = await session.scalar(
            select(Endpoint).where(Endpoint.channel == "chat", Endpoint.key == DEMO_WIDGET_KEY)
        )
        phone = await session.scalar(
            select(Endpoint).where(Endpoint.channel == "voice", Endpoint.key == BANK_NUMBER)
        )
    added = []
    bodies = endpoint_bodies(
        settings.base_url,
        settings.demo_relay_port,
        settings.demo_telegram_port,
        queues,
        DEMO_BOT,
    )
    for body in bodies:
        if (body["channel"], body["key"]) not in taken:
            await do_create_endpoint(ctx, org_id, None, EndpointIn.model_validate(body))
            added.append(body["channel"])
    if widget is not None and "bot" not in widget.settings:
        patch = EndpointPatch(settings={**widget.settings, "bot": DEMO_BOT})
        await do_update_endpoint(ctx, org_id, None, widget.id, patch)
    if phone is not None and "conference" not in phone.settings:  # an older demo's line
        patch = EndpointPatch(settings={**phone.settings, "conference": True})
        await do_update_endpoint(ctx, org_id, None, phone.id, patch)
    return added


async def _populate(ctx: Context, org_id: str) -> None:
    queues = {q.name: await do_create_queue(ctx, org_id, q) for q in QUEUES}
    agents: dict[str, Agent] = {}
    for name, email, role, skills, languages, tier, capacity in AGENTS:
        agents[email] = await do_create_agent(
            ctx,
            org_id,
            AgentCreate.model_validate(
                {
                    "email": email,
                    "name": name,
                    "password": DEMO_PASSWORD,
                    "role": role,
                    "skills": skills,
                    "languages": languages,
                    "tier": tier,
                    "capacity": capacity,
                }
            ),
        )
    async with ctx.uow() as uow:
        uow.session.add(
            Endpoint(
                org_id=org_id,
                channel="chat",
                key=DEMO_WIDGET_KEY,
                name="Website chat",
                queue_id=queues["General"].id,
                secret=secrets.token_urlsafe(24),
                settings={"language": "en", "bot": DEMO_BOT},
            )
        )
        await _history(uow.session, org_id, queues, agents)
        await _carlos(uow.session, org_id)
    await load_demo_articles(ctx, org_id, agents["admin@demo.bank"].id)


async def _history(
    session: AsyncSession, org_id: str, queues: dict[str, Queue], agents: dict[str, Agent]
) -> None:
    """Marta's card conversation with Rui last week: she is sticky to him."""
    rui = agents["rui@demo.bank"]
    marta = await resolve_identity(
        session, org_id, "email", "marta.silva@example.pt", name="Marta Silva", language="pt"
    )
    await add_identity(session, marta, "phone", "+351 912 345 678", verified=True)
    started = utcnow() - timedelta(days=6, hours=3)
    thread = Thread(
        org_id=org_id,
        customer_id=marta.id,
        status="resolved",
        language="pt",
        assigned_agent_id=rui.id,
        created_at=started,
        updated_at=started,
    )
    session.add(thread)
    await session.flush()
    contact = Contact(
        org_id=org_id,
        thread_id=thread.id,
        customer_id=marta.id,
        queue_id=queues["Cards"].id,
        channel="chat",
        status="resolved",
        required_skills=["cards"],
        language="pt",
        enqueued_at=started,
        agent_id=rui.id,
        accepted_at=started + timedelta(seconds=14),
        ended_at=started + timedelta(minutes=6),
        wrapup_reason="card_activation",
    )
    session.add(contact)
    await session.flush()
    lines = [
        ("customer", "message", "Olá, como ativo o meu cartão novo?", 0),
        ("system", "queued", None, 1),
        ("agent", "assigned", None, 14),
        ("agent", "message", "Olá Marta! Pode ativá-lo na app, em Cartões > Ativar.", 60),
        ("customer", "message", "Consegui, obrigada!", 240),
        ("agent", "resolved", None, 360),
    ]
    for seq, (author, kind, body, offset) in enumerate(lines, start=1):
        session.add(
            ThreadEvent(
                org_id=org_id,
                thread_id=thread.id,
                seq=seq,
                kind=kind,
                channel="chat",
                author_type=author,
                author_id=rui.id if author == "agent" else marta.id,
                author_name="Rui Costa" if author == "agent" else "Marta Silva",
                body=body,
                contact_id=contact.id,
                created_at=started + timedelta(seconds=offset),
                data={"reason": "card_activation"} if kind == "resolved" else {},
            )
        )
    thread.last_seq = len(lines)
    thread.customer_read_seq = thread.agent_read_seq = len(lines)
    marta.last_agent_id, marta.last_served_at = rui.id, contact.ended_at


async def _carlos(session: AsyncSession, org_id: str) -> None:
    """Carlos (journey 4), whom the bank knows by his mobile and his email: his SMS, mail
    and WhatsApp messages from the simulated pages find one customer."""
    carlos = await resolve_identity(
        session, org_id, "phone", CARLOS_PHONE, name=CARLOS_NAME, language="pt"
    )
    await add_identity(session, carlos, "email", CARLOS_EMAIL, verified=True)


def ensure_demo_intents(
    out: Path = DEMO_INTENTS_DIR,
    data: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> str:
    """The demo bank's intent model at ``out``: loaded if it is there, else trained from the
    BANKING77 CSV (``data``, or the first of ``BANKING77_CANDIDATES`` found; about a minute on
    2 cores). Returns what happened, for the console; no data set found is said, not raised."""
    from threadline.intents.engine import IntentModel, ModelDirError, read_csv, train

    if out == DEMO_INTENTS_DIR and _OLD_DEMO_INTENTS_DIR.is_dir() and not out.exists():
        _OLD_DEMO_INTENTS_DIR.rename(out)  # trained by an earlier version: keep it
    try:
        model = IntentModel.load(out)
        return f"intent model present: {len(model.classes)} intents in {out}"
    except ModelDirError:
        pass
    source = data or next((p for p in BANKING77_CANDIDATES if p.is_file()), None)
    if source is None:
        return (
            "intent model not built: no BANKING77 train.csv found "
            "(threadline intents train --data FILE.csv --out "
            f"{out} builds it)"
        )
    rows = read_csv(source)
    model = train(rows, progress=progress)
    model.save(out)
    return f"intent model trained on {len(rows)} examples, {len(model.classes)} intents -> {out}"
