"""One desktop socket's writer: frames go out from the dispatch itself when they can.

Sending one event to 2,000 desktops through 2,000 writer tasks costs a queue put, a task
wake-up and a queue get per socket, more than the send itself. uvicorn's ASGI send returns
without suspending unless the socket's transport buffer is full (it then waits until the
client reads), so the outbox first runs the send on the spot, inside the bus dispatch (the
bus's `sink`). Only a send that does suspend, and what arrives for that socket meanwhile,
goes to a task of the socket's own, which waits for the client while the dispatch moves on
to the next socket: one slow socket delays no other. Its backlog is bounded: a socket a
whole backlog behind is closed (4408), as the queue-fed writer did.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

import structlog
from fastapi import WebSocket

from threadline.events.bus import SUBSCRIBER_BUFFER
from threadline.events.domain import DomainEvent, SessionEnded
from threadline.realtime.frames import event_text

log = structlog.get_logger(__name__)


class Outbox:
    """Frames for one socket, in order: sent at once when the socket is idle and can take
    them; else kept (at most `limit`) for the socket's own task to send."""

    def __init__(
        self,
        websocket: WebSocket,
        ends_socket: Callable[[SessionEnded], bool],
        limit: int = SUBSCRIBER_BUFFER,
    ) -> None:
        self._websocket = websocket
        self._ends_socket = ends_socket
        self._limit = limit
        self._backlog: deque[DomainEvent] = deque()
        self._task: asyncio.Task[None] | None = None
        self._held = True  # until the socket's first frame (hello) is out
        self.overflowed = False
        self.done = False  # closed (or failed): nothing more is sent

    def deliver(self, event: DomainEvent) -> None:
        """The bus's sink: never raises, never waits."""
        if self.done or self.overflowed:
            return
        if self._held or self._task is not None or isinstance(event, SessionEnded):
            if len(self._backlog) >= self._limit:
                self.overflowed = True  # the task closes the socket once its send is out
                return
            self._backlog.append(event)
            if not self._held and self._task is None:
                self._start(None, None)
            return
        sending = self._websocket.send_text(event_text(event))
        try:
            waiting = sending.send(None)
        except StopIteration:
            return  # sent: the usual case
        except Exception:  # closing or gone: the socket's reader ends the connection
            self.done = True
            return
        self._start(sending, waiting)  # the client is not reading: wait in a task

    def release(self) -> None:
        """The socket's first frame is out: what arrived meanwhile follows it."""
        self._held = False
        if self._backlog and self._task is None:
            self._start(None, None)

    def _start(self, sending: Coroutine[Any, Any, None] | None, waiting: Any) -> None:
        self._task = asyncio.get_running_loop().create_task(self._drain(sending, waiting))

    async def _drain(self, sending: Coroutine[Any, Any, None] | None, waiting: Any) -> None:
        try:
            if sending is not None:
                await _finish(sending, waiting)
            while self._backlog and not self.overflowed:
                event = self._backlog.popleft()
                if not isinstance(event, SessionEnded):
                    await self._websocket.send_text(event_text(event))
                elif self._ends_socket(event):
                    self.done = True
                    await self._websocket.close(code=4401, reason="session ended; log in again")
                    return
            if self.overflowed:
                self.done = True
                await self._websocket.close(code=4408, reason="too slow; reconnect")
        except asyncio.CancelledError:
            raise
        except Exception:  # closing or gone: the socket's reader ends the connection
            self.done = True
        finally:
            self._task = None

    async def close(self) -> None:
        """The socket is done: stop sending (a send still waiting for the client ends)."""
        self.done = True
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _finish(sending: Coroutine[Any, Any, None], waiting: Any) -> None:
    """Run to its end a coroutine that was started outside any task and suspended on
    `waiting` (the future it yielded): resume it each time what it waits for is done."""
    try:
        while True:
            if waiting is None:
                await asyncio.sleep(0)  # a bare yield: just let the loop run once
            else:
                await asyncio.wait((waiting,))  # done, whatever its outcome: it reads it
            try:
                waiting = sending.send(None)
            except StopIteration:
                return
    finally:
        sending.close()  # ended already, or cancelled with us
