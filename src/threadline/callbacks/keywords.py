"""Callbacks by text message: CANCEL cancels the customer's open callback, 1 accepts the
callback offered to their waiting SMS contact, and a new SMS contact whose wait is long is
offered a callback, once."""

from __future__ import annotations

import structlog
from sqlalchemy import select

from threadline.callbacks.models import Callback
from threadline.callbacks.offers import callback_offer
from threadline.callbacks.services import do_cancel, do_keep_my_place
from threadline.callbacks.texts import range_text, send_text, text_about
from threadline.context import Context
from threadline.errors import ThreadlineError
from threadline.routing.models import Contact
from threadline.threads.models import Thread
from threadline.threads.services import lock_thread
from threadline.web.i18n import pick_language

log = structlog.get_logger(__name__)

CANCEL_WORDS = frozenset(
    {"cancel", "cancelar", "cancela", "отмена", "отменить", "ακύρωση", "ακυρωση"}
)
KEEP_WORDS = frozenset({"1", "callback", "call me", "ligar", "llamar", "позвонить", "κλήση"})


def callback_word(body: str) -> str | None:
    """The callback keyword a text message is (CANCEL, 1, ...), or None."""
    word = " ".join(body.strip().casefold().rstrip(".!").split())
    return word if word in CANCEL_WORDS or word in KEEP_WORDS else None


async def on_text(ctx: Context, org_id: str, thread_id: str, sender: str, body: str) -> None:
    """A customer's text message, stored: CANCEL cancels their open callback; 1 accepts the
    callback offered to their waiting SMS contact; a new SMS contact whose wait is long
    is offered a callback, once."""
    word = callback_word(body)
    async with ctx.db.sessions() as session:
        thread = await session.get(Thread, thread_id)
        if thread is None or thread.org_id != org_id:
            return
        callback_id = await session.scalar(
            select(Callback.id)
            .where(
                Callback.customer_id == thread.customer_id,
                Callback.status.in_(("scheduled", "waiting", "retry_wait")),
            )
            .order_by(Callback.created_at.desc())
            .limit(1)
        )
        contact = await session.scalar(
            select(Contact).where(
                Contact.thread_id == thread_id,
                Contact.channel == "sms",
                Contact.status == "queued",
            )
        )
    if word in CANCEL_WORDS and callback_id:
        cancelled = await do_cancel(ctx, org_id, callback_id, by="customer (SMS)")
        await text_about(ctx, cancelled, "callback_cancelled")
        return
    if contact is None:
        return
    if word in KEEP_WORDS and contact.context.get("callback_offered"):
        try:
            await do_keep_my_place(ctx, org_id, contact.id, phone=sender, language=thread.language)
        except ThreadlineError as exc:
            log.info("callbacks.sms_keep_refused", contact_id=contact.id, reason=str(exc))
        return
    if not contact.context.get("callback_offered"):
        await _offer_by_text(ctx, org_id, thread_id, contact.id)


async def _offer_by_text(ctx: Context, org_id: str, thread_id: str, contact_id: str) -> None:
    """Offer a waiting SMS contact to keep its place, once, when its wait is long."""
    offer = await callback_offer(ctx, org_id, contact_id)
    if offer is None or not offer.keep_place:
        return
    async with ctx.uow() as uow:
        locked: Contact | None = await uow.lock(Contact, contact_id)
        if locked is None or locked.status != "queued" or locked.context.get("callback_offered"):
            return
        locked.context = {**locked.context, "callback_offered": True}
        thread = await lock_thread(uow, org_id, thread_id)
        language = pick_language(thread.language)
        wait = range_text(language, offer.low_s, offer.high_s)
        await send_text(ctx, uow, thread, "callback_offer_sms", language, wait=wait)
