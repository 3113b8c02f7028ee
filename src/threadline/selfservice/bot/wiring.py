"""The bot's place in the composition root (app.build_context)."""

from __future__ import annotations

from threadline.context import Context
from threadline.events.domain import FlowPublished
from threadline.selfservice.bot.classifier import ModelClassifier
from threadline.selfservice.bot.flows import FlowCatalog
from threadline.selfservice.bot.knowledge import KnowledgeBase
from threadline.selfservice.bot.services import BotRuntime
from threadline.selfservice.bot.voice import VoiceFlowRuntime


def register(ctx: Context) -> BotRuntime:
    """Build the bot, make it read MessageReceived and fire its deadlines; the flows it
    runs play as the IVR of the numbers that name one (ctx.voice_flows)."""
    catalog = FlowCatalog()
    classifier = ModelClassifier(ctx.settings.intent_models_dir)

    async def published(event: FlowPublished) -> None:  # this node, at the commit
        catalog.forget(event.org_id, event.flow_id)

    ctx.handlers.after_commit(FlowPublished, published)
    catalog.follow(ctx.bus)  # the other nodes' publications
    bot = BotRuntime(ctx, catalog, classifier, KnowledgeBase(ctx))
    bot.register()
    ctx.voice_flows = VoiceFlowRuntime(ctx, catalog, bot)
    return bot
