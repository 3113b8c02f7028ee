"""A customer's language, learnt from what they write when nothing told us yet (the
languages an organisation works in come from its agents and its endpoints; the guess itself
is i18n/language.py's)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.agents.models import Agent
from threadline.channels.models import Endpoint
from threadline.customers.models import Customer
from threadline.i18n.language import LANGUAGES, language_of


async def organisation_languages(session: AsyncSession, org_id: str) -> frozenset[str]:
    """The languages an organisation works in, among those we have texts for: the ones its
    active agents speak and its endpoints are set to (``settings.language``)."""
    spoken = await session.scalars(
        select(Agent.languages).where(Agent.org_id == org_id, Agent.active.is_(True))
    )
    configured = await session.scalars(
        select(Endpoint.settings).where(Endpoint.org_id == org_id, Endpoint.active.is_(True))
    )
    found = {code for codes in spoken for code in codes or ()}
    found |= {str(settings.get("language")) for settings in configured if settings}
    return frozenset(found) & frozenset(LANGUAGES)


async def learn_language(
    session: AsyncSession, endpoint: Endpoint, customer: Customer, text: str
) -> str | None:
    """Set a customer's language from their message when it is not known yet and the
    message says it clearly; returns the language set, if any. Unsure text changes nothing,
    so automatic texts keep the endpoint's or organisation's default and a later, longer
    message may still tell. Call inside the write that stores the message."""
    if customer.language or not text.strip():
        return None
    # the pure guess first: most messages that say nothing clear cost no query
    language = language_of(text, LANGUAGES)
    if language is None or language not in await organisation_languages(session, endpoint.org_id):
        return None
    customer.language = language
    return language
