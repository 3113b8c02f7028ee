"""A forged From, for real: mail sent to the built-in SMTP server naming a customer whose
address is verified is stored once, in that customer's thread, but marked "sender not
verified" with no assurance; the same customer's DKIM-signed mail, or mail a trusted relay
vouches for, is marked verified. SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import select

from tests.channels.test_email_authentication import RECORD, Dns, _message, _relayed, _signed
from tests.conftest import Running, World, login
from tests.integration.test_email_inbound import Mail, add_mailbox, mail  # noqa: F401
from threadline.customers.models import Customer
from threadline.customers.services import resolve_vouched
from threadline.events.models import EventRecord
from threadline.threads.models import ThreadEvent

ANA = "ana@bank-customer.example"


async def _verified_customer(box: Mail) -> Customer:
    async with box.ctx.uow() as uow:  # vouched for by the bank's backend (verified)
        return await resolve_vouched(uow.session, box.world.org_id, "email", ANA, name="Ana")


async def _customer_messages(box: Mail) -> list[ThreadEvent]:
    return [e for e in await box.messages() if e.kind == "message"]


async def test_a_forged_from_is_stored_once_unverified_and_with_no_assurance(
    mail: Mail,  # noqa: F811
) -> None:
    ana = await _verified_customer(mail)
    forged = _message(ANA)  # unsigned: anyone can write this From
    await mail.asend(forged, sender="mallory@forger.example")
    await mail.asend(forged, sender="mallory@forger.example")  # a redelivery
    [event] = await _customer_messages(mail)
    assert event.author_id == ana.id  # it joins the thread its From names (never lost)
    assert event.data["sender_auth"] == {
        "verified": False,
        "method": "dkim",
        "domain": None,
        "reason": "no DKIM signature",
    }
    assert event.data["assurance"]["level"] == "none"
    # the domain event says so too (webhooks, the bot): no trust of the customer it names
    async with mail.ctx.db.sessions() as session:
        logged = await session.scalars(
            select(EventRecord.data).where(EventRecord.type == "message.received")
        )
        assert [d["sender_verified"] for d in logged] == [False]


async def test_the_customers_dkim_signed_mail_is_verified(mail: Mail) -> None:  # noqa: F811
    ana = await _verified_customer(mail)
    mail.inbound.receiver.dkim_dns = Dns({"s1._domainkey.bank-customer.example": RECORD})
    await mail.asend(_signed(_message(ANA), "bank-customer.example"), sender=ANA)
    [event] = await _customer_messages(mail)
    assert event.author_id == ana.id
    assert event.data["sender_auth"]["verified"] is True
    assert event.data["sender_auth"]["domain"] == "bank-customer.example"
    assert "assurance" not in event.data


async def test_a_mailbox_behind_a_trusted_relay_reads_its_results_only(
    mail: Mail,  # noqa: F811
) -> None:
    await _verified_customer(mail)
    relay = {"sender_auth": {"mode": "relay", "authserv_id": "mx.testbank.example"}}
    mailbox = await add_mailbox(mail.ctx, mail.world, "relay@testbank.example", settings=relay)
    passed = _relayed("mx.testbank.example; dmarc=pass header.from=bank-customer.example")
    forged = _relayed(
        "mx.testbank.example; dmarc=fail header.from=bank-customer.example",
        "mx.testbank.example; dmarc=pass header.from=bank-customer.example",
    ).replace(b"a1@", b"a2@")
    for raw in (passed, forged):
        await mail.asend(raw, sender=ANA, to=mailbox.key)
    async with mail.ctx.db.sessions() as session:
        events = list(
            await session.scalars(
                select(ThreadEvent)
                .where(ThreadEvent.kind == "message", ThreadEvent.org_id == mail.world.org_id)
                .order_by(ThreadEvent.id)
            )
        )
    assert [e.data["sender_auth"]["verified"] for e in events] == [True, False]
    assert [e.data["sender_auth"]["method"] for e in events] == ["relay", "relay"]


async def test_an_admin_sets_how_a_mailbox_checks_senders(server: Running, world: World) -> None:
    admin = await login(server, "admin@example.com")
    try:
        body = {"channel": "email", "key": "help@testbank.example", "name": "Help"}
        wrong = await admin.post(
            "/api/v1/endpoints", json={**body, "settings": {"sender_auth": {"mode": "relay"}}}
        )
        assert wrong.status_code == 422 and "authserv_id" in wrong.text, wrong.text
        default = await admin.post("/api/v1/endpoints", json=body)
        assert default.status_code == 201, default.text
        assert default.json()["settings"]["sender_auth"] == {"mode": "dkim"}
        relay = {"sender_auth": {"mode": "relay", "authserv_id": "MX.TestBank.Example"}}
        saved = await admin.post(
            "/api/v1/endpoints",
            json={**body, "key": "relay@testbank.example", "settings": relay},
        )
        assert saved.status_code == 201, saved.text
        assert saved.json()["settings"]["sender_auth"] == {
            "mode": "relay",
            "authserv_id": "mx.testbank.example",
        }
    finally:
        await admin.aclose()
