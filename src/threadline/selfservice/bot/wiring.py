"""The bot's place in the composition root (app.build_context)."""

from __future__ import annotations

from threadline.context import Context
from threadline.selfservice.bot.classifier import ModelClassifier
from threadline.selfservice.bot.flows import FlowCatalog
from threadline.selfservice.bot.services import BotRuntime


def register(ctx: Context) -> BotRuntime:
    """Build the bot, make it read MessageReceived and fire its deadlines."""
    bot = BotRuntime(ctx, FlowCatalog(), ModelClassifier(ctx.settings.intent_models_dir))
    bot.register()
    return bot
