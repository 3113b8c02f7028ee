"""Files on a thread's timeline served to the staff of its organisation
(GET /api/v1/threads/{id}/files/{sha256}): a customer's email attachments with their type,
inline only for images, audio and video (an SVG, an HTML page and a PDF are downloaded),
never sniffed, under a sandbox CSP; another organisation's agent gets a 404, as does a
digest the thread does not name. A call's recording is fetched from the (fake) Twilio with
the account's basic auth and kept as such a file, played from our server. And the agent's
open wrap-ups (GET /api/v1/wrapups) for a reloaded desktop. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import smtplib
import struct
import uuid
import zlib
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from tests.conftest import PASSWORD, TEST_SECRET, Running, World, login
from tests.fakes.twilio import ACCOUNT_SID, FakeTwilio, running_fake_twilio, silent_mp3
from tests.integration.test_email_inbound import MAILBOX, add_mailbox
from tests.integration.test_routing_flow import eventually
from tests.integration.test_voice import CALLER, NUMBER, call_into_queue, url, voice_endpoint
from tests.integration.test_wrapup import _one_chat_rui, _served
from threadline.agents.schemas import AgentCreate
from threadline.agents.services import do_create_agent
from threadline.config import Settings
from threadline.orgs.services import do_create_org
from threadline.routing.models import Queue
from threadline.simulated.http_server import free_port
from threadline.threads.models import ThreadEvent
from threadline.web.media import MEDIA_CSP


def _png(width: int, height: int) -> bytes:
    """A real PNG (an RGB gradient), written with zlib as the format says."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    rows = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in (x * 255 // width, 120, y * 255 // height))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PNG = _png(160, 120)
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.domain)</script></svg>'
HTML = b"<html><body><script>alert(document.cookie)</script></body></html>"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
FILES = {
    "photo.png": (PNG, "image", "png"),
    "logo.svg": (SVG, "image", "svg+xml"),
    "page.html": (HTML, "text", "html"),
    "statement.pdf": (PDF, "application", "pdf"),
}


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The server receives email on a port of its own and keeps files under tmp_path."""
    return Settings(
        database_url=database_url,
        secret_key=TEST_SECRET,
        offer_timeout_s=20,
        timer_poll_s=0.05,
        email_smtp_port=free_port(),
        email_attachments_dir=tmp_path / "files",
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with running_fake_twilio() as fake:
        yield fake


def _email_with_files() -> bytes:
    message = EmailMessage()
    message["From"] = "Ana Lopes <ana@example.com>"
    message["To"] = MAILBOX
    message["Subject"] = "My documents"
    message["Message-ID"] = f"<{uuid.uuid4().hex}@example.com>"
    message.set_content("Here are the files you asked for.")
    for name, (data, main, sub) in FILES.items():
        message.add_attachment(data, maintype=main, subtype=sub, filename=name)
    return message.as_bytes()


async def _customer_emails(server: Running, world: World) -> ThreadEvent:
    """Ana emails the mailbox (SMTP, as her mail server does); her message, once stored."""
    await add_mailbox(server.ctx, world)
    port = server.ctx.settings.email_smtp_port
    assert port is not None

    def send() -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail("ana@example.com", [MAILBOX], _email_with_files())

    await asyncio.to_thread(send)

    async def stored() -> ThreadEvent | None:
        async with server.ctx.db.sessions() as db:
            return await db.scalar(
                select(ThreadEvent).where(
                    ThreadEvent.org_id == world.org_id, ThreadEvent.kind == "message"
                )
            )

    return await eventually(stored)


def _files(event: ThreadEvent) -> dict[str, dict[str, Any]]:
    return {f["filename"]: f for f in event.data["attachments"]}


async def _outsider(server: Running) -> httpx.AsyncClient:
    """An admin of another organisation, logged in."""
    org = await do_create_org(server.ctx, f"other-{uuid.uuid4().hex[:6]}", "Other Bank")
    await do_create_agent(
        server.ctx,
        org.id,
        AgentCreate(
            email="eve@other.example.com",
            name="Eve",
            password=PASSWORD,
            role="admin",
            skills={"general": 1},
            languages=["en"],
            capacity={"chat": 1},
        ),
    )
    return await login(server, "eve@other.example.com")


async def test_a_customers_files_are_served_to_the_organisations_staff_only(
    server: Running, world: World
) -> None:
    event = await _customer_emails(server, world)
    files = _files(event)
    assert set(files) == set(FILES)
    base = f"/api/v1/threads/{event.thread_id}/files"
    olga = await login(server, "olga@example.com")  # any agent of the organisation

    photo = await olga.get(f"{base}/{files['photo.png']['sha256']}")
    assert photo.status_code == 200 and photo.content == PNG
    assert photo.headers["content-type"] == "image/png"
    assert photo.headers["content-disposition"] == "inline; filename*=UTF-8''photo.png"
    assert photo.headers["x-content-type-options"] == "nosniff"
    assert photo.headers["content-security-policy"] == MEDIA_CSP
    assert "sandbox" in MEDIA_CSP and "default-src 'none'" in MEDIA_CSP

    # script-carrying types are never shown in the browser: downloaded, sandboxed
    for name, kind in (
        ("logo.svg", "image/svg+xml"),
        ("page.html", "text/html"),
        ("statement.pdf", "application/pdf"),
    ):
        response = await olga.get(f"{base}/{files[name]['sha256']}")
        assert response.status_code == 200, name
        assert response.content == FILES[name][0]
        assert response.headers["content-type"].split(";")[0] == kind
        assert response.headers["content-disposition"].startswith("attachment;"), name
        assert response.headers["content-security-policy"] == MEDIA_CSP
        assert response.headers["x-content-type-options"] == "nosniff"

    # a digest this thread does not name, even one stored for another thread, is not found
    for digest in (hashlib.sha256(b"nothing").hexdigest(), "0" * 64, "not-a-digest"):
        missing = await olga.get(f"{base}/{digest}")
        assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    photo_digest = files["photo.png"]["sha256"]
    elsewhere = await olga.get(f"/api/v1/threads/{uuid.uuid4()}/files/{photo_digest}")
    assert elsewhere.status_code == 404

    eve = await _outsider(server)  # another organisation: as if the thread did not exist
    for name in FILES:
        refused = await eve.get(f"{base}/{files[name]['sha256']}")
        assert refused.status_code == 404, name
        assert refused.json()["code"] == "not_found"
        assert FILES[name][0] not in refused.content
    async with server.client() as anonymous:
        assert (await anonymous.get(f"{base}/{files['photo.png']['sha256']}")).status_code == 401
    await olga.aclose()
    await eve.aclose()


async def test_a_call_recording_is_fetched_with_the_accounts_credentials_and_played_from_here(
    server: Running, world: World, twilio: FakeTwilio
) -> None:
    admin = await login(server, "admin@example.com")
    created = await admin.post("/api/v1/endpoints", json=voice_endpoint(world, twilio, record=True))
    assert created.status_code == 201, created.text
    await call_into_queue(server, twilio, "CA70", ("1", "2"))
    recording_sid, recording_url = twilio.record(seconds=2)
    assert recording_url.startswith(f"{twilio.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/")

    # the fake serves the media as Twilio does: basic auth, .mp3 or .wav
    async with httpx.AsyncClient(timeout=10) as plain:
        assert (await plain.get(recording_url + ".mp3")).status_code == 401
        wrong = await plain.get(recording_url + ".mp3", auth=(ACCOUNT_SID, "wrong"))
        assert wrong.status_code == 401
        wav = await plain.get(recording_url + ".wav", auth=(ACCOUNT_SID, twilio.auth_token))
        assert wav.status_code == 200 and wav.content.startswith(b"RIFF")
    fetches = twilio.recording_fetches

    callback = {
        "RecordingSid": recording_sid,
        "RecordingUrl": recording_url,
        "RecordingStatus": "completed",
        "RecordingDuration": "2",
    }
    for _ in range(2):  # a retried callback fetches nothing again
        done = await twilio.call_webhook(
            url(server, "/recording"), "CA70", CALLER, NUMBER, **callback
        )
        assert done.status_code == 200, done.text
    assert twilio.recording_fetches == fetches + 1  # fetched once, with the credentials

    async with server.ctx.db.sessions() as db:
        entry = await db.scalar(select(ThreadEvent).where(ThreadEvent.kind == "call_recording"))
    assert entry is not None
    kept = entry.data["recording"]
    assert kept["content_type"] == "audio/mpeg" and kept["size"] == len(silent_mp3(2))
    assert entry.data["recording_url"] == recording_url  # the provider's link stays too

    rui = await login(server, "rui@example.com")
    timeline = (await rui.get(f"/api/v1/threads/{entry.thread_id}/events")).json()
    [shown] = [e for e in timeline if e["kind"] == "call_recording"]
    assert shown["data"]["recording"]["sha256"] == kept["sha256"]
    audio = await rui.get(f"/api/v1/threads/{entry.thread_id}/files/{kept['sha256']}")
    assert audio.status_code == 200 and audio.content == silent_mp3(2)
    assert audio.headers["content-type"] == "audio/mpeg"
    assert audio.headers["content-disposition"].startswith("inline;")
    assert twilio.recording_fetches == fetches + 1  # played from here, not from the provider

    eve = await _outsider(server)
    refused = await eve.get(f"/api/v1/threads/{entry.thread_id}/files/{kept['sha256']}")
    assert refused.status_code == 404
    await rui.aclose()
    await eve.aclose()
    await admin.aclose()


async def test_a_recording_the_provider_will_not_give_keeps_its_link_only(
    server: Running, world: World, twilio: FakeTwilio
) -> None:
    admin = await login(server, "admin@example.com")
    created = await admin.post("/api/v1/endpoints", json=voice_endpoint(world, twilio, record=True))
    assert created.status_code == 201, created.text
    await admin.aclose()
    await call_into_queue(server, twilio, "CA71", ("1", "2"))
    gone = f"{twilio.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE404"
    callback = {"RecordingSid": "RE404", "RecordingUrl": gone, "RecordingStatus": "completed"}
    done = await twilio.call_webhook(url(server, "/recording"), "CA71", CALLER, NUMBER, **callback)
    assert done.status_code == 200
    async with server.ctx.db.sessions() as db:
        entry = await db.scalar(select(ThreadEvent).where(ThreadEvent.kind == "call_recording"))
    assert entry is not None
    assert entry.data["recording_url"] == gone and "recording" not in entry.data


async def test_the_open_wrap_up_is_there_after_a_reload(server: Running, world: World) -> None:
    ctx = server.ctx
    await _one_chat_rui(ctx, world, wrapup_s=600)
    thread_id = await _served(ctx, world, "reloaded")
    rui = await login(server, "rui@example.com")
    assert (await rui.get("/api/v1/wrapups")).json() == []
    resolved = await rui.post(f"/api/v1/threads/{thread_id}/resolve", json={"reason": "billing"})
    assert resolved.status_code == 200, resolved.text
    async with ctx.uow() as uow:  # a later change of the queue's time does not move it
        await uow.session.execute(
            update(Queue).where(Queue.org_id == world.org_id).values(wrapup_s=30)
        )

    [open_] = (await rui.get("/api/v1/wrapups")).json()
    assert open_["thread_id"] == thread_id and open_["contact_id"] == resolved.json()["id"]
    assert open_["limit_s"] == 600 and open_["channel"] == "chat"
    assert open_["started_at"] == resolved.json()["wrapup_started_at"]
    olga = await login(server, "olga@example.com")
    assert (await olga.get("/api/v1/wrapups")).json() == []  # only the agent's own

    assert (await rui.post(f"/api/v1/threads/{thread_id}/wrapup/done")).status_code == 200
    assert (await rui.get("/api/v1/wrapups")).json() == []
    await rui.aclose()
    await olga.aclose()
