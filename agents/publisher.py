"""EventPublisher: validates agent events and sends them to Kafka with an idempotent producer."""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError
from pydantic import ValidationError

from modelrouter.schemas import (
    EVENT_TOPICS,
    Event,
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
from .lifecycle import AsyncResource

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
        )
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer
        self._started = True

    async def close(self) -> None:
        if self._started and self._producer is not None:
            self._started = False
            producer, self._producer = self._producer, None
            try:
                await producer.flush()
            finally:
                await producer.stop()

    async def publish(self, event: Event, *, wait: bool = True) -> asyncio.Future[Any] | None:
        """Send one event to its topic, keyed as the contract says.

        With wait=True (the default) this returns once the broker has the record;
        with wait=False it returns the delivery future as soon as the record is queued.
        """
        if not isinstance(event, TaskCompleted | RateLimited | Failover | QualityReported):
            raise TypeError(
                f"expected an event (TaskCompleted, RateLimited, Failover, QualityReported), "
                f"got {type(event).__name__}"
            )
        if not self._started or self._producer is None:
            raise RuntimeError("EventPublisher is not started: use `async with EventPublisher(...)`")
        future: asyncio.Future[Any] = await self._producer.send(
            self._topics[type(event)], value=encode(event), key=encode_key(event.key)
        )
        if wait:
            await future
            return None
        return future

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
        if self._producer is not None:
            await self._producer.flush()
