"""Delivering events to subscribed URLs: the durable consumer that writes deliveries, and the
worker that sends them, in three phases so that no HTTP call ever runs inside a database
transaction (as channels/outbox.py does):

1. claim (a durable `webhook_send` timer fires): the delivery goes `pending -> sending` with
   a lease, and a recovery timer is set for when the lease ends;
2. send (after that commit, in a background task, at most `webhooks_max_concurrent_sends`
   at once): a signed POST, no redirects followed, short timeouts, a few KB of the answer
   read;
3. record (a new transaction): the attempt, then `delivered` (2xx), or `pending` again with
   a backoff and jitter (never sooner than a 429/503's Retry-After), or `failed` after the
   last attempt. 410 Gone disables the subscription; so do
   `webhooks_disable_after_failures` deliveries in a row that failed for good.

A delivery still `sending` when its lease ends belongs to a process that stopped mid-send:
it is sent again. Every attempt carries the same `webhook-id` (the event's id), so a
receiver that got it the first time drops the repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import structlog
from sqlalchemy import delete, select, update

from threadline import __version__
from threadline.aio import finish
from threadline.context import Context
from threadline.db import UnitOfWork, new_id, org_scope, utcnow
from threadline.events.domain import DomainEvent, encode
from threadline.webhooks import signing
from threadline.webhooks.destinations import Refused, destination
from threadline.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from threadline.workers.models import Timer
from threadline.workers.timers import schedule

log = structlog.get_logger(__name__)

WEBHOOK_SEND = "webhook_send"
TEST_EVENT = "webhook.test"
MAX_RESPONSE_BYTES = 2000  # what is kept of a receiver's answer (the rest is not read)
PRUNE_EVERY_S = 3600.0
_ENVELOPE = ("type", "id", "org_id", "occurred_at")


def payload_of(event: DomainEvent) -> dict[str, Any]:
    """The body a receiver gets: {"id", "type", "timestamp", "org_id", "data": {...}}."""
    encoded = encode(event)
    return {
        "id": event.id,
        "type": event.type,
        "timestamp": encoded["occurred_at"],
        "org_id": event.org_id,
        "data": {k: v for k, v in encoded.items() if k not in _ENVELOPE},
    }


def test_payload(org_id: str, subscription_id: str) -> dict[str, Any]:
    """The body of a ping ("webhook.test"): proves the URL answers and checks signatures."""
    return {
        "id": new_id(),
        "type": TEST_EVENT,
        "timestamp": utcnow().isoformat(),
        "org_id": org_id,
        "data": {"subscription_id": subscription_id},
    }


def body_of(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def retry_delay(delays: list[float], attempt: int, jitter: float) -> float:
    """The wait after failed attempt `attempt` (1-based): the configured step, scaled into
    [80%, 120%) by `jitter` in [0, 1) so that retries after an outage spread out."""
    step = delays[min(attempt, len(delays)) - 1] if delays else 0.0
    return step * (0.8 + 0.4 * jitter)


def retry_after_s(value: str | None, now: datetime) -> float | None:
    """A Retry-After header (seconds, or an HTTP date) as seconds from now."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    with contextlib.suppress(TypeError, ValueError, IndexError):
        when = parsedate_to_datetime(value)
        if when.tzinfo is not None:
            return max(0.0, (when - now).total_seconds())
    return None


def schedule_send(ctx: Context, uow: UnitOfWork, delivery: WebhookDelivery) -> None:
    """Time the delivery's next attempt; call inside the transaction that makes it due."""
    schedule(uow.session, delivery.org_id, WEBHOOK_SEND, delivery.id, delivery.next_attempt_at)

    async def wake() -> None:
        ctx.timers.wake()

    uow.after_commit(wake)


def add_delivery(
    ctx: Context,
    uow: UnitOfWork,
    subscription: WebhookSubscription,
    event_id: str,
    event_type: str,
    payload: dict[str, Any],
    max_attempts: int | None = None,
) -> WebhookDelivery:
    """A pending delivery, due now, with its timer; call inside a transaction."""
    now = utcnow()
    delivery = WebhookDelivery(
        id=new_id(),
        org_id=subscription.org_id,
        subscription_id=subscription.id,
        event_id=event_id,
        event_type=event_type,
        payload=payload,
        status="pending",
        attempts=0,
        max_attempts=max_attempts or len(ctx.settings.webhooks_retry_delays_s) + 1,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(delivery)
    schedule_send(ctx, uow, delivery)
    return delivery


@dataclass(frozen=True, slots=True)
class _Claim:
    delivery_id: str
    attempt: int
    msg_id: str
    url: str
    secret: str = field(repr=False)  # never in a log line or a traceback
    body: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class _Outcome:
    at: datetime
    duration_ms: int
    status_code: int | None = None
    error: str | None = None
    response_body: str | None = None
    retry_after_s: float | None = None
    retryable: bool = True

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


_SUBSCRIPTIONS = "webhooks.subscriptions"  # a consumer batch's subscriptions, by org


class WebhookSender:
    """The `webhooks` consumer (`on_event`) and the `webhook_send` timer handler
    (`on_timer`); `stop` lets the sends in flight finish."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._tasks: set[asyncio.Task[None]] = set()
        self._limit = asyncio.Semaphore(max(1, ctx.settings.webhooks_max_concurrent_sends))
        self._pruned_at = time.monotonic()

    # ---- the consumer: inside the transaction that moves its position ----------------------

    async def prepare(self, uow: UnitOfWork, events: list[DomainEvent]) -> None:
        """Once per batch: the active subscriptions of the batch's organisations, in one
        query (most events belong to organisations that have none)."""
        orgs = {event.org_id for event in events}
        found: dict[str, list[WebhookSubscription]] = {org_id: [] for org_id in orgs}
        for subscription in await uow.session.scalars(
            select(WebhookSubscription).where(
                WebhookSubscription.org_id.in_(orgs), WebhookSubscription.active.is_(True)
            )
        ):
            found[subscription.org_id].append(subscription)
        uow.extras[_SUBSCRIPTIONS] = found

    async def on_event(self, uow: UnitOfWork, event: DomainEvent) -> None:
        """A delivery for each active subscription of the event's organisation that wants
        its type and existed when it happened."""
        prepared: dict[str, list[WebhookSubscription]] | None = uow.extras.get(_SUBSCRIPTIONS)
        if prepared is None or event.org_id not in prepared:
            await self.prepare(uow, [event])
            prepared = uow.extras[_SUBSCRIPTIONS]
        wanted = [
            s
            for s in prepared[event.org_id]
            if s.active and s.active_since <= event.occurred_at and s.wants(event.type)
        ]
        if not wanted:
            return
        payload = payload_of(event)
        for subscription in wanted:
            add_delivery(self._ctx, uow, subscription, event.id, event.type, payload)

    # ---- phase 1: claim, in the timer's transaction ----------------------------------------

    async def on_timer(self, uow: UnitOfWork, timer: Timer) -> None:
        delivery: WebhookDelivery | None = await uow.lock(WebhookDelivery, timer.ref_id)
        if delivery is None:
            return
        now = utcnow()
        orphaned = (
            delivery.status == "sending"
            and delivery.leased_until is not None
            and delivery.leased_until <= now
        )
        if not orphaned and (delivery.status != "pending" or delivery.next_attempt_at > now):
            return  # a stale timer: delivered, rescheduled or settled meanwhile
        subscription = await uow.session.get(WebhookSubscription, delivery.subscription_id)
        if subscription is None or not subscription.active:
            delivery.status, delivery.leased_until = "failed", None
            delivery.last_error, delivery.updated_at = "the subscription is disabled", now
            return
        lease = timedelta(seconds=self._ctx.settings.webhooks_lease_s)
        delivery.status, delivery.attempts = "sending", delivery.attempts + 1
        delivery.leased_until, delivery.updated_at = now + lease, now
        schedule(uow.session, delivery.org_id, WEBHOOK_SEND, delivery.id, delivery.leased_until)
        claim = _Claim(
            delivery.id,
            delivery.attempts,
            delivery.event_id,
            subscription.url,
            subscription.secret,
            body_of(delivery.payload),
        )

        org_id = delivery.org_id

        async def start() -> None:
            with org_scope(org_id):
                task = asyncio.create_task(
                    self._deliver(claim), name=f"webhook-{claim.delivery_id}"
                )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        uow.after_commit(start)

    # ---- phase 2: send, no transaction open -------------------------------------------------

    async def _deliver(self, claim: _Claim) -> None:
        async with self._limit:
            started = time.monotonic()
            try:
                outcome = await self._send(claim)
            except Exception as exc:  # a bug, not the receiver's answer: try again later
                log.exception("webhooks.send_crashed", delivery_id=claim.delivery_id)
                outcome = _Outcome(utcnow(), _ms(started), error=f"internal error: {exc}"[:500])
            try:
                await self._record(claim, outcome)
            except Exception:  # the lease runs out and the recovery timer sends it again
                log.exception("webhooks.record_failed", delivery_id=claim.delivery_id)
        await self._maybe_prune()

    async def _send(self, claim: _Claim) -> _Outcome:
        settings = self._ctx.settings
        at, started = utcnow(), time.monotonic()
        try:
            target = await destination(claim.url, settings.webhooks_allow_http)
        except Refused as exc:
            return _Outcome(at, _ms(started), error=f"refused: {exc}", retryable=False)
        headers = {
            "content-type": "application/json",
            "user-agent": f"Threadline-Webhooks/{__version__}",
            "host": _host_header(claim.url),
            **signing.headers(claim.secret, claim.msg_id, int(at.timestamp()), claim.body),
        }
        timeout = httpx.Timeout(
            settings.webhooks_timeout_s, connect=settings.webhooks_connect_timeout_s
        )
        outcome = _Outcome(at, 0, error="no address to connect to")
        try:
            async with (
                asyncio.timeout(settings.webhooks_timeout_s),
                httpx.AsyncClient(
                    timeout=timeout, follow_redirects=False, trust_env=False
                ) as client,
            ):
                for address in target.addresses:  # the next one only when one refuses
                    try:
                        return await self._post(
                            client, target.pinned_url(address), target.host, headers, claim.body, at
                        )
                    except httpx.ConnectError as exc:
                        outcome = _Outcome(at, _ms(started), error=_describe(exc))
        except TimeoutError:
            error = f"no answer within {settings.webhooks_timeout_s:g} s"
            return _Outcome(at, _ms(started), error=error)
        except httpx.HTTPError as exc:
            return _Outcome(at, _ms(started), error=_describe(exc))
        return outcome

    @staticmethod
    async def _post(
        client: httpx.AsyncClient,
        url: str,
        host: str,
        headers: dict[str, str],
        body: bytes,
        at: datetime,
    ) -> _Outcome:
        started = time.monotonic()
        request = client.build_request(
            "POST", url, headers=headers, content=body, extensions={"sni_hostname": host}
        )
        response = await client.send(request, stream=True)
        try:
            kept = bytearray()
            async for chunk in response.aiter_bytes():
                kept.extend(chunk)
                if len(kept) >= MAX_RESPONSE_BYTES:
                    break
        finally:
            await response.aclose()
        text = bytes(kept[:MAX_RESPONSE_BYTES]).decode("utf-8", "replace")
        wait = None
        if response.status_code in (429, 503):
            wait = retry_after_s(response.headers.get("retry-after"), utcnow())
        return _Outcome(
            at,
            _ms(started),
            status_code=response.status_code,
            response_body=text or None,
            retry_after_s=wait,
            error=None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}",
        )

    # ---- phase 3: record, in a new transaction ----------------------------------------------

    async def _record(self, claim: _Claim, outcome: _Outcome) -> None:
        settings = self._ctx.settings
        async with self._ctx.uow() as uow:
            delivery: WebhookDelivery | None = await uow.lock(WebhookDelivery, claim.delivery_id)
            if delivery is None or delivery.attempts != claim.attempt:
                return
            if delivery.status != "sending":
                return
            uow.session.add(
                WebhookAttempt(
                    org_id=delivery.org_id,
                    delivery_id=delivery.id,
                    number=claim.attempt,
                    at=outcome.at,
                    duration_ms=outcome.duration_ms,
                    status_code=outcome.status_code,
                    error=outcome.error,
                    response_body=outcome.response_body,
                )
            )
            now = utcnow()
            delivery.leased_until, delivery.updated_at = None, now
            delivery.last_status_code, delivery.last_error = outcome.status_code, outcome.error
            if outcome.delivered:
                delivery.status, delivery.delivered_at = "delivered", now
                await self._succeeded(uow, delivery)
            elif outcome.status_code == 410:
                delivery.status = "failed"
                await self._disable(uow, delivery, "the receiver answered 410 Gone")
            elif outcome.retryable and delivery.attempts < delivery.max_attempts:
                delay = retry_delay(
                    settings.webhooks_retry_delays_s,
                    delivery.attempts,
                    random.random(),  # noqa: S311 - jitter, not a secret
                )
                if outcome.retry_after_s is not None:
                    wait = min(outcome.retry_after_s, settings.webhooks_retry_after_max_s)
                    delay = max(delay, wait)
                delivery.status = "pending"
                delivery.next_attempt_at = now + timedelta(seconds=delay)
                schedule_send(self._ctx, uow, delivery)
            else:
                delivery.status = "failed"
                await self._failed_for_good(uow, delivery)

    @staticmethod
    async def _succeeded(uow: UnitOfWork, delivery: WebhookDelivery) -> None:
        # an UPDATE that matches no row locks none: a busy healthy subscription's deliveries
        # do not queue on its row
        await uow.session.execute(
            update(WebhookSubscription)
            .where(
                WebhookSubscription.id == delivery.subscription_id,
                WebhookSubscription.consecutive_failures > 0,
            )
            .values(consecutive_failures=0)
        )

    async def _failed_for_good(self, uow: UnitOfWork, delivery: WebhookDelivery) -> None:
        subscription = await uow.lock(WebhookSubscription, delivery.subscription_id)
        if subscription is None:
            return
        subscription.consecutive_failures += 1
        limit = self._ctx.settings.webhooks_disable_after_failures
        if subscription.active and subscription.consecutive_failures >= limit:
            await self._disable(
                uow, delivery, f"{subscription.consecutive_failures} deliveries in a row failed"
            )

    @staticmethod
    async def _disable(uow: UnitOfWork, delivery: WebhookDelivery, reason: str) -> None:
        subscription = await uow.lock(WebhookSubscription, delivery.subscription_id)
        if subscription is None or not subscription.active:
            return
        subscription.active, subscription.disabled_reason = False, reason
        subscription.updated_at = utcnow()
        log.warning("webhooks.disabled", subscription_id=subscription.id, reason=reason)

    # ---- housekeeping ------------------------------------------------------------------------

    async def _maybe_prune(self) -> None:
        """Now and then (once an hour per process), drop old finished deliveries."""
        if time.monotonic() - self._pruned_at < PRUNE_EVERY_S:
            return
        self._pruned_at = time.monotonic()
        try:
            await prune_deliveries(self._ctx, utcnow())
        except Exception:
            log.exception("webhooks.prune_failed")

    async def stop(self, grace_s: float = 5.0) -> None:
        """Let the sends in flight finish (briefly); any cut short is sent again when its
        lease ends."""
        await finish(self._tasks, grace_s)


async def prune_deliveries(ctx: Context, now: datetime, batch: int = 1000) -> int:
    """Delete up to `batch` delivered or failed deliveries (and their attempts) last
    touched more than `webhooks_keep_deliveries_days` ago; returns how many."""
    cutoff = now - timedelta(days=ctx.settings.webhooks_keep_deliveries_days)
    async with ctx.uow() as uow:
        ids = list(
            await uow.session.scalars(
                select(WebhookDelivery.id)
                .where(
                    WebhookDelivery.status.in_(("delivered", "failed")),
                    WebhookDelivery.updated_at < cutoff,
                )
                .limit(batch)
            )
        )
        if ids:
            await uow.session.execute(
                delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(ids))
            )
            await uow.session.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(ids)))
    return len(ids)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _host_header(url: str) -> str:
    return httpx.URL(url).netloc.decode("ascii")


def _describe(exc: httpx.HTTPError) -> str:
    kinds: dict[type[httpx.HTTPError], str] = {
        httpx.ConnectTimeout: "could not connect in time",
        httpx.ConnectError: "could not connect",
        httpx.ReadTimeout: "no answer in time",
        httpx.RemoteProtocolError: "the receiver broke the HTTP protocol",
    }
    kind = kinds.get(type(exc), type(exc).__name__)
    detail = str(exc)
    return (f"{kind}: {detail}" if detail else kind)[:500]
