"""Small asyncio helpers shared by the workers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable


async def finish(tasks: Iterable[asyncio.Task[None]], grace_s: float) -> None:
    """Let running tasks finish within `grace_s`, then cancel the rest and wait for them."""
    running = list(tasks)
    if not running:
        return
    _done, pending = await asyncio.wait(running, timeout=grace_s)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
