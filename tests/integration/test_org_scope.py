"""The organisation filter, enforced in one place (db._scope_to_org): a query on an
organisation's table sees only the organisation in scope, whatever its WHERE forgot; with no
organisation in scope it is refused; a new row cannot land in another organisation. And the
server's own paths start unscoped: a request or worker that never says whose data it reads
fails (these tests and every other test that drives the server)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import delete, func, select, update

from tests.conftest import PASSWORD, Running, World, make_world
from tests.fakes.http_server import serving
from threadline import db as db_module
from threadline.app import create_app
from threadline.config import Settings
from threadline.context import Context
from threadline.customers.models import Customer
from threadline.db import (
    UnscopedQuery,
    across_orgs,
    current_org,
    enter_org,
    no_org,
    org_scope,
)
from threadline.orgs.models import Organization
from threadline.threads.models import Thread


async def _customer(ctx: Context, org_id: str, name: str) -> Customer:
    async with ctx.uow() as uow:
        row = Customer(org_id=org_id, name=name)
        uow.session.add(row)
    return row


@pytest.fixture
async def two(ctx: Context) -> tuple[World, World, Customer, Customer]:
    a, b = await make_world(ctx), await make_world(ctx)
    return a, b, await _customer(ctx, a.org_id, "Ana"), await _customer(ctx, b.org_id, "Boris")


async def test_queries_see_only_the_organisation_in_scope(
    ctx: Context, two: tuple[World, World, Customer, Customer]
) -> None:
    a, b, ana, boris = two
    with org_scope(a.org_id):
        async with ctx.db.sessions() as session:
            # no org_id in any of these WHERE clauses: the filter adds it
            assert await session.get(Customer, boris.id) is None
            assert (await session.get(Customer, ana.id)) is not None
            names = set(await session.scalars(select(Customer.name)))
            assert names == {"Ana"}
            count = await session.scalar(select(func.count()).select_from(Customer))
            assert count == 1
            # joins are filtered on every organisation-owned entity they name
            joined = await session.scalars(
                select(Customer.id).join(Thread, Thread.customer_id == Customer.id, isouter=True)
            )
            assert set(joined) == {ana.id}
        async with ctx.uow() as uow:
            changed = await uow.session.execute(update(Customer).values(name="X"))
            assert changed.rowcount == 1  # type: ignore[attr-defined]
            removed = await uow.session.execute(delete(Customer).where(Customer.id == boris.id))
            assert removed.rowcount == 0  # type: ignore[attr-defined]
    async with ctx.db.sessions() as session:  # the test's own view spans organisations
        stored = {c.id: c.name for c in await session.scalars(select(Customer))}
    assert stored[boris.id] == "Boris"
    assert stored[ana.id] == "X"
    assert a.org_id != b.org_id


async def test_a_statement_built_once_is_scoped_to_whoever_runs_it_each_time(
    ctx: Context, two: tuple[World, World, Customer, Customer]
) -> None:
    """A hot path's statement is built once and its filtered copy kept (db._SCOPED): the
    copy names the organisation by a bound value, so each run sees its own organisation's
    rows, and an unscoped run is still refused."""
    a, b, ana, boris = two
    built_once = select(Customer.id, Customer.name)
    seen = []
    for org_id in (a.org_id, b.org_id, a.org_id):
        with org_scope(org_id):
            async with ctx.db.sessions() as session:
                seen.append({row.id for row in await session.execute(built_once)})
    assert seen == [{ana.id}, {boris.id}, {ana.id}]
    assert built_once in db_module._SCOPED  # filtered once, not once per run
    with no_org():
        async with ctx.db.sessions() as session:
            with pytest.raises(UnscopedQuery, match="Customer"):
                await session.execute(built_once)


async def test_a_query_with_no_organisation_in_scope_is_refused(
    ctx: Context, two: tuple[World, World, Customer, Customer]
) -> None:
    _a, _b, ana, _boris = two
    with no_org():
        assert current_org() is None
        async with ctx.db.sessions() as session:
            with pytest.raises(UnscopedQuery, match="Customer"):
                await session.scalars(select(Customer))
            with pytest.raises(UnscopedQuery):
                await session.get(Customer, ana.id)
            with pytest.raises(UnscopedQuery, match="customers"):
                await session.scalar(select(func.count()).select_from(Customer))
            # the organisations themselves are not owned by one: finding whose is allowed
            assert await session.scalar(select(func.count()).select_from(Organization))
        with pytest.raises(UnscopedQuery):
            async with ctx.uow() as uow:
                await uow.session.execute(update(Customer).values(name="Y"))
        with pytest.raises(UnscopedQuery, match="new Customer"):
            async with ctx.uow() as uow:
                uow.session.add(Customer(org_id=ana.org_id, name="Z"))
        with across_orgs():  # work that spans organisations says so
            async with ctx.db.sessions() as session:
                assert len(list(await session.scalars(select(Customer)))) >= 2


async def test_a_new_row_cannot_land_in_another_organisation(
    ctx: Context, two: tuple[World, World, Customer, Customer]
) -> None:
    a, b, _ana, _boris = two
    with org_scope(a.org_id):
        with pytest.raises(UnscopedQuery, match="while working for"):
            async with ctx.uow() as uow:
                uow.session.add(Customer(org_id=b.org_id, name="Mallory"))
        async with ctx.uow() as uow:
            uow.session.add(Customer(org_id=a.org_id, name="Alice"))
    with org_scope(b.org_id):
        async with ctx.db.sessions() as session:
            names = set(await session.scalars(select(Customer.name)))
    assert names == {"Boris"}


async def test_scopes_nest_and_end_with_their_block(ctx: Context) -> None:
    with no_org():
        with org_scope("org-1"):
            assert current_org() == "org-1"
            with across_orgs():
                assert current_org() is None
            assert current_org() == "org-1"
        assert current_org() is None
        enter_org("org-2")
        assert current_org() == "org-2"


async def test_a_request_starts_unscoped_and_works_for_its_agent(server: Running) -> None:
    """The test's scope (every organisation) does not reach the server: the request works
    for the signed-in agent's organisation only."""
    ctx = server.ctx
    a, b = await make_world(ctx), await make_world(ctx)
    boris = await _customer(ctx, b.org_id, "Boris")
    org_a = await _org(ctx, a.org_id)
    agent = server.client()
    async with agent:
        signed_in = await agent.post(
            "/api/v1/auth/login",
            json={"email": a.agents["admin"].email, "password": PASSWORD, "org": org_a.slug},
        )
        assert signed_in.status_code == 200, signed_in.text
        listed = (await agent.get("/api/v1/customers", params={"q": "Boris"})).json()
        assert boris.id not in str(listed)
        assert (await agent.get(f"/api/v1/customers/{boris.id}")).status_code == 404


async def _org(ctx: Context, org_id: str) -> Organization:
    async with ctx.db.sessions() as session:
        return await session.get_one(Organization, org_id)


async def test_a_request_that_never_says_whose_it_is_is_refused(settings: Settings) -> None:
    """A route that reads an organisation's table before any credential named one is
    refused, even though the test that serves it spans every organisation."""
    app = create_app(settings)

    async def careless() -> dict[str, bool]:
        try:
            async with app.state.ctx.db.sessions() as session:
                await session.scalar(select(func.count(Customer.id)))
        except UnscopedQuery:
            return {"refused": True}
        return {"refused": False}

    app.add_api_route("/careless", careless)
    async with serving(app) as base_url, httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        assert (await client.get("/careless")).json() == {"refused": True}
