"""The manage link's token names one callback, and only the server that signed it can make
one."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from itsdangerous import URLSafeSerializer
from pydantic import SecretStr

from threadline.callbacks.tokens import MANAGE_SALT, callback_id_from, manage_token, manage_url
from threadline.config import Settings
from threadline.errors import NotFound


@dataclass
class Signer:
    """What the token functions read of the context: its settings."""

    settings: Settings


def signer(secret: str = "s" * 32, base_url: str = "https://help.example.com/") -> Signer:
    return Signer(Settings(secret_key=SecretStr(secret), base_url=base_url))


def test_a_token_names_the_callback_it_was_made_for() -> None:
    ctx = signer()
    assert callback_id_from(ctx, manage_token(ctx, "cb-1")) == "cb-1"  # type: ignore[arg-type]


def test_the_link_is_the_manage_page_under_the_base_url() -> None:
    ctx = signer()
    token = manage_token(ctx, "cb-1")  # type: ignore[arg-type]
    assert manage_url(ctx, "cb-1") == f"https://help.example.com/callback/{token}"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "token",
    [
        "not-a-token",
        manage_token(signer("o" * 32), "cb-1"),  # type: ignore[arg-type]  # another server's
        URLSafeSerializer("s" * 32, salt="other").dumps("cb-1"),  # another purpose's
        URLSafeSerializer("s" * 32, salt=MANAGE_SALT).dumps({"id": "cb-1"}),  # not an id
    ],
)
def test_a_forged_or_foreign_token_is_not_found(token: str) -> None:
    with pytest.raises(NotFound):
        callback_id_from(signer(), token)  # type: ignore[arg-type]
