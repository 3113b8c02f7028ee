"""Live estimated wait time (EWT) of waiting contacts, from the routing engine's state.

The predictors are the pure ones in queueing/ewt.py; this module feeds them what the
live system knows, per queue: the recent handle time and hang-up rate, the last delay,
and a ``BlendedPredictor`` that learns from every answered contact which mix of the
predictors to trust.  The queue figures are seeded from the database at start-up (the
last few hundred ended contacts of each queue) and then kept up to date by the routing
service as contacts are answered, abandoned and resolved.

What a customer sees is ``WaitEstimate.low_s``/``high_s`` (a range snapped to a ladder
of minutes, see ``ewt.wait_range``), never a falsely precise number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from threadline.events.domain import ContactAbandoned, ContactAccepted, ContactResolved
from threadline.queueing import ewt
from threadline.routing.engine import Router
from threadline.routing.models import Contact, Queue

SEED_CONTACTS = 500  # ended contacts per queue read at start-up
_MEMORY = 10_000  # arrival estimates kept for learning; the oldest are dropped


@dataclass(frozen=True, slots=True)
class WaitEstimate:
    """A waiting contact's place and predicted wait."""

    contact_id: str
    queue_id: str
    position: int  # 1 = next to be answered
    agents: int  # available agents who could take it
    ewt_s: float
    low_s: float
    high_s: float | None  # None: "more than low_s"
    label: str  # English; customer-facing texts come from locale files
    estimates: dict[str, float]  # each single predictor's, by name

    def as_data(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "agents": self.agents,
            "ewt_s": round(self.ewt_s, 1) if math.isfinite(self.ewt_s) else None,
            "low_s": round(self.low_s),
            "high_s": None if self.high_s is None else round(self.high_s),
        }


@dataclass(slots=True)
class _QueueFigures:
    handle: ewt.HandleTimeEstimator
    abandonment: ewt.AbandonmentEstimator = field(default_factory=ewt.AbandonmentEstimator)
    blend: ewt.BlendedPredictor = field(default_factory=ewt.BlendedPredictor)
    last_delay_s: float | None = None


class WaitEstimator:
    """Per-queue figures and the per-contact estimate; not thread-safe (one event loop)."""

    def __init__(self, default_handle_s: float) -> None:
        self._default_handle_s = default_handle_s
        self._queues: dict[str, _QueueFigures] = {}
        self._at_arrival: dict[str, dict[str, float]] = {}

    def figures(self, queue_id: str) -> _QueueFigures:
        figures = self._queues.get(queue_id)
        if figures is None:
            figures = self._queues[queue_id] = _QueueFigures(
                ewt.HandleTimeEstimator(self._default_handle_s, alpha=0.05)
            )
        return figures

    async def seed(self, session: Any) -> None:
        """Learn each queue's recent handle times, delays and hang-ups from storage."""
        self._queues.clear()
        # one indexed read per queue (ix_contacts_queue_ended), newest first: never a pass
        # over all the contacts ever handled
        queue_ids = await session.scalars(select(Queue.id))
        for queue_id in list(queue_ids):
            rows = await session.execute(
                select(Contact.status, Contact.enqueued_at, Contact.accepted_at, Contact.ended_at)
                .where(
                    Contact.queue_id == queue_id,
                    Contact.status.in_(("resolved", "abandoned")),
                    Contact.ended_at.is_not(None),
                )
                .order_by(Contact.ended_at.desc())
                .limit(SEED_CONTACTS)
            )
            for status, enqueued, accepted, ended in reversed(rows.all()):
                if status == "abandoned":
                    self.abandoned(queue_id, None, _seconds(enqueued, ended))
                elif accepted is not None:
                    self.answered(queue_id, None, _seconds(enqueued, accepted))
                    self.handled(queue_id, _seconds(accepted, ended))

    # ------------------------------------------------------------ live feed
    def arrived(self, router: Router, contact_id: str, queue_id: str, now: float) -> None:
        """A contact found no free agent: remember what each predictor said, to score it
        against the real delay when the contact is answered."""
        estimate = self.estimate(router, contact_id, queue_id, now)
        if estimate is None:
            return
        if len(self._at_arrival) >= _MEMORY:
            self._at_arrival.pop(next(iter(self._at_arrival)))
        self._at_arrival[contact_id] = estimate.estimates

    def answered(self, queue_id: str, contact_id: str | None, waited_s: float) -> None:
        figures = self.figures(queue_id)
        figures.last_delay_s = waited_s
        figures.abandonment.add(waited_s, abandoned=False)
        estimates = self._at_arrival.pop(contact_id, None) if contact_id else None
        if estimates is not None:
            figures.blend.observe(estimates, waited_s)

    def abandoned(self, queue_id: str, contact_id: str | None, waited_s: float) -> None:
        self.figures(queue_id).abandonment.add(waited_s, abandoned=True)
        if contact_id:
            self._at_arrival.pop(contact_id, None)

    def handled(self, queue_id: str, handle_s: float) -> None:
        if handle_s > 0:
            self.figures(queue_id).handle.add(handle_s)

    # ---- fed by the contacts' domain events, after each commit (routing/services.register)
    async def on_accepted(self, event: ContactAccepted) -> None:
        if not event.callback_retry:  # a kept place called back: its delay teaches nothing
            self.answered(event.queue_id, event.contact_id, event.waited_s)

    async def on_resolved(self, event: ContactResolved) -> None:
        if event.handle_s is not None:
            self.handled(event.queue_id, event.handle_s)

    async def on_abandoned(self, event: ContactAbandoned) -> None:
        self.abandoned(event.queue_id, event.contact_id, event.waited_s)

    def forget(self, contact_id: str) -> None:
        self._at_arrival.pop(contact_id, None)

    # ------------------------------------------------------------ estimate
    def estimate(
        self, router: Router, contact_id: str, queue_id: str, now: float
    ) -> WaitEstimate | None:
        snapshot = router.wait_snapshot(contact_id)
        if snapshot is None:
            return None
        figures = self.figures(queue_id)
        state = ewt.QueueState(
            ahead=snapshot.ahead,
            agents_staffed=snapshot.slots,
            agents_busy=snapshot.busy_slots,
            mean_handle_s=figures.handle.mean_s,
            abandon_rate_per_s=figures.abandonment.rate_per_s,
            last_delay_s=figures.last_delay_s,
            head_wait_s=max(now - snapshot.head_enqueued_at, 0.0),
        )
        estimates = ewt.predict_each(state)
        if math.isinf(estimates[ewt.QL]):
            # Nobody available is staffed for it: no queue-length estimate exists; the
            # delay history is all there is, and the range says "more than".
            estimates[ewt.QL] = max(estimates[ewt.LES], estimates[ewt.HOL])
            value = math.inf
        else:
            value = figures.blend.predict(estimates)
        if math.isinf(value):
            shown = ewt.wait_range(math.inf)
        else:
            shown = ewt.wait_range(value, figures.blend.ratio_band())
        return WaitEstimate(
            contact_id=contact_id,
            queue_id=queue_id,
            position=snapshot.ahead + 1,
            agents=snapshot.agents,
            ewt_s=value,
            low_s=shown.low_s,
            high_s=shown.high_s,
            label=shown.label,
            estimates=estimates,
        )


def _seconds(start: datetime, end: datetime) -> float:
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    return max((end - start).total_seconds(), 0.0)
