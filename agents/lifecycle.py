"""AsyncResource: `async with` for the SDK's clients, from their own start() and close(); and
stopping their aiokafka clients within a bound when the broker has gone away."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Self

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

__all__ = ["AsyncResource", "stop_consumer", "stop_producer"]


class AsyncResource:
    """Subclasses define `start()` and `close()`; `async with` calls them."""

    async def start(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


async def stop_producer(producer: AIOKafkaProducer, flush_timeout_s: float) -> bool:
    """Flush (at most `flush_timeout_s`) and stop; False when records were left unsent.

    aiokafka's stop() flushes without a time limit: with the broker gone it would wait for
    ever. Past the timeout the sender task is cancelled first (private: there is no public
    way), so stop() returns and what was queued is dropped; the caller says so."""
    try:
        await asyncio.wait_for(producer.flush(), flush_timeout_s)
        flushed = True
    except TimeoutError:
        producer._sender.sender_task.cancel()
        flushed = False
    await producer.stop()
    return flushed


async def stop_consumer(consumer: AIOKafkaConsumer) -> None:
    """Stop; with the broker gone aiokafka's fetcher lets the cancellation of its own fetch
    task escape stop(), which is not a cancellation of ours (that one is re-raised)."""
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
