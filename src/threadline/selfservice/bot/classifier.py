"""What the bot asks for an intent: an interface, and the organisation's trained model
(threadline.intents) behind it. With no model the bot gets no intent, and the flow's
no-intent path (clarify, then `otherwise`) takes over."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Protocol

from threadline.intents.engine import MANIFEST, IntentModel, ModelDirError
from threadline.selfservice.flows.actions import IntentScore

TOP = 3  # the likeliest intents a clarification may offer
DEFAULT = "default"

# What identifies one written model: its manifest's inode, modification time (ns) and size.
# A new model (a new directory behind the organisation's link, or files written again)
# changes at least one, even within the same second.
Version = tuple[int, int, int]


class IntentClassifier(Protocol):
    async def classify(self, org_id: str, text: str, language: str) -> list[IntentScore]:
        """The likeliest intents for `text`, most likely first ([] when there is no model)."""
        ...


def _version(directory: Path) -> Version | None:
    try:
        found = os.stat(directory / MANIFEST)  # follows the organisation's link
    except OSError:
        return None
    return (found.st_ino, found.st_mtime_ns, found.st_size)


class ModelClassifier:
    """The organisation's model in `<root>/<org id>/`, else the shared one in
    `<root>/default/` (the demo bank's, trained on BANKING77). Each is loaded once and read
    again only when its manifest is another file (a stat per message, no reload): the admin
    page's trainings swap a new model in atomically (selfservice/intents/storage.py). A new
    model is loaded in a worker thread while the old one keeps answering; prediction runs in
    a worker thread too (a sparse dot product)."""

    def __init__(self, root: Path | None) -> None:
        self._root = root
        self._loaded: dict[Path, tuple[Version, IntentModel]] = {}
        self._loading: dict[Path, asyncio.Lock] = {}
        self._unreadable: dict[Path, Version] = {}  # not tried again until it changes

    async def classify(self, org_id: str, text: str, language: str) -> list[IntentScore]:
        model = await self.model_for(org_id)
        if model is None or not text.strip():
            return []
        predicted = (await asyncio.to_thread(model.predict, [text], TOP))[0]
        ranked = [(predicted.intent, predicted.confidence), *predicted.alternatives]
        return [IntentScore(intent=i, confidence=min(1.0, max(0.0, c))) for i, c in ranked]

    async def model_for(self, org_id: str) -> IntentModel | None:
        """The model the organisation's bot uses now, if any."""
        if self._root is None:
            return None
        for directory in (self._root / org_id, self._root / DEFAULT):
            version = _version(directory)
            if version is None:
                continue
            model = await self._current(directory, version)
            if model is not None:
                return model
        return None

    async def _current(self, directory: Path, version: Version) -> IntentModel | None:
        known = self._loaded.get(directory)
        if known is not None and known[0] == version:
            return known[1]
        if self._unreadable.get(directory) == version:
            return known[1] if known is not None else None
        lock = self._loading.setdefault(directory, asyncio.Lock())
        if lock.locked() and known is not None:
            return known[1]  # being read again: the old model answers meanwhile
        async with lock:
            known = self._loaded.get(directory)
            if known is not None and known[0] == version:
                return known[1]
            try:
                model = await asyncio.to_thread(IntentModel.load, directory)
            except (ModelDirError, OSError, ValueError):
                self._unreadable[directory] = version
                return known[1] if known is not None else None
            self._loaded[directory] = (version, model)
            return model
