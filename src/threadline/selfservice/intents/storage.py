"""Where an organisation's intent models live on disk, and how a new one replaces the old.

``<root>/<org id>`` is what the bot reads (selfservice/bot/classifier.py). Trained here, it is
a symbolic link to ``<root>/.versions/<org id>/<version>/``: a training writes a new version
directory beside the old, and the link is replaced by a rename, which is atomic. The bot
reads the old model or the new one, never a half-written one, and the old stays in use until
the new is complete. A model put there by hand (the CLI's ``--out``) may be a plain directory:
it is kept as a version the first time a trained one replaces it.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from threadline.intents.engine import MANIFEST
from threadline.selfservice.intents.training import EVALUATION

VERSIONS = ".versions"
DEFAULT = "default"
KEEP = 2  # versions kept: the one in use and the one before


def versions_dir(root: Path, org_id: str) -> Path:
    return root / VERSIONS / org_id


def staging_dir(root: Path, org_id: str) -> Path:
    """A new, empty directory for a training to write into (not yet in use)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    path = versions_dir(root, org_id) / f".staging-{stamp}-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True)
    return path


def publish(root: Path, org_id: str, staged: Path) -> Path:
    """Make the complete model in `staged` the organisation's, in one rename; returns the
    version directory it now lives in."""
    version = staged.with_name(staged.name.removeprefix(".staging-"))
    staged.rename(version)
    live = root / org_id
    if live.is_dir() and not live.is_symlink():  # a model copied there by hand
        live.rename(version.with_name(f"manual-{uuid.uuid4().hex[:8]}"))
    link = root / f".link-{org_id}-{uuid.uuid4().hex[:8]}"
    link.symlink_to(version.relative_to(root))
    os.replace(link, live)
    _prune(root, org_id, version)
    return version


def discard(staged: Path) -> None:
    shutil.rmtree(staged, ignore_errors=True)


def _prune(root: Path, org_id: str, current: Path) -> None:
    """Keep the KEEP newest versions (the current one always), and no leftover staging."""
    versions = [p for p in versions_dir(root, org_id).iterdir() if p.is_dir()]
    finished = sorted(
        (p for p in versions if not p.name.startswith(".staging-")),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in finished[KEEP:]:
        if old != current:
            shutil.rmtree(old, ignore_errors=True)


def model_in_use(root: Path | None, org_id: str) -> tuple[str, Path] | None:
    """("organisation" or "default", directory) of the model the bot uses for `org_id`."""
    if root is None:
        return None
    for source, directory in (("organisation", root / org_id), ("default", root / DEFAULT)):
        if (directory / MANIFEST).is_file():
            return source, directory
    return None


def describe(root: Path | None, org_id: str) -> dict[str, Any] | None:
    """What the admin page shows of the model in use: its source, when it was trained, its
    examples and intents, and its held-out evaluation when a training here made it."""
    found = model_in_use(root, org_id)
    if found is None:
        return None
    source, directory = found
    try:
        manifest = json.loads((directory / MANIFEST).read_text("utf-8"))
        trained = datetime.fromtimestamp((directory / MANIFEST).stat().st_mtime, UTC)
    except (OSError, ValueError):
        return None
    try:
        evaluation = json.loads((directory / EVALUATION).read_text("utf-8"))
    except (OSError, ValueError):
        evaluation = {}
    classes = list(manifest.get("classes") or [])
    stats = manifest.get("stats") or {}
    return {
        "source": source,
        "trained_at": evaluation.get("trained_at") or trained.isoformat(),
        "trained_by": evaluation.get("trained_by"),
        "examples": evaluation.get("examples", stats.get("examples")),
        "intents": len(classes),
        "threshold": manifest.get("threshold"),
        "evaluation": evaluation or None,
        "per_intent": evaluation.get("per_intent")
        or [{"intent": c, "examples": None, "f1": None} for c in classes],
    }
