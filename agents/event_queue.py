"""EventQueue: publishes events in the background from a bounded queue, so that telemetry never
blocks, slows or breaks the call it describes. Used by the LiteLLM bridge."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from typing import Any

from modelrouter.schemas import Event, Settings

from .lazy_publisher import LazyPublisher
from .publisher import EventPublisher
from .reply_channel import describe_exception

__all__ = ["EventQueue"]

log = logging.getLogger("modelrouter.agents.event_queue")

_BATCH = 500  # events sent before their deliveries are awaited together
_RETRY_MIN_S = 0.5
_RETRY_MAX_S = 30.0


class EventQueue:
    """`put(event)` returns at once; a task on the running loop sends what is queued.

    With the broker unreachable, events wait in the queue (at most `max_events`); when it is
    full the oldest event is dropped for the new one (fresh evidence matters more to routing).
    Dropped events, and events whose delivery failed, are counted in `dropped` and logged at
    most once per `log_every_s`. `flush()` waits (time-boxed) until the queue is empty.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        publisher: EventPublisher | None = None,
        max_events: int = 10_000,
        log_every_s: float = 60.0,
        start_timeout_s: float = 5.0,
        delivery_timeout_s: float = 30.0,
    ) -> None:
        if max_events < 1:
            raise ValueError(f"max_events must be >= 1, got {max_events}")
        self._publisher = LazyPublisher(settings, publisher, start_timeout_s=start_timeout_s)
        self._pending: deque[Event] = deque()
        self._max_events = max_events
        self._log_every_s = log_every_s
        self._delivery_timeout_s = delivery_timeout_s
        self._wake: asyncio.Event | None = None
        self._sender: asyncio.Task[None] | None = None
        self._in_flight = 0
        self._last_log = -float("inf")
        self._dropped_since_log = 0
        self.dropped = 0  # events lost: queue full, or delivery failed
        self.sent = 0  # events the broker acknowledged

    @property
    def queued(self) -> int:
        return len(self._pending)

    def put(self, event: Event) -> None:
        """Queue `event`; never blocks, never raises for broker trouble."""
        if len(self._pending) >= self._max_events:
            self._pending.popleft()
            self._count_dropped(1, f"the queue is full ({self._max_events} events)")
        self._pending.append(event)
        self._ensure_sender()

    def _ensure_sender(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: sent once put() or flush() runs on one
        if self._wake is None:
            self._wake = asyncio.Event()
        if self._sender is None or self._sender.done():
            self._sender = loop.create_task(self._send_forever(), name="modelrouter-event-queue")
        self._wake.set()

    async def _send_forever(self) -> None:
        assert self._wake is not None
        retry_s = _RETRY_MIN_S
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                publisher = await self._publisher.get()
            except Exception as exc:  # the broker is unreachable: keep the events, try later
                self._log_problem(f"cannot reach Kafka ({describe_exception(exc)})")
                await asyncio.sleep(retry_s)
                retry_s = min(retry_s * 2, _RETRY_MAX_S)
                continue
            retry_s = _RETRY_MIN_S
            batch = [self._pending.popleft() for _ in range(min(_BATCH, len(self._pending)))]
            self._in_flight = len(batch)
            try:
                await self._send(publisher, batch)
            finally:
                self._in_flight = 0

    async def _send(self, publisher: EventPublisher, batch: list[Event]) -> None:
        futures: list[asyncio.Future[Any]] = []
        try:
            for event in batch:
                future = await asyncio.wait_for(
                    publisher.publish(event, wait=False), self._delivery_timeout_s
                )
                assert future is not None
                futures.append(future)
            done = await asyncio.wait_for(
                asyncio.gather(*futures, return_exceptions=True), self._delivery_timeout_s
            )
        except Exception as exc:
            self._count_dropped(len(batch), f"sending failed ({describe_exception(exc)})")
            return
        failed = sum(1 for d in done if isinstance(d, BaseException))
        self.sent += len(batch) - failed
        if failed:
            self._count_dropped(failed, "the broker did not acknowledge them")

    def _count_dropped(self, n: int, why: str) -> None:
        self.dropped += n
        self._dropped_since_log += n
        self._log_problem(why)

    def _log_problem(self, why: str) -> None:
        now = time.monotonic()
        if now - self._last_log < self._log_every_s:
            return
        self._last_log = now
        log.warning(
            "modelrouter events: %s; %d queued, %d dropped since the last warning (%d in all)",
            why,
            len(self._pending),
            self._dropped_since_log,
            self.dropped,
        )
        self._dropped_since_log = 0

    async def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued event was sent or dropped; False if `timeout_s` passed first."""
        self._ensure_sender()
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s
        while self._pending or self._in_flight:
            if loop.time() >= end:
                return False
            await asyncio.sleep(0.01)
        return True

    async def close(self, timeout_s: float = 10.0) -> None:
        """Flush (time-boxed), count what is left as dropped, stop the sender and the producer."""
        if self._sender is not None:
            await self.flush(timeout_s)
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
            self._sender = None
        if self._pending:
            self._count_dropped(len(self._pending), "closed with events still queued")
            self._pending.clear()
        await self._publisher.close()
