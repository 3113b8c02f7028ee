"""The flows a bot can run, by id: the built-in demo bank's for now (flows edited in the
admin UI will join here)."""

from __future__ import annotations

from threadline.selfservice.flows.demo_bank import demo_flow
from threadline.selfservice.flows.schemas import Flow


class FlowCatalog:
    def __init__(self) -> None:
        demo = demo_flow()
        self._flows: dict[str, Flow] = {demo.id: demo, "demo_bank": demo}

    def knows(self, flow_id: str) -> bool:
        return flow_id in self._flows

    def get(self, flow_id: str) -> Flow | None:
        return self._flows.get(flow_id)
