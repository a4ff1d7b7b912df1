"""EventPublisher: validates agent events and sends them to Kafka with an idempotent producer."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError
from pydantic import ValidationError

from modelrouter.schemas import (
    EVENT_TOPICS,
    BrokerUnavailableError,
    Event,
    EventNotDelivered,
    Failover,
    InvalidEventError,
    QualityReported,
    RateLimited,
    Settings,
    TaskCompleted,
    TopicName,
    encode,
    encode_key,
    topic_specs,
)

from .kafka.admin import ensure_topics
from .kafka.connection_check import unreachable_error
from .kafka.log_flood import limit_repeated_logs
from .lifecycle import AsyncResource, stop_producer
from .reply_channel import describe_exception

__all__ = ["EventPublisher", "build_event"]

_TOPIC_OF: dict[type[Any], TopicName] = {
    TaskCompleted: TopicName.TASK_COMPLETED,
    RateLimited: TopicName.RATE_LIMITED,
    Failover: TopicName.FAILOVER,
    # A quality report completes a TaskCompleted: same topic, same key (model_id).
    QualityReported: TopicName.TASK_COMPLETED,
}


E = TypeVar("E", TaskCompleted, RateLimited, Failover, QualityReported)


def build_event(model: type[E], fields: dict[str, Any]) -> E:
    """`model(**fields)`, or InvalidEventError naming the fields that break the contract."""
    try:
        return model(**fields)
    except ValidationError as exc:
        raise InvalidEventError(model.__name__, exc.errors(include_url=False)) from None


class EventPublisher(AsyncResource):
    """Publishes TaskCompleted, RateLimited, Failover and QualityReported events.

    Every event is validated first: an invalid one raises InvalidEventError naming the
    field, and nothing is sent. The producer is idempotent with acks=all, so a retried
    send is never written twice. `publish(..., wait=False)` returns once the record is
    queued (for high rates); `close()` (or leaving `async with`) flushes what is queued.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        client_id: str = "modelrouter-publisher",
        linger_ms: int = 5,
        create_topics: bool = True,
    ) -> None:
        self._settings = settings
        self._create_topics = create_topics
        self._topics = {cls: settings.topic(name) for cls, name in _TOPIC_OF.items()}
        self._client_id = client_id
        self._linger_ms = linger_ms
        # Built in start(): aiokafka binds a client to the running loop when it is built, and a
        # built client that is never stopped warns (ResourceWarning) when collected, so a
        # failed start (broker unreachable) must leave none behind.
        self._producer: AIOKafkaProducer | None = None
        self._started = False
        self._undelivered: list[EventNotDelivered] = []
        # Deliveries not yet confirmed or failed -> how to fail them.
        self._pending: dict[asyncio.Future[Any], Callable[[BaseException | None], None]] = {}

    @property
    def started(self) -> bool:
        return self._started

    async def start(self) -> None:
        try:
            await self._start()
        except KafkaConnectionError:  # aiokafka's says "Unable to bootstrap"; say why
            raise await unreachable_error(self._settings) from None

    async def _start(self) -> None:
        if self._started:
            return
        limit_repeated_logs(self._settings.log_repeat_interval_s)  # aiokafka's per-retry errors
        if self._create_topics:
            # Created with the contract's partitions here, not by the broker's
            # auto-creation with its defaults (which would break co-partitioning).
            specs = topic_specs(self._settings)
            await ensure_topics(self._settings, [specs[name] for name in EVENT_TOPICS])
        producer = AIOKafkaProducer(
            **self._settings.producer_kwargs(),
            client_id=self._client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=self._linger_ms,
            # aiokafka fails a batch the broker has not taken after this long (not 40 s).
            request_timeout_ms=int(self._settings.delivery_timeout_s * 1000),
        )
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer
        self._started = True

    async def close(self) -> None:
        """Flush what is queued (waiting at most the delivery timeout) and stop; raise
        EventNotDelivered when an event published with wait=False was not confirmed."""
        if self._started and self._producer is not None:
            self._started = False
            producer, self._producer = self._producer, None
            if not await stop_producer(producer, self._settings.delivery_timeout_s):
                for fail in list(self._pending.values()):  # unsent, and now never to be: say so
                    fail(None)
            await asyncio.sleep(0)  # let the failed deliveries' callbacks run
            failed, self._undelivered = self._undelivered, []
            if failed:
                ids = ", ".join(e.event_id for e in failed[:5]) + (", ..." if len(failed) > 5 else "")
                raise EventNotDelivered(
                    f"{len(failed)} event(s) published with wait=False were not confirmed by the Kafka "
                    f"broker at {self._settings.bootstrap_servers}: {ids}; the first: {failed[0]}",
                    self._settings.bootstrap_servers,
                    failed[0].event_id,
                )

    async def publish(self, event: Event, *, wait: bool = True) -> asyncio.Future[Any] | None:
        """Send one event to its topic, keyed as the contract says.

        With wait=True (the default) this returns once the broker has the record; with
        wait=False it returns the delivery future as soon as the record is queued. Neither
        waits past `settings.delivery_timeout_s`: an event the broker did not confirm in
        time (or, wait=False, one the full send buffer could not take) raises
        EventNotDelivered naming the broker and the event; so does a wait=False future.
        """
        if not isinstance(event, TaskCompleted | RateLimited | Failover | QualityReported):
            raise TypeError(
                f"expected an event (TaskCompleted, RateLimited, Failover, QualityReported), "
                f"got {type(event).__name__}"
            )
        if not self._started or self._producer is None:
            raise RuntimeError("EventPublisher is not started: use `async with EventPublisher(...)`")
        timeout = self._settings.delivery_timeout_s
        try:
            # aiokafka waits for metadata and for room in its buffer before queueing.
            queued: asyncio.Future[Any] = await asyncio.wait_for(
                self._producer.send(
                    self._topics[type(event)], value=encode(event), key=encode_key(event.key)
                ),
                timeout,
            )
        except (TimeoutError, KafkaError) as exc:
            what = "could not be queued (no topic metadata, or the send buffer stayed full)"
            raise self._not_delivered(event, what, exc) from exc
        # A wait=True caller hears of a failure here; a wait=False one through the future,
        # and close() reports every such failure again, in case nobody awaited it.
        delivery = self._track(event, queued, report_at_close=not wait)
        if not wait:
            return delivery
        await delivery  # fails with EventNotDelivered after the delivery timeout at the latest
        return None

    def _not_delivered(self, event: Event, what: str, cause: BaseException | None) -> EventNotDelivered:
        servers = self._settings.bootstrap_servers
        why = "" if cause is None or isinstance(cause, TimeoutError) else f" ({describe_exception(cause)})"
        return EventNotDelivered(
            f"event {event.event_id} ({event.type}) {what} by the Kafka broker at {servers} within "
            f"{self._settings.delivery_timeout_s:g} s{why} (MODELROUTER_DELIVERY_TIMEOUT_S); check "
            "that the broker runs and is reachable. A record already queued may still arrive later.",
            servers,
            event.event_id,
        )

    def _track(
        self, event: Event, queued: asyncio.Future[Any], *, report_at_close: bool
    ) -> asyncio.Future[Any]:
        """A future of the delivery whose failure is EventNotDelivered; failures are kept
        until close() reports them, so none goes unsaid when nobody awaited the future."""
        delivery: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def fail(cause: BaseException | None) -> None:
            self._pending.pop(delivery, None)
            expiry.cancel()
            if delivery.done():  # cancelled by its waiter (e.g. a shorter timeout of its own)
                return
            error = self._not_delivered(event, "was not confirmed", cause)
            delivery.set_exception(error)
            if report_at_close:
                self._undelivered.append(error)
                delivery.exception()  # close() reports it: no "never retrieved" warning

        def done(fut: asyncio.Future[Any]) -> None:
            expiry.cancel()
            if delivery.done():
                return
            if fut.cancelled():
                self._pending.pop(delivery, None)
                delivery.cancel()
            elif (exc := fut.exception()) is not None:
                fail(exc)
            else:
                self._pending.pop(delivery, None)
                delivery.set_result(fut.result())

        def expire() -> None:
            # aiokafka retries a batch whose leader it knows but cannot reach without end.
            if not delivery.done():
                fail(None)

        expiry = asyncio.get_running_loop().call_later(self._settings.delivery_timeout_s, expire)
        self._pending[delivery] = fail
        delivery.add_done_callback(lambda d: self._pending.pop(d, None) if d.cancelled() else None)
        queued.add_done_callback(done)
        return delivery

    async def task_completed(self, *, wait: bool = True, **fields: Any) -> TaskCompleted:
        """Validate and publish a TaskCompleted built from the contract's field names."""
        event = build_event(TaskCompleted, fields)
        await self.publish(event, wait=wait)
        return event

    async def rate_limited(self, *, wait: bool = True, **fields: Any) -> RateLimited:
        event = build_event(RateLimited, fields)
        await self.publish(event, wait=wait)
        return event

    async def failover(self, *, wait: bool = True, **fields: Any) -> Failover:
        event = build_event(Failover, fields)
        await self.publish(event, wait=wait)
        return event

    async def quality_reported(self, *, wait: bool = True, **fields: Any) -> QualityReported:
        """Validate and publish a QualityReported: a task's quality, known after its TaskCompleted."""
        event = build_event(QualityReported, fields)
        await self.publish(event, wait=wait)
        return event

    async def flush(self) -> None:
        """Wait until every queued event is sent, at most the delivery timeout; past it,
        BrokerUnavailableError (the events stay queued; their futures say how each ends)."""
        if self._producer is not None:
            try:
                await asyncio.wait_for(self._producer.flush(), self._settings.delivery_timeout_s)
            except TimeoutError:
                servers = self._settings.bootstrap_servers
                raise BrokerUnavailableError(
                    f"queued events were not all sent to the Kafka broker at {servers} within "
                    f"{self._settings.delivery_timeout_s:g} s (MODELROUTER_DELIVERY_TIMEOUT_S); "
                    "check that the broker runs and is reachable",
                    servers,
                ) from None
