"""The flows a bot can run, by organisation and id: the built-in ones (the demo bank's),
which every organisation has, read-only, and those its admins edit (selfservice/flows/
services.py), of which the published version serves new conversations.

Asked on every customer message, so kept in memory: the published version of each flow
until a version is published (forgotten on this node at the commit, on the others when
they hear the FlowPublished event on the bus), and any version by number for good (a
version never changes)."""

from __future__ import annotations

from collections import OrderedDict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from threadline.db import org_scope
from threadline.events.bus import Bus, Subscription, type_key
from threadline.events.domain import DomainEvent, FlowPublished
from threadline.selfservice.flows.demo_bank import demo_flow
from threadline.selfservice.flows.models import FlowVersion, StoredFlow
from threadline.selfservice.flows.schemas import Flow, FlowInvalid, load_flow

MAX_ID = 64
MAX_VERSIONS = 512  # versions kept in memory (conversations under way), least recent out


def builtin_flows() -> dict[str, Flow]:
    """The built-in flows by id (the demo bank's also as `demo_bank`, its older name)."""
    demo = demo_flow()
    return {demo.id: demo, "demo_bank": demo}


class FlowCatalog:
    def __init__(self) -> None:
        self._builtin = builtin_flows()
        self._published: dict[tuple[str, str], Flow | None] = {}
        self._versions: OrderedDict[tuple[str, str, int], Flow] = OrderedDict()
        self._subscription: Subscription | None = None

    def builtin(self, flow_id: str) -> Flow | None:
        return self._builtin.get(flow_id)

    def is_builtin(self, flow_id: str) -> bool:
        return flow_id in self._builtin

    async def knows(self, session: AsyncSession, org_id: str, flow_id: str) -> bool:
        """Whether an endpoint of the organisation may name this flow: a built-in one, or
        one of its own with a published version."""
        return await self.get(session, org_id, flow_id) is not None

    async def get(
        self, session: AsyncSession, org_id: str, flow_id: str, version: int | None = None
    ) -> Flow | None:
        """The flow's published version (or version `version`), read with the caller's
        session (inside its transaction) the first time; None when there is none."""
        builtin = self._builtin.get(flow_id)
        if builtin is not None:  # one version: a conversation begun on another hands off
            return builtin
        if len(flow_id) > MAX_ID:  # no flow has such an id (nor could the column hold it)
            return None
        if version is not None:
            return await self._version(session, org_id, flow_id, version)
        key = (org_id, flow_id)
        if key not in self._published:
            self._published[key] = await self._load(session, org_id, flow_id, None)
        return self._published[key]

    def forget(self, org_id: str, flow_id: str) -> None:
        """A version of the flow was published: read it again next time."""
        self._published.pop((org_id, flow_id), None)

    def follow(self, bus: Bus) -> None:
        """Hear what other nodes publish (each node gets every event on its bus)."""

        def heard(event: DomainEvent) -> None:
            if isinstance(event, FlowPublished):
                self.forget(event.org_id, event.flow_id)

        self._subscription = bus.subscribe(
            lambda e: isinstance(e, FlowPublished), keys=[type_key(FlowPublished.type)], sink=heard
        )

    async def _version(
        self, session: AsyncSession, org_id: str, flow_id: str, version: int
    ) -> Flow | None:
        key = (org_id, flow_id, version)
        found = self._versions.get(key)
        if found is not None:
            self._versions.move_to_end(key)
            return found
        flow = await self._load(session, org_id, flow_id, version)
        if flow is not None:
            self._versions[key] = flow
            while len(self._versions) > MAX_VERSIONS:
                self._versions.popitem(last=False)
        return flow

    @staticmethod
    async def _load(
        session: AsyncSession, org_id: str, flow_id: str, version: int | None
    ) -> Flow | None:
        query = (
            select(FlowVersion.definition)
            .join(StoredFlow, StoredFlow.id == FlowVersion.flow_ref)
            .where(StoredFlow.org_id == org_id, StoredFlow.flow_id == flow_id)
        )
        if version is None:
            query = query.where(FlowVersion.number == StoredFlow.published)
        else:
            query = query.where(FlowVersion.number == version)
        with org_scope(org_id):
            definition = await session.scalar(query)
        if definition is None:
            return None
        try:
            return load_flow(definition)
        except FlowInvalid:  # saved valid; a later release may check more: a person answers
            return None
