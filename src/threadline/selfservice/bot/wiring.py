"""The bot's place in the composition root (app.build_context)."""

from __future__ import annotations

from threadline.context import Context
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
    bot = BotRuntime(ctx, catalog, classifier, KnowledgeBase(ctx))
    bot.register()
    ctx.voice_flows = VoiceFlowRuntime(ctx, catalog, bot)
    return bot
