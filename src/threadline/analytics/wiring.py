"""Analytics' place in the composition root (app.build_context)."""

from __future__ import annotations

from threadline.analytics.aggregates import KpiConsumer
from threadline.context import Context


def register(ctx: Context) -> KpiConsumer:
    """Make the KPI counters the durable consumer "kpis"."""
    consumer = KpiConsumer(ctx)
    consumer.register()
    return consumer
