"""Self-service's share of erasing a customer: the bot's conversations lose their state (the
transcript and slots; outcomes, intents and articles stay for deflection reports). Outage
notices hold no personal data (a customer id, a channel, whether they were told) and stay
for the incident's counts."""

from __future__ import annotations

from sqlalchemy import select, update

from threadline.db import UnitOfWork
from threadline.events.domain import CustomerErased, ThreadsPurged
from threadline.selfservice.bot.models import BotConversation
from threadline.threads.models import Thread


async def scrub_selfservice(uow: UnitOfWork, event: CustomerErased) -> None:
    threads = select(Thread.id).where(
        Thread.org_id == event.org_id, Thread.customer_id == event.customer_id
    )
    await uow.session.execute(
        update(BotConversation)
        .where(BotConversation.org_id == event.org_id, BotConversation.thread_id.in_(threads))
        .values(state={})
    )


async def purge_selfservice(uow: UnitOfWork, event: ThreadsPurged) -> None:
    await uow.session.execute(
        update(BotConversation)
        .where(
            BotConversation.org_id == event.org_id,
            BotConversation.thread_id.in_(event.thread_ids),
        )
        .values(state={})
    )
