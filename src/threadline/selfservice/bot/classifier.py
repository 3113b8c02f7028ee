"""What the bot asks for an intent: an interface, and the organisation's trained model
(threadline.intents) behind it. With no model the bot gets no intent, and the flow's
no-intent path (clarify, then `otherwise`) takes over."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Protocol

from threadline.intents.engine import IntentModel, ModelDirError
from threadline.selfservice.flows.actions import IntentScore

TOP = 3  # the likeliest intents a clarification may offer


class IntentClassifier(Protocol):
    async def classify(self, org_id: str, text: str, language: str) -> list[IntentScore]:
        """The likeliest intents for `text`, most likely first ([] when there is no model)."""
        ...


class ModelClassifier:
    """The organisation's model in `<root>/<org id>/`, else the shared one in
    `<root>/default/` (the demo bank's, trained on BANKING77); loaded once, read again when
    its manifest changes. Prediction runs in a worker thread (a sparse dot product)."""

    def __init__(self, root: Path | None) -> None:
        self._root = root
        self._loaded: dict[Path, tuple[float, IntentModel]] = {}

    async def classify(self, org_id: str, text: str, language: str) -> list[IntentScore]:
        model = self._model(org_id)
        if model is None or not text.strip():
            return []
        predicted = (await asyncio.to_thread(model.predict, [text], TOP))[0]
        ranked = [(predicted.intent, predicted.confidence), *predicted.alternatives]
        return [IntentScore(intent=i, confidence=min(1.0, max(0.0, c))) for i, c in ranked]

    def _model(self, org_id: str) -> IntentModel | None:
        if self._root is None:
            return None
        for directory in (self._root / org_id, self._root / "default"):
            manifest = directory / "manifest.json"
            try:
                changed = manifest.stat().st_mtime
            except OSError:
                continue
            known = self._loaded.get(directory)
            if known is None or known[0] != changed:
                try:
                    known = (changed, IntentModel.load(directory))
                except (ModelDirError, OSError, ValueError):
                    continue
                self._loaded[directory] = known
            return known[1]
        return None
