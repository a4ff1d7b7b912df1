"""LazyPublisher: an EventPublisher started on first use, for the guide's objects that are
built synchronously (PerformanceMonitor, CostTracker, FailoverManager) and used from async code.
"""

from __future__ import annotations

import asyncio

from modelrouter.schemas import BrokerUnavailableError, Event, EventNotDelivered, Settings

from .publisher import EventPublisher

__all__ = ["LazyPublisher"]


class LazyPublisher:
    """Publishes through `publisher` if given (its owner starts and closes it), else through
    an EventPublisher of its own, started on the first publish and closed by `close()`.

    Starting is time-boxed (`start_timeout_s`): an unreachable broker raises
    BrokerUnavailableError or the connection error instead of hanging; the next publish
    tries again.
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
                try:
                    await asyncio.wait_for(own.start(), self._start_timeout_s)
                except TimeoutError:
                    servers = self.settings.bootstrap_servers
                    raise BrokerUnavailableError(
                        f"the Kafka broker at {servers} did not answer within {self._start_timeout_s:g} s; "
                        "check that it runs and MODELROUTER_BOOTSTRAP_SERVERS",
                        servers,
                    ) from None
                self._own = own
            return self._own

    async def publish(self, event: Event, *, timeout_s: float = 10.0) -> None:
        """Publish and wait for the broker, at most `timeout_s`; past it EventNotDelivered
        names the broker and the event (a bare TimeoutError said neither)."""
        publisher = await self.get()
        try:
            await asyncio.wait_for(publisher.publish(event), timeout_s)
        except TimeoutError:
            servers = self.settings.bootstrap_servers
            raise EventNotDelivered(
                f"event {event.event_id} ({event.type}) was not confirmed by the Kafka broker at "
                f"{servers} within {timeout_s:g} s; check that the broker runs and is reachable",
                servers,
                event.event_id,
            ) from None

    async def close(self) -> None:
        async with self._lock:
            if self._own is not None:
                own, self._own = self._own, None
                await own.close()
