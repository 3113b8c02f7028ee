"""GET /api/v1/threads?customer_id=: one customer's threads, on SQLite and PostgreSQL. Any
agent may list them (as the threads list itself); another organisation's customer, or no
such customer, is a 404; a malformed id a 422; a merged customer's id lists the threads of
the customer it was merged into; documented in the OpenAPI document."""

from __future__ import annotations

from tests.conftest import Running, World, login
from tests.integration.test_inbox import writes
from tests.integration.test_openapi import served_document
from threadline.customers.models import Customer
from threadline.orgs.services import do_create_org
from threadline.threads.models import Thread


async def _customer_of(server: Running, thread_id: str) -> str:
    async with server.ctx.db.sessions() as session:
        thread = await session.get(Thread, thread_id)
        assert thread is not None
        return thread.customer_id


async def test_one_customers_threads(server: Running, world: World) -> None:
    marta = await writes(server, world, "v-marta", "my card did not arrive", "Marta Silva")
    other = await writes(server, world, "v-joao", "how do I change my PIN?", "João")
    marta_id, joao_id = await _customer_of(server, marta), await _customer_of(server, other)
    elsewhere = await do_create_org(server.ctx, "other-bank", "Other Bank")
    async with server.ctx.uow() as uow:
        stranger = Customer(org_id=elsewhere.id, name="Not ours")
        uow.session.add(stranger)
        await uow.session.flush()
        stranger_id = stranger.id
    rui = await login(server, "rui@example.com")
    admin = await login(server, "admin@example.com")
    try:
        for client in (rui, admin):  # an agent as an admin
            listed = await client.get("/api/v1/threads", params={"customer_id": marta_id})
            assert listed.status_code == 200, listed.text
            assert [t["id"] for t in listed.json()] == [marta]
            assert {t["customer_id"] for t in listed.json()} == {marta_id}
        everyone = (await rui.get("/api/v1/threads")).json()
        assert {t["id"] for t in everyone} == {marta, other}
        # with the other filters
        params = {"customer_id": marta_id, "status": "resolved"}
        assert (await rui.get("/api/v1/threads", params=params)).json() == []
        params = {"customer_id": marta_id, "mine": "true"}
        assert (await rui.get("/api/v1/threads", params=params)).json() == []

        for missing in (stranger_id, "no-such-customer"):
            gone = await rui.get("/api/v1/threads", params={"customer_id": missing})
            assert gone.status_code == 404, gone.text
            assert gone.json()["code"] == "not_found"
        for bad in ("x" * 37, "a b", "", "é"):
            refused = await rui.get("/api/v1/threads", params={"customer_id": bad})
            assert refused.status_code == 422, (bad, refused.text)
            assert refused.json()["details"]["errors"][0]["loc"] == ["query", "customer_id"]

        merged = await admin.post(
            f"/api/v1/customers/{marta_id}/merge", json={"source_id": joao_id}
        )
        assert merged.status_code < 300, merged.text
        listed = await rui.get("/api/v1/threads", params={"customer_id": joao_id})
        assert {t["id"] for t in listed.json()} == {marta, other}
    finally:
        await rui.aclose()
        await admin.aclose()


async def test_the_filter_is_documented(server: Running) -> None:
    spec = await served_document(server)
    operation = spec["paths"]["/api/v1/threads"]["get"]
    parameter = next(p for p in operation["parameters"] if p["name"] == "customer_id")
    assert parameter["in"] == "query" and not parameter.get("required")
    assert "404" in parameter["description"] and "404" in operation["responses"]
