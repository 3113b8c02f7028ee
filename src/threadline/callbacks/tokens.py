"""The customer's manage link: a signed token naming their callback (reschedule, cancel)."""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select

from threadline.callbacks.models import Callback
from threadline.context import Context
from threadline.db import across_orgs, enter_org
from threadline.errors import NotFound

MANAGE_SALT = "callback-manage"


def _serializer(ctx: Context) -> URLSafeSerializer:
    return URLSafeSerializer(ctx.settings.secret_key.get_secret_value(), salt=MANAGE_SALT)


def manage_token(ctx: Context, callback_id: str) -> str:
    """The signed token in the customer's manage link (reschedule, cancel)."""
    return _serializer(ctx).dumps(callback_id)


def callback_id_from(ctx: Context, token: str) -> str:
    """The callback a manage token names; NotFound for a forged or foreign one."""
    try:
        value = _serializer(ctx).loads(token)
    except BadSignature:
        raise NotFound("no such callback") from None
    if not isinstance(value, str):
        raise NotFound("no such callback")
    return value


async def callback_of_link(ctx: Context, token: str) -> str:
    """The callback of a customer's manage link; the rest of the request works for its
    organisation (the link is the customer's only credential)."""
    callback_id = callback_id_from(ctx, token)
    with across_orgs():  # the signed link says whose callback it is
        async with ctx.db.sessions() as session:
            org_id = await session.scalar(select(Callback.org_id).where(Callback.id == callback_id))
    if org_id is None:
        raise NotFound("no such callback")
    enter_org(org_id)
    return callback_id


def manage_url(ctx: Context, callback_id: str) -> str:
    """The link texted to the customer: the manage page for their callback."""
    return f"{ctx.settings.base_url.rstrip('/')}/callback/{manage_token(ctx, callback_id)}"
