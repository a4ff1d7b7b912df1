"""TopicView: the latest value per key of a compacted topic, held in full and kept current.

Selection responders, HealthChecker/RateLimiter and ModelRegistry read the `registry`
and `scorecards` topics this way: every process reads every partition, no consumer group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Generic, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition

from modelrouter.schemas import InvalidEventError, Settings

__all__ = ["TopicView"]

V = TypeVar("V")
log = logging.getLogger("modelrouter.agents.kafka.topic_view")


class TopicView(Generic[V]):
    """Reads `topic` from the beginning and keeps following it.

    `start()` returns once everything that was in the topic when it was called has been
    read (so a fresh view is complete), then a background task applies new records as
    they arrive. A null value removes the key (a tombstone). Records that fail `decode`
    are logged and skipped: a view never stops on bad data.
    """

    def __init__(
        self,
        settings: Settings,
        topic: str,
        decode: Callable[[bytes], V],
        *,
        keep: bool = True,
        since_s: float | None = None,
    ) -> None:
        """`keep=False` holds nothing: the records only reach `on_change` listeners, for a
        topic whose reader keeps a compact form of its own (the summaries' BucketIndex).
        `since_s` reads from the records of the last `since_s` seconds before `start()`
        (by record timestamp), not from the beginning: for a log read for its recent part."""
        self._settings = settings
        self._since_s = since_s
        self._topic = topic
        self._decode = decode
        self._keep = keep
        self._data: dict[str, V] = {}
        self._listeners: list[Callable[[str, V | None], None]] = []
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self.version = 0
        # partition -> the next offset to read: what a decision made on this view was made on.
        self.positions: dict[int, int] = {}
        self.last_change_monotonic: float | None = None

    @property
    def topic(self) -> str:
        return self._topic

    def get(self, key: str) -> V | None:
        return self._data.get(key)

    def items(self) -> Mapping[str, V]:
        """A read-only live view (do not hold it across awaits if you need a stable snapshot)."""
        return MappingProxyType(self._data)

    def snapshot(self) -> dict[str, V]:
        return dict(self._data)

    def on_change(self, listener: Callable[[str, V | None], None]) -> None:
        """Call `listener(key, value_or_None)` on every applied record, in topic order."""
        self._listeners.append(listener)

    async def start(self, *, timeout_s: float = 30.0) -> None:
        if self._consumer is not None:
            return
        consumer = AIOKafkaConsumer(
            **self._settings.aiokafka_kwargs(),
            enable_auto_commit=False,
            fetch_max_wait_ms=100,  # low latency for cooldowns: a record is applied within ~0.1 s
        )
        self._consumer = consumer
        try:
            await consumer.start()
            meta = await consumer._client.fetch_all_metadata()  # fresh, not the client's cached view
            parts = sorted(meta.partitions_for_topic(self._topic) or ())
            if not parts:
                raise RuntimeError(
                    f"topic {self._topic} does not exist: start a worker (it creates the topics) "
                    "or check MODELROUTER_TOPIC_PREFIX"
                )
            tps = [TopicPartition(self._topic, p) for p in parts]
            consumer.assign(tps)
            if self._since_s is None:
                await consumer.seek_to_beginning(*tps)
                ends = await consumer.end_offsets(tps)
            else:
                since_ms = int((time.time() - self._since_s) * 1000)
                found = await consumer.offsets_for_times(dict.fromkeys(tps, since_ms))
                ends = await consumer.end_offsets(tps)
                for tp in tps:
                    at = found.get(tp)
                    consumer.seek(tp, ends[tp] if at is None else at.offset)
            await asyncio.wait_for(self._catch_up(consumer, ends), timeout=timeout_s)
        except BaseException:
            await self.stop()
            raise
        self._task = asyncio.create_task(self._follow(consumer), name=f"view:{self._topic}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await consumer.stop()

    async def _catch_up(self, consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> None:
        remaining = {tp for tp, end in ends.items() if end > 0}
        while remaining:
            batches = await consumer.getmany(timeout_ms=200)
            self._apply_batches(batches)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            try:
                self._apply_batches(await consumer.getmany(timeout_ms=1000))
            except asyncio.CancelledError:
                raise
            except Exception:  # a broker hiccup must not end the view; aiokafka reconnects
                log.exception("reading %s failed; retrying", self._topic)
                await asyncio.sleep(1.0)

    def _apply_batches(self, batches: Mapping[TopicPartition, list[object]]) -> None:
        loop = asyncio.get_running_loop()
        for records in batches.values():
            for record in records:
                self.positions[getattr(record, "partition", 0)] = getattr(record, "offset", -1) + 1
                key_raw = getattr(record, "key", None)
                if key_raw is None:
                    continue
                key = key_raw.decode("utf-8", errors="replace")
                raw = getattr(record, "value", None)
                value: V | None
                if raw is None:
                    value = None
                    self._data.pop(key, None)
                else:
                    try:
                        value = self._decode(raw)
                    except (InvalidEventError, ValueError) as exc:
                        log.warning("skipping a bad record in %s (key %s): %s", self._topic, key, exc)
                        continue
                    if self._keep:
                        self._data[key] = value
                self.version += 1
                self.last_change_monotonic = loop.time()
                for listener in self._listeners:
                    listener(key, value)
