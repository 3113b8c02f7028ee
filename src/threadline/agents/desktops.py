"""Presence that tells the truth: an agent whose every desktop has closed goes offline.

Each node counts the desktop sockets (agent desktop, supervisor page) open per agent and,
every `heartbeat_s`, stamps `agents.desktop_seen_at = now` for the agents it holds a socket
of, in one UPDATE. Any node's sweep then sets offline (reason `no_desktop`) the agents who are
not offline and whose desktops were last seen more than `presence_grace_s` ago: every tab
closed, the laptop asleep, the network gone, or the node holding their sockets killed. A tab
reloaded or a network blip within the grace changes nothing. An agent who never opened a
desktop (an integration working through the API) has no stamp and is never swept.

Several nodes may sweep at once: the change is made under the agent's row lock and only when
the stamp is still stale, so it happens once.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select, update

from threadline.agents.models import Agent
from threadline.context import Context
from threadline.db import across_orgs, utcnow
from threadline.events.domain import PresenceChanged

log = structlog.get_logger(__name__)


class DesktopPresence:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._open: dict[str, int] = {}  # agent id -> desktop sockets on this node
        self._task: asyncio.Task[None] | None = None
        self.grace_s = ctx.settings.presence_grace_s
        self.heartbeat_s = max(0.05, min(15.0, self.grace_s / 4))

    def opened(self, agent_id: str) -> None:
        first = agent_id not in self._open
        self._open[agent_id] = self._open.get(agent_id, 0) + 1
        if first:  # stamped at once: an agent swept a moment ago is not swept again on reload
            self._stamp_soon([agent_id])

    def closed(self, agent_id: str) -> None:
        left = self._open.get(agent_id, 0) - 1
        if left > 0:
            self._open[agent_id] = left
        else:
            self._open.pop(agent_id, None)  # no more stamps: the grace runs from the last one

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="desktop-presence")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        with across_orgs():  # every organisation's agents
            while True:
                await asyncio.sleep(self.heartbeat_s)
                try:
                    await self.beat()
                    await self.sweep(utcnow())
                except Exception:  # a database hiccup must not end the loop
                    log.exception("desktops.beat_failed")

    async def beat(self) -> None:
        """Stamp the agents with a desktop open on this node."""
        await self._stamp(list(self._open))

    def _stamp_soon(self, agent_ids: list[str]) -> None:
        async def stamp() -> None:
            with across_orgs(), contextlib.suppress(Exception):
                await self._stamp(agent_ids)

        asyncio.get_running_loop().create_task(stamp())

    async def _stamp(self, agent_ids: list[str]) -> None:
        if not agent_ids:
            return
        async with self._ctx.uow() as uow:
            await uow.session.execute(
                update(Agent).where(Agent.id.in_(agent_ids)).values(desktop_seen_at=utcnow())
            )

    async def sweep(self, now: datetime) -> list[str]:
        """Set offline the agents whose desktops were last seen over the grace ago."""
        stale = now - timedelta(seconds=self.grace_s)
        async with self._ctx.db.sessions() as session:
            candidates = (
                await session.scalars(
                    select(Agent.id).where(
                        Agent.presence != "offline",
                        Agent.desktop_seen_at.is_not(None),
                        Agent.desktop_seen_at < stale,
                    )
                )
            ).all()
        swept = []
        for agent_id in candidates:
            if agent_id in self._open:
                continue  # a socket here: the next beat stamps it
            async with self._ctx.uow() as uow:
                agent = await uow.lock(Agent, agent_id)
                if (
                    agent is None
                    or agent.presence == "offline"
                    or agent.desktop_seen_at is None
                    or agent.desktop_seen_at >= stale
                ):
                    continue
                agent.presence = "offline"
                agent.presence_since = now
                uow.emit(
                    PresenceChanged(
                        org_id=agent.org_id,
                        agent_id=agent.id,
                        presence="offline",
                        at=now,
                        reason="no_desktop",
                    )
                )
                swept.append(agent_id)
        if swept:
            log.info("desktops.swept_offline", agents=len(swept))
        return swept
