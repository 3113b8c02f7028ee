"""Channel endpoints: one configured entry point (a chat widget, a number, a mailbox)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from threadline.db import Base, new_id, utcnow


class Endpoint(Base):
    __tablename__ = "endpoints"
    __table_args__ = (UniqueConstraint("channel", "key"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(64))  # public id: widget key, E.164 number, address
    name: Mapped[str] = mapped_column(String(200))
    queue_id: Mapped[str | None] = mapped_column(ForeignKey("queues.id"), default=None)
    # Provider/HMAC secret; never shown back by the API nor logged.
    secret: Mapped[str | None] = mapped_column(String(200), default=None)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
