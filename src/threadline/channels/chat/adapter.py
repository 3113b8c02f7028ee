"""The web chat channel: signed visitor tokens and verified identities.

A visitor is remembered across reloads by a signed token (itsdangerous) the widget keeps in
localStorage. A host site proves who a visitor is with a hash its server computes over every
field it vouches for (verification/signed_identity.py, docs/widget.md); only the fields a
valid hash covers are verified, and only verified identities merge into existing customers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from itsdangerous import BadSignature, URLSafeTimedSerializer

from threadline.channels.chat import widget_settings
from threadline.channels.contract import Capabilities

VISITOR_SALT = "threadline.chat.visitor"


@dataclass(frozen=True, slots=True)
class Visitor:
    visitor_id: str
    endpoint_id: str


class ChatAdapter:
    name: ClassVar[str] = "chat"
    capabilities: ClassVar[Capabilities] = Capabilities(
        text=True, media=False, typing=True, read_receipts=True
    )
    verifies_signatures: ClassVar[bool] = True

    def __init__(self, secret_key: str, max_age_s: int) -> None:
        self._signer = URLSafeTimedSerializer(secret_key, salt=VISITOR_SALT)
        self._max_age_s = max_age_s

    def visitor_token(self, visitor: Visitor) -> str:
        return self._signer.dumps({"v": visitor.visitor_id, "e": visitor.endpoint_id})

    def read_visitor_token(self, token: str) -> Visitor | None:
        try:
            data = self._signer.loads(token, max_age=self._max_age_s)
        except BadSignature:
            return None
        return Visitor(visitor_id=str(data["v"]), endpoint_id=str(data["e"]))

    def configure(self, key: str, settings: Mapping[str, Any]) -> dict[str, Any]:
        """Check and normalise a widget's settings (channels/chat/widget_settings.py)."""
        return widget_settings.configure(settings)
