"""Admins train their organisation's intent model from a CSV of labelled examples.

A training runs in a child process (selfservice/intents/training.py: tens of CPU-seconds
that must not stall the web server), one at a time on this node (the machine's cores serve
the bot too; a second organisation's training waits, "queued"), at most one per
organisation. Its state (queued, training, evaluating, done, failed and why) is kept in
memory, the latest per organisation; the model and its evaluation are files beside the
other models (storage.py), which is what the page shows once it is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from threadline.auth.roles import Principal
from threadline.db import new_id, utcnow
from threadline.errors import Conflict, Invalid
from threadline.intents.engine import (
    Example,
    IntentDataError,
    Prediction,
    check_rows,
    read_csv_bytes,
)
from threadline.selfservice.bot.classifier import TOP, ModelClassifier
from threadline.selfservice.intents import storage, training

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_EXAMPLES = 100_000
UPLOAD_NAME = "the CSV"  # stands for the file's path in the CLI's messages
TIMEOUT_S = 15 * 60  # a training still running then is stopped and failed
RUNNING = frozenset({"queued", "training", "evaluating"})


@dataclass(slots=True)
class Training:
    id: str
    org_id: str
    by: str
    examples: int
    intents: int
    created_at: datetime
    state: str = "queued"
    step: str = ""
    progress: float = 0.0
    reason: str | None = None
    finished_at: datetime | None = None
    evaluation: dict[str, Any] | None = None


def parse_examples(raw: bytes) -> list[Example]:
    """The rows of an uploaded CSV, checked as the CLI checks a file; Invalid says why (and
    on which line)."""
    try:
        rows = read_csv_bytes(raw, UPLOAD_NAME)
        check_rows(rows)
    except IntentDataError as exc:
        raise Invalid(str(exc)) from None
    if len(rows) > MAX_EXAMPLES:
        raise Invalid(f"{len(rows)} examples: at most {MAX_EXAMPLES} in one training")
    return rows


@dataclass
class IntentTrainer:
    """The trainings of this node and the model each organisation's bot uses (built once in
    create_app; `stop` ends what is still running)."""

    root: Path | None
    embeddings: str = "use"
    _latest: dict[str, Training] = field(default_factory=dict)
    _slot: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(1))
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _processes: set[BaseProcess] = field(default_factory=set)
    _models: ModelClassifier = field(init=False)

    def __post_init__(self) -> None:
        self._models = ModelClassifier(self.root)

    def latest(self, org_id: str) -> Training | None:
        return self._latest.get(org_id)

    def model(self, org_id: str) -> dict[str, Any] | None:
        return storage.describe(self.root, org_id)

    def do_start(self, principal: Principal, rows: list[Example]) -> Training:
        """Queue a training of the principal's organisation's model on `rows`; Conflict when
        one is already under way for it, or models have nowhere to go."""
        if self.root is None:
            raise Conflict(
                "intent models have no directory on this server: set THREADLINE_INTENT_MODELS_DIR"
            )
        current = self._latest.get(principal.org_id)
        if current is not None and current.state in RUNNING:
            raise Conflict("a training of this organisation's model is under way: wait for it")
        job = Training(
            id=new_id(),
            org_id=principal.org_id,
            by=principal.name,
            examples=len(rows),
            intents=len({r.category for r in rows}),
            created_at=utcnow(),
        )
        self._latest[principal.org_id] = job
        task = asyncio.create_task(self._run(job, rows), name=f"intents-training-{job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    async def try_text(self, org_id: str, text: str) -> Prediction | None:
        """What the organisation's bot would make of `text` now (None: no model)."""
        model = await self._models.model_for(org_id)
        if model is None:
            return None
        return (await asyncio.to_thread(model.predict, [text], TOP))[0]

    async def stop(self) -> None:
        for process in list(self._processes):
            process.kill()
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- the run ---------------------------------------------------------------------------

    async def _run(self, job: Training, rows: list[Example]) -> None:
        assert self.root is not None  # checked by do_start
        async with self._slot:
            staged = storage.staging_dir(self.root, job.org_id)
            try:
                outcome = await self._in_child(job, rows, staged)
            except BaseException:
                storage.discard(staged)
                raise
            if outcome is None:
                await asyncio.to_thread(storage.publish, self.root, job.org_id, staged)
                job.state, job.step, job.progress = "done", "", 1.0
            else:
                storage.discard(staged)
                job.state, job.step, job.reason = "failed", "", outcome
            job.finished_at = utcnow()

    async def _in_child(self, job: Training, rows: list[Example], staged: Path) -> str | None:
        """Train in a child process, following its progress; None when it wrote the model,
        else why not."""
        spawn = multiprocessing.get_context("spawn")  # no fork of a threaded server
        receive, send = spawn.Pipe(duplex=False)
        about = {"trained_at": job.created_at.isoformat(), "trained_by": job.by}
        process = spawn.Process(
            target=training.run,
            args=([(r.text, r.category) for r in rows], str(staged), self.embeddings, about, send),
            daemon=True,
        )
        job.state, job.step = "training", "starting"
        process.start()
        send.close()
        self._processes.add(process)
        timed_out: list[bool] = []

        def stop_it() -> None:
            timed_out.append(True)
            process.kill()

        watchdog = asyncio.get_running_loop().call_later(TIMEOUT_S, stop_it)
        try:
            outcome = await self._follow(job, receive, process)
            if timed_out:
                return f"the training took over {TIMEOUT_S // 60} minutes and was stopped"
            return outcome
        finally:
            watchdog.cancel()
            if process.is_alive():
                process.kill()
            await asyncio.to_thread(process.join, 10)
            self._processes.discard(process)
            receive.close()

    async def _follow(self, job: Training, receive: Connection, process: BaseProcess) -> str | None:
        while True:
            try:
                message = await asyncio.to_thread(receive.recv)
            except EOFError:
                await asyncio.to_thread(process.join, 10)
                return f"the training stopped unexpectedly (exit code {process.exitcode})"
            kind = message[0]
            if kind == "progress":
                _kind, job.state, job.step, job.progress = message
            elif kind == "done":
                job.evaluation = message[1]
                return None
            else:
                return str(message[1])
