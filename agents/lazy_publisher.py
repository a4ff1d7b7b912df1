"""LazyPublisher: an EventPublisher started on first use, for the guide's objects that are
built synchronously (PerformanceMonitor, CostTracker, FailoverManager) and used from async code.
"""

from __future__ import annotations

import asyncio

from modelrouter.schemas import Event, Settings

from .publisher import EventPublisher

__all__ = ["LazyPublisher"]


class LazyPublisher:
    """Publishes through `publisher` if given (its owner starts and closes it), else through
    an EventPublisher of its own, started on the first publish and closed by `close()`.

    Starting is time-boxed (`start_timeout_s`): an unreachable broker raises TimeoutError or
    the connection error instead of hanging; the next publish tries again.
    """

    def __init__(
        self, settings: Settings, publisher: EventPublisher | None = None, *, start_timeout_s: float = 10.0
    ) -> None:
        self.settings = settings
        self._given = publisher
        self._own: EventPublisher | None = None
        self._lock = asyncio.Lock()
        self._start_timeout_s = start_timeout_s

    async def get(self) -> EventPublisher:
        if self._given is not None:
            return self._given
        async with self._lock:
            if self._own is None:
                own = EventPublisher(self.settings)
                await asyncio.wait_for(own.start(), self._start_timeout_s)
                self._own = own
            return self._own

    async def publish(self, event: Event, *, timeout_s: float = 10.0) -> None:
        publisher = await self.get()
        await asyncio.wait_for(publisher.publish(event), timeout_s)

    async def close(self) -> None:
        async with self._lock:
            if self._own is not None:
                own, self._own = self._own, None
                await own.close()
