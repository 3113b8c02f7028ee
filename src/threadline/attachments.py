"""Attachment bytes on disk, addressed by their SHA-256 (content-addressed, so the same file
sent twice is stored once and a redelivered email rewrites nothing). The timeline event
keeps only the metadata (filename, type, size, sha256).

Files are written before the event that names them is committed: a crash in between leaves
an unreferenced file (harmless, and rewritten in place by the redelivery), never an event
pointing at missing bytes."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import secrets
from pathlib import Path

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class AttachmentStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        """Where the bytes with this digest live; refuses anything but a digest (no paths)."""
        if not _SHA256.match(sha256):
            raise ValueError("not a sha256 hex digest")
        return self.root / sha256[:2] / sha256

    async def put(self, data: bytes) -> str:
        """Store the bytes; returns their SHA-256."""
        sha256 = hashlib.sha256(data).hexdigest()
        await asyncio.to_thread(self._write, self.path(sha256), data)
        return sha256

    async def get(self, sha256: str) -> bytes:
        return await asyncio.to_thread(self.path(sha256).read_bytes)

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        if path.is_file():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
        with partial.open("wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)  # atomic: readers see all of the file or none of it
