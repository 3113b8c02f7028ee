#!/usr/bin/env python
"""The minimal chat app on Threadline's own stack: the in-run baseline of chat_ingest.py.

FastAPI + uvicorn (uvloop, the same WebSocket implementation and settings as `threadline
serve`) + SQLAlchemy async through `threadline.db.create_engine` (same pool, pragmas and
BEGIN IMMEDIATE on SQLite). It speaks just enough of Threadline's protocol for the
benchmark's own clients to drive it unchanged: an agent logs in, holds `/api/v1/stream`,
goes available and accepts offers; a visitor opens a widget session and socket,
authenticates by first frame and sends messages. Each message is one transaction: one
INSERT of a timeline-like row + COMMIT; then the JSON goes to the agent's socket and the
ack to the visitor. Nothing else: no identity, no routing, no events, no dedupe beyond
the unique index. What Threadline costs beyond this is what its features cost.

    python bench/minimal_chat_app.py --url sqlite+aiosqlite:///x.db --port 8765
"""

from __future__ import annotations

import argparse
import itertools
import sys
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

import uvicorn  # noqa: E402
from fastapi import FastAPI, Request, Response, WebSocket, WebSocketDisconnect  # noqa: E402
from sqlalchemy import (  # noqa: E402
    JSON,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
)

from threadline.db import create_engine, utcnow  # noqa: E402


def timeline_table(prefix: str) -> tuple[MetaData, Table]:
    """A scratch table shaped like thread_events (the same columns and unique keys), so
    the baselines write what a message costs to store and nothing else."""
    meta = MetaData()
    table = Table(
        f"{prefix}_{uuid.uuid4().hex[:8]}",
        meta,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("org_id", String(36), nullable=False),
        Column("thread_id", String(36), nullable=False),
        Column("seq", Integer, nullable=False),
        Column("kind", String(24), nullable=False),
        Column("channel", String(16)),
        Column("author_type", String(12), nullable=False),
        Column("author_id", String(36)),
        Column("author_name", String(200)),
        Column("body", Text),
        Column("data", JSON, nullable=False),
        Column("client_msg_id", String(64)),
        Column("created_at", DateTime(timezone=True), nullable=False),
        UniqueConstraint("thread_id", "seq"),
        UniqueConstraint("thread_id", "client_msg_id"),
    )
    return meta, table


meta, entries = timeline_table("bench_minimal")


def build(url: str) -> FastAPI:
    engine = create_engine(url)
    naive = url.startswith("sqlite")
    org = str(uuid.uuid4())
    agents: dict[str, WebSocket] = {}  # agent id -> desktop socket
    threads: dict[str, dict[str, Any]] = {}  # visitor token -> {"id", "seq", "agent"}
    offers: dict[str, str] = {}  # offer id -> thread id
    next_agent = itertools.count()
    stmt = insert(entries)

    async def lifespan(_app: FastAPI) -> Any:
        async with engine.begin() as conn:
            await conn.run_sync(meta.create_all)
        yield
        async with engine.begin() as conn:
            await conn.run_sync(meta.drop_all)
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/v1/auth/login")
    async def login(response: Response) -> dict[str, str]:
        agent_id = str(uuid.uuid4())
        response.set_cookie("tl_session", agent_id)
        return {"agent_id": agent_id}

    @app.put("/api/v1/agents/{agent_id}/presence")
    async def presence(agent_id: str) -> dict[str, str]:
        return {"presence": "available"}

    @app.post("/api/v1/offers/{offer_id}/accept")
    async def accept(offer_id: str) -> dict[str, str]:
        return {"thread_id": offers.pop(offer_id)}

    @app.websocket("/api/v1/stream")
    async def stream(websocket: WebSocket) -> None:
        agent_id = websocket.cookies.get("tl_session") or str(uuid.uuid4())
        await websocket.accept()
        await websocket.send_json({"type": "hello"})
        agents[agent_id] = websocket
        try:
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            agents.pop(agent_id, None)

    @app.post("/api/v1/widget/{key}/session")
    async def session(key: str, request: Request) -> dict[str, str]:
        token = uuid.uuid4().hex
        threads[token] = {"id": str(uuid.uuid4()), "seq": 0, "agent": None}
        return {"visitor_token": token}

    @app.websocket("/api/v1/widget/{key}/ws")
    async def widget(websocket: WebSocket, key: str) -> None:
        await websocket.accept()
        try:
            auth = await websocket.receive_json()
            thread = threads[auth["token"]]
            while True:
                frame = await websocket.receive_json()
                if frame.get("type") != "message":
                    continue
                thread["seq"] += 1
                now = utcnow()
                row = {
                    "org_id": org,
                    "thread_id": thread["id"],
                    "seq": thread["seq"],
                    "kind": "message",
                    "channel": "chat",
                    "author_type": "customer",
                    "author_id": key,
                    "author_name": None,
                    "body": frame["text"],
                    "data": {},
                    "client_msg_id": frame["client_id"],
                    "created_at": now.replace(tzinfo=None) if naive else now,
                }
                async with engine.begin() as conn:
                    await conn.execute(stmt, row)
                if thread["agent"] is None and agents:
                    ids = list(agents)
                    thread["agent"] = ids[next(next_agent) % len(ids)]
                    offer_id = str(uuid.uuid4())
                    offers[offer_id] = thread["id"]
                    await agents[thread["agent"]].send_json(
                        {"type": "offer.created", "offer": {"id": offer_id}}
                    )
                desk = agents.get(thread["agent"] or "")
                if desk is not None:
                    event = {**row, "created_at": now.isoformat()}
                    await desk.send_json({"type": "timeline", "event": event})
                await websocket.send_json(
                    {
                        "type": "ack",
                        "client_id": frame["client_id"],
                        "seq": thread["seq"],
                        "thread_id": thread["id"],
                    }
                )
        except WebSocketDisconnect:
            return

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        build(args.url),
        host=args.host,
        port=args.port,
        log_level="warning",
        loop="uvloop",
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
