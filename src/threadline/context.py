"""The wiring every service receives: settings, database, bus (built by create_app)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from threadline.config import Settings
from threadline.db import Database, UnitOfWork
from threadline.events.bus import Bus

if TYPE_CHECKING:
    from threadline.routing.services import RoutingService


@dataclass
class Context:
    settings: Settings
    db: Database
    bus: Bus
    extras: dict[str, Any] = field(default_factory=dict)
    _routing: RoutingService | None = None

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.db, self.bus.publish)

    @property
    def routing(self) -> RoutingService:
        assert self._routing is not None, "routing service not started"
        return self._routing
