"""RecordSender: sends raw records to the worker's output topics (and its tables' changelogs)
with the aiokafka producer of faust's producer service, in the order they were given.

Not through faust's `Topic.send_soon`: that path builds a FutureMessage and a PendingMessage,
queues them in faust's ProducerBuffer, calls its sensors and a callback per record, and was
about a tenth of an ingesting worker's CPU (py-spy, bench/ingest.py). Here a record is a tuple
in a queue that one task hands to the producer; the producer batches them as ever (faust's
producer settings: acks=all, linger, compression).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from aiokafka import AIOKafkaProducer
from faust.types import AppT

__all__ = ["Record", "RecordSender"]

Record = tuple[str, bytes, Any]  # (topic, key, value bytes or None for a tombstone)

_Queued = tuple[
    str, int | None, bytes | None, bytes | None, list[tuple[str, bytes]] | None, asyncio.Future[Any]
]


class RecordSender:
    """Every send returns at once the future of its delivery (aiokafka's RecordMetadata, or the
    error that refused the record); records go to the producer in the order sent."""

    def __init__(self, app: AppT) -> None:
        self._app = app
        self._queue: list[_Queued] = []
        self._draining: asyncio.Task[None] | None = None

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: Mapping[str, bytes] | None = None,
        *,
        partition: int | None = None,
    ) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        listed = list(headers.items()) if headers is not None else None
        self._queue.append((topic, partition, key, value, listed, fut))
        if self._draining is None:
            self._draining = loop.create_task(self._drain())
        return fut

    def send_all(self, records: Sequence[Record]) -> list[asyncio.Future[Any]]:
        return [self.send(topic, key, value) for topic, key, value in records]

    async def _producer(self) -> AIOKafkaProducer:
        service = await self._app.maybe_start_producer()
        # faust's aiokafka driver keeps its AIOKafkaProducer here (faust-streaming 0.15, pinned).
        return service._ensure_producer()

    async def _drain(self) -> None:
        queued: list[_Queued] = []
        handed = 0  # of `queued`, the records handed to the producer (or refused by it)
        try:
            producer = await self._producer()
            while self._queue:
                queued, self._queue, handed = self._queue, [], 0
                for topic, partition, key, value, headers, fut in queued:
                    try:
                        delivery = await producer.send(
                            topic, value, key=key, partition=partition, headers=headers
                        )
                    except Exception as exc:  # refused before it was queued (too large, say)
                        if not fut.done():
                            fut.set_exception(exc)
                    else:
                        delivery.add_done_callback(partial(_settle, fut))
                    handed += 1
                queued = []
        except asyncio.CancelledError:  # stopping: the rest never goes out
            for fut in self._unsent(queued[handed:]):
                fut.cancel()  # whoever awaits it is being stopped too
            raise
        except Exception as exc:  # no producer: each record's awaiter gets the error
            for fut in self._unsent(queued[handed:]):
                fut.set_exception(exc)
        finally:
            self._draining = None

    def _unsent(self, queued: list[_Queued]) -> list[asyncio.Future[Any]]:
        rest, self._queue = [*queued, *self._queue], []
        return [fut for *_, fut in rest if not fut.done()]


def _settle(fut: asyncio.Future[Any], delivery: asyncio.Future[Any]) -> None:
    """`delivery`'s outcome onto `fut`, the future the sender handed out."""
    if fut.done():
        return
    if delivery.cancelled():
        fut.cancel()
    elif (exc := delivery.exception()) is not None:
        fut.set_exception(exc)
    else:
        fut.set_result(delivery.result())
