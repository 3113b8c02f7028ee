"""`threadline backup` / `threadline restore` on real SQLite files: an online copy taken while
another connection writes, checked and restorable; refusals are one line, never a traceback."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from threadline.backup import BackupError, backup, restore
from threadline.cli import app
from threadline.migrate import known_revisions, upgrade


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "threadline.db"
    url = f"sqlite+aiosqlite:///{path}"
    monkeypatch.setenv("THREADLINE_DATABASE_URL", url)
    monkeypatch.setenv("THREADLINE_SECRET_KEY", "test-secret-key-for-the-cli-0123456789")
    monkeypatch.chdir(tmp_path)
    upgrade(url)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(
            "INSERT INTO organizations (id, slug, name, timezone, created_at) "
            "VALUES ('o1', 'acme', 'Acme', 'UTC', '2026-12-06 10:00:00')"
        )
    return path


def orgs(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [r[0] for r in db.execute("SELECT slug FROM organizations ORDER BY slug")]


def test_an_online_backup_while_another_connection_writes(database: Path, tmp_path: Path) -> None:
    writer = sqlite3.connect(database, check_same_thread=False)
    writer.execute("CREATE TABLE scratch (n INTEGER)")
    stop = threading.Event()

    def write() -> None:
        n = 0
        while not stop.is_set():
            with writer:
                writer.execute("INSERT INTO scratch VALUES (?)", (n,))
            n += 1

    thread = threading.Thread(target=write)
    thread.start()
    try:
        copied = backup(database, tmp_path / "copy.db")
    finally:
        stop.set()
        thread.join()
        writer.close()
    assert copied.revision in known_revisions()
    assert orgs(copied.path) == ["acme"]
    with sqlite3.connect(copied.path) as db:  # a consistent snapshot: 0..k-1, no gap
        rows = [r[0] for r in db.execute("SELECT n FROM scratch ORDER BY n")]
    assert rows == list(range(len(rows)))
    assert not list(tmp_path.glob(".*.partial"))


def test_restore_replaces_the_database_and_keeps_the_old_one(
    database: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    made = runner.invoke(app, ["backup", "--out", str(tmp_path / "b.db")])
    assert made.exit_code == 0, made.output
    assert "integrity checked" in made.output
    with sqlite3.connect(database) as db:
        db.execute(
            "INSERT INTO organizations (id, slug, name, timezone, created_at) "
            "VALUES ('o2', 'later', 'Later', 'UTC', '2026-12-06 11:00:00')"
        )
    assert orgs(database) == ["acme", "later"]
    back = runner.invoke(app, ["restore", str(tmp_path / "b.db"), "--yes"])
    assert back.exit_code == 0, back.output
    assert orgs(database) == ["acme"]
    kept = list(tmp_path.glob("threadline.db.before-restore-*"))
    assert len(kept) == 1 and orgs(kept[0]) == ["acme", "later"]


def test_restore_asks_first(database: Path, tmp_path: Path) -> None:
    backup(database, tmp_path / "b.db")
    answer = CliRunner().invoke(app, ["restore", str(tmp_path / "b.db")], input="n\n")
    assert answer.exit_code == 1 and "Aborted" in answer.output
    assert not list(tmp_path.glob("threadline.db.before-restore-*"))


def test_what_is_not_a_threadline_backup_is_refused(database: Path, tmp_path: Path) -> None:
    text = tmp_path / "notes.db"
    text.write_text("not a database at all, just some text " * 100)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    newer = tmp_path / "newer.db"
    backup(database, newer)
    with sqlite3.connect(newer) as db:
        db.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    for path, reason in (
        (text, "is not a SQLite database"),
        (other, "is not a Threadline database"),
        (newer, "unknown to this version"),
        (tmp_path / "missing.db", "no file"),
    ):
        with pytest.raises(BackupError, match=reason):
            restore(path, database, known_revisions())
        result = CliRunner().invoke(app, ["restore", str(path), "--yes"])
        assert result.exit_code == 2 and reason in " ".join(result.output.split())
        assert "Traceback" not in result.output
    assert orgs(database) == ["acme"]  # nothing was touched


def test_backup_refuses_to_overwrite_and_postgres_is_pointed_elsewhere(
    database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "taken.db").write_bytes(b"x")
    result = CliRunner().invoke(app, ["backup", "--out", str(tmp_path / "taken.db")])
    assert result.exit_code == 2 and "already exists" in result.output
    monkeypatch.setenv("THREADLINE_DATABASE_URL", "postgresql+psycopg_async://x@127.0.0.1/x")
    result = CliRunner().invoke(app, ["backup"])
    assert result.exit_code == 2 and "pg_dump" in result.output
