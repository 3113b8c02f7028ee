"""`threadline backup` and `threadline restore` for the embedded SQLite database.

Backup uses SQLite's online backup API (the standard library's `Connection.backup`): it
copies a consistent snapshot while the server keeps running and writing, and
the copy is checked (`PRAGMA integrity_check`) before it is called done. The copy is written
beside its destination under a temporary name and renamed into place, so a half-written file
never carries the backup's name.

Restore checks that the file is a SQLite database made by Threadline (an Alembic revision this
version knows: an older one is upgraded after the restore, a newer one refused), intact, then
copies it over the configured database with the same backup API, inside one write lock, and
keeps the database it replaces as `<name>.before-restore-<time>`. The server must be stopped
first: its memory (routing, waits) was built from the old data.

PostgreSQL has its own tools (`pg_dump -Fc`, `pg_restore`); docs/operations.md says how.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

# The whole copy in one step: one read transaction, so a consistent snapshot that the
# server's writes do not disturb (WAL: readers and the writer do not block each other). Copying
# in several steps would restart from scratch each time another connection writes, and a busy
# server could keep a large copy from ever finishing.
PAGES_PER_STEP = -1


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why."""


@dataclass(frozen=True, slots=True)
class Copied:
    path: Path
    size: int
    revision: str | None


Progress = Callable[[int, int], None]  # (pages done, pages in all)


def backup(source: Path, dest: Path, progress: Progress | None = None) -> Copied:
    """A consistent copy of the live database at `source` in `dest` (not overwritten)."""
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    if dest.exists():
        raise BackupError(f"{dest} already exists: choose another name")
    if not dest.parent.is_dir():
        raise BackupError(f"no folder {dest.parent}")
    partial = dest.with_name(f".{dest.name}.partial")
    try:
        _copy(_open(source, readonly=True), sqlite3.connect(partial), progress)
        revision = _check(partial)
        os.replace(partial, dest)
    except sqlite3.Error as exc:
        raise BackupError(f"backup failed: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return Copied(dest, dest.stat().st_size, revision)


def restore(
    source: Path, dest: Path, known_revisions: set[str], progress: Progress | None = None
) -> Copied:
    """Replace the database at `dest` with the backup at `source`; the replaced one is kept
    beside it. Raises BackupError when `source` is not a usable Threadline backup."""
    if not source.is_file():
        raise BackupError(f"no file {source}")
    if source.resolve() == dest.resolve():
        raise BackupError("the backup and the database are the same file")
    try:
        revision = _check(source)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{source} is not a SQLite database ({exc})") from exc
    if revision is None:
        raise BackupError(f"{source} is not a Threadline database (no schema revision)")
    if revision not in known_revisions:
        raise BackupError(
            f"{source} has schema revision {revision}, unknown to this version of "
            "Threadline (made by a newer one?): upgrade Threadline first"
        )
    kept = None
    if dest.exists():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        kept = dest.with_name(f"{dest.name}.before-restore-{stamp}")
        backup(dest, kept)
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        target = sqlite3.connect(dest, timeout=5)
        _copy(_open(source, readonly=True), target, progress)
    except sqlite3.OperationalError as exc:
        raise BackupError(f"cannot write {dest} ({exc}): is the server still running?") from exc
    return Copied(dest, dest.stat().st_size, revision)


def _open(path: Path, *, readonly: bool) -> sqlite3.Connection:
    mode = "ro" if readonly else "rw"
    return sqlite3.connect(f"file:{path}?mode={mode}", uri=True, timeout=30)


def _copy(
    source: sqlite3.Connection, target: sqlite3.Connection, progress: Progress | None
) -> None:
    def step(_status: int, remaining: int, total: int) -> None:
        if progress is not None:
            progress(total - remaining, total)

    try:
        with target:
            source.backup(target, pages=PAGES_PER_STEP, progress=step)
    finally:
        source.close()
        target.close()


def _check(path: Path) -> str | None:
    """The copy's Alembic revision, after SQLite says it is intact."""
    connection = _open(path, readonly=True)
    try:
        verdict = connection.execute("PRAGMA integrity_check").fetchone()
        if verdict is None or verdict[0] != "ok":
            raise BackupError(f"{path} is damaged: {verdict[0] if verdict else 'no answer'}")
        tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
        if "alembic_version" not in tables:
            return None
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        return None if row is None else str(row[0])
    finally:
        connection.close()


def default_name(database: Path, now: datetime) -> Path:
    """threadline-20261206T153000Z.db beside the database."""
    return database.with_name(f"{database.stem}-{now.strftime('%Y%m%dT%H%M%SZ')}.db")


def free_space_ok(database: Path, folder: Path) -> bool:
    """Whether `folder` has room for a copy of `database` (with 10% to spare)."""
    return shutil.disk_usage(folder).free > database.stat().st_size * 1.1
