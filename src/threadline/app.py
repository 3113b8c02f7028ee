"""create_app(settings): builds the database, bus, routing and workers; mounts the routers."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import structlog
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from threadline import __version__
from threadline.agents.desktops import DesktopPresence
from threadline.agents.http import router as agents_router
from threadline.agents.http import teams_router
from threadline.agents.pages import router as people_pages_router
from threadline.analytics.http import router as reports_router
from threadline.analytics.wiring import register as register_analytics
from threadline.auth.dependencies import SESSION_COOKIE
from threadline.auth.http import router as auth_router
from threadline.auth.services import register as register_auth
from threadline.boundary import install_boundary
from threadline.callbacks.dialing import register as register_callbacks
from threadline.callbacks.erasure import scrub_callbacks
from threadline.callbacks.http import router as callbacks_router
from threadline.callbacks.services import CALLBACK_DUE, CALLBACK_RETRY
from threadline.channels.app.adapter import AppAdapter
from threadline.channels.app.http import router as app_api_router
from threadline.channels.app.pages import router as app_pages_router
from threadline.channels.chat.adapter import ChatAdapter
from threadline.channels.chat.http import router as chat_router
from threadline.channels.email.adapter import EmailAdapter
from threadline.channels.email.service import start_email_inbound
from threadline.channels.erasure import scrub_outbox
from threadline.channels.http import router as channels_router
from threadline.channels.messenger.adapter import MessengerAdapter
from threadline.channels.messenger.http import router as messenger_router
from threadline.channels.outbox import OUTBOX_SEND, OutboxSender
from threadline.channels.registry import ChannelRegistry
from threadline.channels.sms.adapter import SmsAdapter
from threadline.channels.sms.http import router as sms_router
from threadline.channels.telegram.adapter import TelegramAdapter
from threadline.channels.telegram.http import router as telegram_router
from threadline.channels.voice.adapter import VoiceAdapter
from threadline.channels.voice.http import api_router as voice_api_router
from threadline.channels.voice.http import router as voice_router
from threadline.channels.voice.outbound import VoiceCalls
from threadline.channels.whatsapp.adapter import WhatsAppAdapter
from threadline.channels.whatsapp.http import router as whatsapp_router
from threadline.config import Settings
from threadline.context import Context
from threadline.customers.http import router as customers_router
from threadline.customers.services import link_rows_with_customers
from threadline.db import Base, Database, across_orgs, no_org
from threadline.encryption import check_readable, keyring_for
from threadline.errors import install_error_handlers
from threadline.events.bus import MemoryBus, create_bus
from threadline.events.domain import CustomerErased, ThreadsPurged
from threadline.events.follow import LogFollower
from threadline.events.handlers import Handlers
from threadline.events.log import ConsumerRunner
from threadline.i18n import language
from threadline.inbox.http import router as inbox_router
from threadline.inbox.services import register as register_inbox
from threadline.logging import configure_logging
from threadline.orgs.http import router as audit_router
from threadline.orgs.http import settings_router as org_settings_router
from threadline.planning.forecasts import QueueForecasts
from threadline.planning.http import router as planning_router
from threadline.planning.pages import router as planning_pages_router
from threadline.planning.simulations import runs_of
from threadline.privacy.http import org_router as privacy_org_router
from threadline.privacy.http import router as privacy_router
from threadline.privacy.retention import RETENTION_SWEEP, on_sweep
from threadline.ratelimit import RateLimits
from threadline.realtime.http import router as realtime_router
from threadline.reasons.http import router as reasons_router
from threadline.reasons.services import register as register_reasons
from threadline.routing.erasure import purge_contacts, scrub_contacts
from threadline.routing.http import router as routing_router
from threadline.routing.models import Contact
from threadline.routing.services import (
    EXCLUSION_EXPIRY,
    OFFER_TIMEOUT,
    WRAPUP_END,
    RoutingService,
)
from threadline.selfservice.bot.http import reports as bot_reports_router
from threadline.selfservice.bot.http import router as bot_router
from threadline.selfservice.bot.wiring import register as register_bot
from threadline.selfservice.erasure import purge_selfservice, scrub_selfservice
from threadline.selfservice.flows.http import router as flows_router
from threadline.selfservice.flows.pages import router as flows_pages_router
from threadline.selfservice.incidents.http import app_router as incidents_app_router
from threadline.selfservice.incidents.http import router as incidents_router
from threadline.selfservice.incidents.http import visitor_router as incidents_visitor_router
from threadline.selfservice.incidents.services import register as register_incidents
from threadline.selfservice.intents.http import router as intents_router
from threadline.selfservice.intents.pages import router as intents_pages_router
from threadline.selfservice.intents.services import IntentTrainer
from threadline.selfservice.knowledge.http import app_router as knowledge_app_router
from threadline.selfservice.knowledge.http import router as knowledge_router
from threadline.selfservice.knowledge.http import widget_router as knowledge_widget_router
from threadline.selfservice.knowledge.pages import router as help_pages_router
from threadline.simulated.pages import install_simulated, simulated_running
from threadline.supervision.http import router as supervision_router
from threadline.supervision.services import register as register_supervision
from threadline.surveys.erasure import purge_surveys, scrub_surveys
from threadline.surveys.http import page_router as survey_pages_router
from threadline.surveys.http import router as surveys_router
from threadline.surveys.http import widget_router as surveys_widget_router
from threadline.surveys.services import register as register_surveys
from threadline.threads.erasure import make_purger, make_scrubber
from threadline.threads.http import router as threads_router
from threadline.threads.models import Thread
from threadline.verification.erasure import scrub_continuations
from threadline.web.http import router as web_router
from threadline.web.security import SecurityMiddleware
from threadline.webhooks.http import router as webhooks_router
from threadline.webhooks.wiring import register as register_webhooks
from threadline.workers.timers import TimerWorker

log = structlog.get_logger(__name__)
STATIC_DIR = Path(__file__).parent / "web" / "static"
OVERFLOW_TICK_S = 1.0


def build_channels(settings: Settings) -> ChannelRegistry:
    """Every channel's adapter, by name; services find an endpoint's adapter here."""
    registry = ChannelRegistry()
    registry.register(
        ChatAdapter(settings.secret_key.get_secret_value(), settings.visitor_token_max_age_s)
    )
    registry.register(
        AppAdapter(settings.secret_key.get_secret_value(), settings.visitor_token_max_age_s)
    )
    registry.register(SmsAdapter(settings.base_url))
    registry.register(VoiceAdapter(settings.base_url))
    registry.register(TelegramAdapter(settings.base_url))
    registry.register(WhatsAppAdapter())
    registry.register(MessengerAdapter())
    registry.register(
        EmailAdapter(settings.secret_key.get_secret_value(), settings.email_relay_timeout_s)
    )
    return registry


def build_context(settings: Settings, *, routes: bool = True) -> Context:
    """The composition root: every part built once, every handler registered here.

    `routes` False: a process that fires timers for the web server (`threadline worker`,
    `run_worker`) and leaves routing the contacts they open to it."""
    bus = create_bus(settings.bus_url)
    ctx = Context(
        settings=settings,
        db=Database(settings.database_url, keyring_for(settings)),
        bus=bus,
        handlers=Handlers(bus),
        channels=build_channels(settings),
        rate_limits=RateLimits(settings),
    )
    ctx.routing = RoutingService(ctx, routes=routes)
    ctx.channels.provide_calls(VoiceCalls(ctx))
    ctx.outbox = OutboxSender(ctx)
    ctx.timers = TimerWorker(ctx, settings.timer_poll_s)
    ctx.consumers = ConsumerRunner(
        ctx.db,
        ctx.handlers,
        ctx.uow,
        poll_s=settings.event_poll_s,
        retention=timedelta(hours=settings.event_log_retention_h),
    )
    ctx.timers.register(OFFER_TIMEOUT, ctx.routing.on_offer_timeout)
    ctx.timers.register(EXCLUSION_EXPIRY, ctx.routing.on_exclusion_expiry)
    ctx.timers.register(WRAPUP_END, ctx.routing.on_wrapup_timeout)
    ctx.timers.register(OUTBOX_SEND, ctx.outbox.on_timer)
    link_rows_with_customers("threads", Thread)
    link_rows_with_customers("contacts", Contact)
    register_auth(ctx.handlers)
    ctx.routing.register(ctx.handlers)
    ctx.outbox.register(ctx.handlers)
    register_callbacks(ctx)
    ctx.webhooks = register_webhooks(ctx)
    ctx.bot = register_bot(ctx)
    ctx.incidents = register_incidents(ctx)
    ctx.desktops = DesktopPresence(ctx)
    # Erasure: each domain removes what it keeps of the customer, in the same transaction.
    for scrub in (
        make_scrubber(settings),
        scrub_contacts,
        scrub_callbacks,
        scrub_outbox,
        scrub_continuations,
        scrub_selfservice,
        scrub_surveys,
    ):
        ctx.handlers.in_transaction(CustomerErased, scrub)
    # Retention: a durable sweep per organisation, each domain removing its share.
    ctx.timers.register(RETENTION_SWEEP, on_sweep)
    for purge in (make_purger(settings), purge_contacts, purge_selfservice, purge_surveys):
        ctx.handlers.in_transaction(ThreadsPurged, purge)
    ctx.surveys = register_surveys(ctx)
    register_analytics(ctx)
    register_reasons(ctx)
    register_supervision(ctx.handlers)
    ctx.forecasts = QueueForecasts(ctx)
    register_inbox(ctx, ctx.handlers)
    return ctx


async def _tick_forever(ctx: Context) -> None:
    with across_orgs():  # overflow and business hours, for every organisation's queues
        while True:
            await asyncio.sleep(OVERFLOW_TICK_S)
            with contextlib.suppress(Exception):
                await ctx.routing.tick()


@asynccontextmanager
async def running(ctx: Context) -> AsyncIterator[Context]:
    """Start the bus, the routing engines and the workers; stop them in reverse. The workers
    start with no organisation in scope (whoever started the server), so each says whose
    rows it works on (db.enter_org, org_scope, across_orgs)."""
    if ctx.db.keyring is not None:  # a missing or wrong key stops the start, loses nothing
        await check_readable(ctx.db.engine, Base.metadata, ctx.db.keyring)
    # a `threadline worker` beside this server writes too: what it commits reaches this
    # process's memory through the log, read on from its head as it is before the engines load
    follower = _follower(ctx) if ctx.settings.timer_worker else None
    with no_org():
        await ctx.bus.start()
        if follower is not None:
            await follower.mark_head()
        with across_orgs():  # every organisation's engines
            await ctx.routing.start()
        if follower is not None:
            await follower.start()
        # due timers first: after a crash the backlog starts firing while the rest starts
        await ctx.timers.start()
        await asyncio.to_thread(language.load)  # py3langid's model, before the first message
        await ctx.consumers.start()
        ticker = asyncio.create_task(_tick_forever(ctx), name="routing-tick")
        ctx.desktops.start()
        email_inbound = await start_email_inbound(ctx)
    try:
        yield ctx
    finally:
        await email_inbound.stop()
        await ctx.desktops.stop()
        await runs_of(ctx).stop()
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
        await ctx.consumers.stop()
        await ctx.timers.stop()
        if follower is not None:
            await follower.stop()
        await ctx.outbox.stop()
        await ctx.webhooks.stop()
        if ctx.bot is not None:
            await ctx.bot.stop()
        await _close_connections(ctx)


async def _close_connections(ctx: Context) -> None:
    """Last at a stop, in the server and the worker: providers' clients, the limits'
    store, the bus, the database."""
    await ctx.channels.aclose()
    await ctx.rate_limits.aclose()
    await ctx.bus.stop()
    await ctx.db.dispose()


def _follower(ctx: Context) -> LogFollower:
    return LogFollower(
        ctx.db,
        ctx.handlers,
        poll_s=ctx.settings.follow_poll_s,
        publish=isinstance(ctx.bus, MemoryBus),  # on Redis the writer published them itself
    )


# The timers `threadline worker` fires: those that open contacts without reading routing's
# memory (its events, ContactQueued, are ones the web server's routing may read twice).
WORKER_TIMERS = frozenset({CALLBACK_DUE, CALLBACK_RETRY})


async def run_worker(settings: Settings, ready: asyncio.Future[Context] | None = None) -> None:
    """`threadline worker`: fire the timers of WORKER_TIMERS beside the web server (which
    fires them too: whichever claims a timer first fires it, once), so they stay on time
    while the server restarts. It routes nothing: the contacts it opens reach the server's
    engines through the event log (events/follow.py), and it follows the agents' events
    the same way for the languages they speak."""
    ctx = build_context(settings, routes=False)
    ctx.timers.keep_only(WORKER_TIMERS)
    follower = _follower(ctx)
    if ctx.db.keyring is not None:
        await check_readable(ctx.db.engine, Base.metadata, ctx.db.keyring)
    with no_org():
        await ctx.bus.start()
        await follower.mark_head()
        with across_orgs():
            await ctx.routing.start_languages()
        await follower.start()
        await ctx.timers.start()
    log.info("worker.ready", timers=sorted(WORKER_TIMERS))
    if ready is not None:
        ready.set_result(ctx)
    try:
        await asyncio.Event().wait()  # until cancelled (a signal)
    finally:
        await ctx.timers.stop()
        await follower.stop()
        await ctx.outbox.stop()
        await ctx.webhooks.stop()
        await _close_connections(ctx)


def create_app(settings: Settings | None = None, *, freeze_heap: bool = False) -> FastAPI:
    """The application. `freeze_heap` (the server's own process, `threadline serve`): once
    started, what start-up made (modules, routes, engines, the routing state) is moved out of
    the cyclic collector's sight (`gc.freeze`). A full collection otherwise walks all of it,
    some 290,000 objects: 160 ms with the server stopped, each time a quarter as many new
    long-lived objects have piled up; after the freeze, the full collections measured under
    load took 22-27 ms. Not for tests, which make many apps in one process: what is frozen
    is never freed."""
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_json)
    ctx = build_context(settings)
    trainer = IntentTrainer(settings.intent_models_dir)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with running(ctx), simulated_running(_app):
            if freeze_heap:
                gc.collect()
                gc.freeze()
            try:
                yield
            finally:
                await trainer.stop()

    app = FastAPI(
        title="Threadline",
        version=__version__,
        lifespan=lifespan,
        description="One customer, one thread, every channel.",
        # /docs and /redoc are served from vendored assets by web/http.py (not a CDN)
        docs_url=None,
        redoc_url=None,
    )
    app.state.ctx = ctx
    app.state.intent_trainer = trainer
    install_error_handlers(app)
    install_boundary(app)
    for router in (
        # first: the routes every chat visitor and agent hits (the widget's session and
        # socket, accepting an offer, the desktop's stream). The router tries routes in
        # order, and these sat behind hundreds (~0.1-0.5 ms of matching per request); no
        # path of theirs is also matched by a route they now precede.
        routing_router,
        chat_router,
        realtime_router,
        auth_router,
        agents_router,
        teams_router,
        org_settings_router,
        customers_router,
        privacy_router,
        privacy_org_router,
        audit_router,
        threads_router,
        supervision_router,
        inbox_router,
        callbacks_router,
        app_api_router,
        app_pages_router,
        channels_router,
        sms_router,
        voice_router,
        voice_api_router,
        telegram_router,
        whatsapp_router,
        messenger_router,
        webhooks_router,
        bot_router,
        bot_reports_router,
        flows_router,
        flows_pages_router,
        reports_router,
        reasons_router,
        knowledge_router,
        knowledge_widget_router,
        knowledge_app_router,
        help_pages_router,
        incidents_router,
        incidents_visitor_router,
        incidents_app_router,
        intents_router,
        intents_pages_router,
        planning_router,
        planning_pages_router,
        surveys_router,
        surveys_widget_router,
        survey_pages_router,
        people_pages_router,
        web_router,
    ):
        app.include_router(router)
    install_simulated(app, settings)  # the demo's simulated providers, when configured
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(
        SecurityMiddleware,
        base_url=settings.base_url,
        session_cookie=SESSION_COOKIE,
        app_frame_ancestors=settings.app_frame_ancestors,
    )
    app.add_middleware(RequestsStartUnscoped)
    return app


class RequestsStartUnscoped:
    """Outermost: each request and socket starts with no organisation in scope, whatever
    its caller's (a test's client runs the app in its own task), so every path must say
    whose it is (auth's principal, a widget's or endpoint's key) before it reads a row."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        with no_org():
            await self.app(scope, receive, send)
