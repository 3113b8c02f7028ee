"""Customer data duties: an admin exports everything kept about a customer (JSON plus files)
and erases it: personal data removed or anonymised across threads and domains, counts and
times kept, files deleted unless another customer's thread names the same bytes, audited.
A real server on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.conftest import Running, World, eventually, login
from threadline.callbacks.models import Callback
from threadline.config import Settings
from threadline.customers.models import Customer, Identity
from threadline.db import utcnow
from threadline.orgs.models import AuditEntry
from threadline.routing.models import Contact
from threadline.threads.erasure import PURGED_BODY
from threadline.threads.models import Thread, ThreadEvent
from threadline.web.media import media_store
from threadline.workers.models import Timer

PDF = b"%PDF-1.4 Marta's statement, account PT50 0000 1234"
SHARED = b"\x89PNG\r\n\x1a\n the bank's logo, sent to everyone"


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"email_attachments_dir": tmp_path / "files"})


async def seed(server: Running, world: World) -> tuple[str, str, dict[str, str]]:
    """Marta with a phone and email, a thread with her message (and a file) and the agent's
    reply, an ended contact, a finished callback; another customer shares one file."""
    store = media_store(server.ctx.settings)
    digests = {"pdf": await store.put(PDF), "shared": await store.put(SHARED)}
    files = [
        {"sha256": digests["pdf"], "filename": "statement.pdf", "content_type": "application/pdf"},
        {"sha256": digests["shared"], "filename": "logo.png", "content_type": "image/png"},
    ]
    now = utcnow()
    async with server.ctx.uow() as uow:
        marta = Customer(
            org_id=world.org_id,
            name="Marta Silva",
            email="marta@example.com",
            phone="+351912345678",
        )
        other = Customer(org_id=world.org_id, name="Rita Sousa")
        uow.session.add_all([marta, other])
        await uow.session.flush()
        uow.session.add_all(
            [
                Identity(
                    org_id=world.org_id, customer_id=marta.id, kind="phone", value="+351912345678"
                ),
                Identity(
                    org_id=world.org_id,
                    customer_id=marta.id,
                    kind="email",
                    value="marta@example.com",
                ),
            ]
        )
        thread = Thread(
            org_id=world.org_id,
            customer_id=marta.id,
            subject="My card PT50 1234",
            status="resolved",
        )
        others = Thread(org_id=world.org_id, customer_id=other.id, status="resolved")
        uow.session.add_all([thread, others])
        await uow.session.flush()
        uow.session.add_all(
            [
                ThreadEvent(
                    org_id=world.org_id,
                    thread_id=thread.id,
                    seq=1,
                    kind="message",
                    channel="sms",
                    author_type="customer",
                    author_name="Marta Silva",
                    body="My card 4111 1111 1111 1111 was stolen",
                    data={"attachments": files},
                ),
                ThreadEvent(
                    org_id=world.org_id,
                    thread_id=thread.id,
                    seq=2,
                    kind="message",
                    channel="sms",
                    author_type="agent",
                    author_name="Rui",
                    body="Hello Marta, I blocked it.",
                ),
                ThreadEvent(
                    org_id=world.org_id,
                    thread_id=others.id,
                    seq=1,
                    kind="message",
                    channel="chat",
                    author_type="agent",
                    author_name="Rui",
                    body="Our logo",
                    data={"attachments": [files[1]]},
                ),
            ]
        )
        contact = Contact(
            org_id=world.org_id,
            thread_id=thread.id,
            customer_id=marta.id,
            queue_id=world.queues["cards"].id,
            channel="sms",
            status="resolved",
            reason="card_lost",
            context={"bot": {"slots": {"card": "4111"}}},
            enqueued_at=now - timedelta(minutes=9),
            accepted_at=now - timedelta(minutes=8),
            ended_at=now - timedelta(minutes=2),
        )
        uow.session.add(contact)
        await uow.session.flush()
        uow.session.add(
            Callback(
                org_id=world.org_id,
                thread_id=thread.id,
                customer_id=marta.id,
                queue_id=world.queues["cards"].id,
                kind="keep_place",
                status="completed",
                phone="+351912345678",
                contact_id=contact.id,
            )
        )
    return marta.id, other.id, digests


async def test_an_admin_exports_everything_kept_about_a_customer(
    server: Running, world: World
) -> None:
    marta, _, digests = await seed(server, world)
    admin = await login(server, "admin@example.com")
    try:
        response = await admin.get(f"/api/v1/customers/{marta}/export")
    finally:
        await admin.aclose()
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert "attachment" in response.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    document = json.loads(archive.read("customer.json"))
    assert document["customer"]["name"] == "Marta Silva"
    assert {i["value"] for i in document["identities"]} == {"+351912345678", "marta@example.com"}
    (thread,) = document["threads"]
    assert [e["body"] for e in thread["timeline"]] == [
        "My card 4111 1111 1111 1111 was stolen",
        "Hello Marta, I blocked it.",
    ]
    assert document["contacts"][0]["queue"] == "Cards"
    assert document["callbacks"][0]["phone"] == "+351912345678"
    names = set(archive.namelist())
    assert f"files/{digests['pdf'][:12]}-statement.pdf" in names
    assert archive.read(f"files/{digests['pdf'][:12]}-statement.pdf") == PDF
    async with server.ctx.db.sessions() as session:
        audited = await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "customer.export", AuditEntry.target == marta)
        )
    assert audited == 1


async def test_erasure_removes_personal_data_and_keeps_the_counts(
    server: Running, world: World
) -> None:
    marta, rita, digests = await seed(server, world)
    admin = await login(server, "admin@example.com")
    try:
        unconfirmed = await admin.post(f"/api/v1/customers/{marta}/erase", json={"confirm": "yes"})
        assert unconfirmed.status_code == 422 and "repeat the customer's id" in unconfirmed.text
        agent = await login(server, "rui@example.com")
        forbidden = await agent.post(f"/api/v1/customers/{marta}/erase", json={"confirm": marta})
        await agent.aclose()
        assert forbidden.status_code == 403
        erased = await admin.post(f"/api/v1/customers/{marta}/erase", json={"confirm": marta})
        assert erased.status_code == 200, erased.text
        assert erased.json()["identities_removed"] == 2
        export = await admin.get(f"/api/v1/customers/{marta}/export")
    finally:
        await admin.aclose()
    store = media_store(server.ctx.settings)
    assert not store.exists(digests["pdf"])  # only Marta's thread named it
    assert store.exists(digests["shared"])  # Rita's thread still shows the logo
    async with server.ctx.db.sessions() as session:
        customer = await session.get(Customer, marta)
        assert customer is not None and customer.erased_at is not None
        assert (customer.name, customer.email, customer.phone) == (None, None, None)
        assert (
            await session.scalar(
                select(func.count()).select_from(Identity).where(Identity.customer_id == marta)
            )
            == 0
        )
        rows = (
            await session.scalars(
                select(ThreadEvent)
                .join(Thread, Thread.id == ThreadEvent.thread_id)
                .where(Thread.customer_id == marta)
                .order_by(ThreadEvent.seq)
            )
        ).all()
        assert [(r.kind, r.author_type, r.body, r.data) for r in rows] == [
            ("message", "customer", "[erased]", {}),
            ("message", "agent", "[erased]", {}),
        ]
        assert rows[0].author_name is None
        thread = await session.get(Thread, rows[0].thread_id)
        assert thread is not None and thread.subject is None
        contact = await session.scalar(select(Contact).where(Contact.customer_id == marta))
        assert contact is not None and contact.context == {}
        assert (contact.queue_id, contact.reason, contact.status) == (
            world.queues["cards"].id,
            "card_lost",
            "resolved",
        )
        assert contact.ended_at is not None  # handle time and counts stay for the reports
        callback = await session.scalar(select(Callback).where(Callback.customer_id == marta))
        assert callback is not None and callback.phone == "" and callback.status == "completed"
        untouched = await session.get(Customer, rita)
        assert untouched is not None and untouched.name == "Rita Sousa"
        entry = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "customer.erase")
        )
        assert entry is not None and entry.target == marta
    document = json.loads(zipfile.ZipFile(io.BytesIO(export.content)).read("customer.json"))
    assert document["customer"]["erased_at"] is not None
    assert "Marta" not in json.dumps(document) and "4111" not in json.dumps(document)


async def test_erasure_waits_for_a_live_conversation_and_another_org_cannot(
    server: Running, world: World
) -> None:
    marta, _, _ = await seed(server, world)
    async with server.ctx.uow() as uow:
        contact = await uow.session.scalar(select(Contact).where(Contact.customer_id == marta))
        assert contact is not None
        contact.status = "assigned"
    admin = await login(server, "admin@example.com")
    try:
        busy = await admin.post(f"/api/v1/customers/{marta}/erase", json={"confirm": marta})
        assert busy.status_code == 409 and "in progress" in busy.text
        missing = await admin.post("/api/v1/customers/nope/erase", json={"confirm": "nope"})
        assert missing.status_code == 404
        assert (await admin.get("/api/v1/customers/nope/export")).status_code == 404
    finally:
        await admin.aclose()


async def test_the_retention_policy_removes_old_resolved_content_durably(
    server: Running, world: World
) -> None:
    marta, rita, digests = await seed(server, world)
    async with server.ctx.uow() as uow:  # Marta's conversation is 40 days old, Rita's 10
        for thread in (await uow.session.scalars(select(Thread))).all():
            days = 40 if thread.customer_id == marta else 10
            thread.updated_at = utcnow() - timedelta(days=days)
    admin = await login(server, "admin@example.com")
    try:
        assert (await admin.get("/api/v1/org/retention")).json() == {"content_days": None}
        short = await admin.put("/api/v1/org/retention", json={"content_days": 3})
        assert short.status_code == 422
        agent = await login(server, "rui@example.com")
        refused = await agent.put("/api/v1/org/retention", json={"content_days": 30})
        await agent.aclose()
        assert refused.status_code == 403
        done = await admin.put("/api/v1/org/retention", json={"content_days": 30})
        assert done.status_code == 200 and done.json() == {"content_days": 30}
    finally:
        await admin.aclose()

    async def purged() -> list[ThreadEvent] | None:
        async with server.ctx.db.sessions() as session:
            rows = (
                await session.scalars(
                    select(ThreadEvent)
                    .join(Thread, Thread.id == ThreadEvent.thread_id)
                    .where(Thread.customer_id == marta)
                    .order_by(ThreadEvent.seq)
                )
            ).all()
        return list(rows) if rows and all(r.body == PURGED_BODY for r in rows) else None

    rows = await eventually(purged, timeout=15)
    assert rows[0].data == {} and rows[0].author_name == "Marta Silva"  # the profile stays
    store = media_store(server.ctx.settings)
    assert not store.exists(digests["pdf"]) and store.exists(digests["shared"])
    async with server.ctx.db.sessions() as session:
        customer = await session.get(Customer, marta)
        assert customer is not None and customer.name == "Marta Silva"
        contact = await session.scalar(select(Contact).where(Contact.customer_id == marta))
        assert contact is not None and contact.context == {} and contact.ended_at is not None
        recent = (
            await session.scalars(
                select(ThreadEvent.body)
                .join(Thread, Thread.id == ThreadEvent.thread_id)
                .where(Thread.customer_id == rita)
            )
        ).all()
        assert recent == ["Our logo"]  # 10 days old: kept
        pending = await session.scalar(
            select(func.count())
            .select_from(Timer)
            .where(Timer.kind == "retention_sweep", Timer.fired_at.is_(None), ~Timer.cancelled)
        )
        assert pending == 1  # the next sweep, a day later
    admin = await login(server, "admin@example.com")
    try:
        cleared = await admin.put("/api/v1/org/retention", json={"content_days": None})
        assert cleared.status_code == 200
    finally:
        await admin.aclose()
    async with server.ctx.db.sessions() as session:
        pending = await session.scalar(
            select(func.count())
            .select_from(Timer)
            .where(Timer.kind == "retention_sweep", Timer.fired_at.is_(None), ~Timer.cancelled)
        )
    assert pending == 0
