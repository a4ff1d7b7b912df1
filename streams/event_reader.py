"""EventReader: the three event topics, `failover-in` and `rekeyed`, read for the partitions this worker's
tables own, with a plain aiokafka consumer in large batches, not through faust's per-event
stream path. Each batch is folded (folds.py), its due windows closed (summary_publisher.py),
and made durable (checkpoint.py), in that order.

faust still owns the group membership and the tables: the partitions read here are the
ones faust assigned this worker (assignment.py). A restarted or newly assigned worker resumes
from the stored positions (checkpoint.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition

from modelrouter.schemas import EVENT_TOPICS, Settings, TopicName, encode

from .assignment import AssignmentReadiness, assigned_partitions
from .batching import PartitionEvent, as_current_event
from .checkpoint import Checkpoint, progress_group
from .folds import PartitionFolds
from .stored_index import StoredIndex
from .summary_publisher import SummaryPublisher
from .unreadable import UnreadableBatch, find_unreadable, unreadable_letter

__all__ = ["EventReader"]

log = logging.getLogger("modelrouter.streams.event_reader")

# Fetch sizes: a batch of 5,000 events is ~2 MB; bigger fetches gave no more speed and
# more resident memory (prefetched records wait decoded in the consumer).
_FETCH_BYTES_PER_PARTITION = 2**20
_FETCH_BYTES = 8 * 2**20
# aiokafka keeps one fetch in flight per broker, for the partitions with nothing buffered.
# When those are the drained ones (failover-in, caught-up topics) the broker holds the fetch
# up to this long, while the busy partitions' records run out: 500 ms (the default) stalled
# a backlog every few batches.
_FETCH_MAX_WAIT_MS = 25


class EventReader:
    """Reads the event topics' partitions of this worker's tables and folds them in batches."""

    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        *,
        folds: PartitionFolds,
        publisher: SummaryPublisher,
        checkpoint: Checkpoint,
        stored: StoredIndex,
        readiness: AssignmentReadiness,
    ) -> None:
        self.app = app
        self.settings = settings
        self.folds = folds
        self.publisher = publisher
        self.checkpoint = checkpoint
        self.stored = stored
        self.readiness = readiness
        # A rate limit is news selection needs now: a batch holding one waits for nothing more.
        self._urgent = settings.topic(TopicName.RATE_LIMITED)
        self.topics = [settings.topic(name) for name in EVENT_TOPICS] + [
            folds.failover_in_name,
            folds.rekeyed_name,
        ]
        self._generation: int | None = None
        self._partitions: set[int] = set()
        self._revoking = False
        self._in_flight = asyncio.Lock()
        self._read_to: dict[TopicPartition, int] = {}  # next offset to fold, per assigned partition
        self._consumer: AIOKafkaConsumer | None = None
        app.on_partitions_revoked.connect(self._on_revoked)

    async def _on_revoked(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        """faust awaits this before it gives the partitions up: let the batch in flight finish
        (its state reaches the changelog before the next owner restores it) and read no more."""
        self._revoking = True
        self.readiness.revoked()
        self.folds.local = frozenset()  # failovers are forwarded until the next assignment
        async with self._in_flight:
            pass

    def _ready(self) -> bool:
        return self.readiness.ready()

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            **self.settings.aiokafka_kwargs(),
            client_id=f"{self.settings.worker_id}-events",
            group_id=progress_group(self.settings),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=_FETCH_BYTES_PER_PARTITION,
            fetch_max_bytes=_FETCH_BYTES,
            fetch_max_wait_ms=_FETCH_MAX_WAIT_MS,
        )
        await consumer.start()
        self._consumer = consumer
        try:
            while True:
                generation = self.app.consumer_generation_id
                if self._revoking or generation != self._generation:
                    if not self._ready() or self.app.consumer_generation_id != generation:
                        await asyncio.sleep(0.05)
                        continue
                    await self._assign(consumer, generation)
                if not self._partitions:
                    await asyncio.sleep(0.2)
                    continue
                try:
                    batches = await self._next_batch(consumer)
                except Exception as exc:  # a batch it could not decode fails the whole fetch
                    await self._step_over_unreadable(consumer, exc)
                    continue
                if not batches:
                    self.checkpoint.commit_offsets(consumer)  # the last batch's progress, once idle
                    continue
                async with self._in_flight:
                    if (
                        self._revoking
                        or not self._ready()
                        or self.app.consumer_generation_id != self._generation
                    ):
                        # Fetched around a rebalance: not folded. Assign again, which seeks
                        # every partition back to its stored position.
                        self._generation = None
                        continue
                    await self._fold(consumer, batches)
        finally:
            self._consumer = None
            await consumer.stop()

    def lag(self) -> dict[TopicPartition, int]:
        """Records left to fold per assigned partition (its high watermark less the next offset
        to fold), for the metrics; partitions whose high watermark is not known yet are left out."""
        consumer = self._consumer
        if consumer is None:
            return {}
        out = {}
        for tp, next_offset in list(self._read_to.items()):
            highwater = consumer.highwater(tp)
            if highwater is not None:
                out[tp] = max(0, highwater - next_offset)
        return out

    async def _next_batch(self, consumer: AIOKafkaConsumer) -> dict[TopicPartition, list[Any]]:
        """Up to batch_size records, waiting at most batch_within_s after the first for more:
        a batch's cost is mostly per key it touches, so fuller batches cost less per event.
        A batch with a rate limit in it is folded at once when nothing more is there to read
        (its cooldown scorecard goes out after the fold: bench/freshness.py measured the wait
        as most of the time to avoid the model); behind, batches fill as ever."""
        size, within = self.settings.batch_size, self.settings.batch_within_s
        batches: dict[TopicPartition, list[Any]] = dict(
            await consumer.getmany(timeout_ms=200, max_records=size)
        )
        count = sum(len(records) for records in batches.values())
        if not count:
            return batches
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while (
            count < size and not self._urgent_news(consumer, batches) and (left := deadline - loop.time()) > 0
        ):
            more = await consumer.getmany(timeout_ms=max(1, int(left * 1000)), max_records=size - count)
            if not more:
                break
            for tp, records in more.items():
                batches.setdefault(tp, []).extend(records)
                count += len(records)
        return batches

    def _urgent_news(self, consumer: AIOKafkaConsumer, batches: dict[TopicPartition, list[Any]]) -> bool:
        """A rate limit is in `batches` and they reach the end of every partition read (a
        reader behind would cut every batch short: ~10% of a fleet's events are rate limits
        or failovers, and bench/ingest.py fell from 0.2x to 0.1x the bare consumer)."""
        if not any(tp.topic == self._urgent for tp in batches):
            return False
        for tp, start in self._read_to.items():
            records = batches.get(tp)
            read = records[-1].offset + 1 if records else start
            highwater = consumer.highwater(tp)
            if highwater is not None and read < highwater:
                return False
        return True

    async def _assign(self, consumer: AIOKafkaConsumer, generation: int | None) -> None:
        """Read the partitions faust gave this worker, each from its stored position."""
        assert generation is not None
        self._revoking = False  # a revocation during the awaits below sets it again
        await self.stored.ensure(generation)
        self.folds.start_reading()
        partitions = assigned_partitions(self.app, self.settings)
        tps = [TopicPartition(t, p) for t in self.topics for p in sorted(partitions)]
        consumer.assign(tps)
        positions = {p: self.checkpoint.stored_positions(p) for p in partitions}
        self._read_to = {}
        for tp in tps:
            offset = positions[tp.partition].get(tp.topic)
            if offset is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, offset)
            self._read_to[tp] = offset or 0  # (from the beginning: the log may start later)
        self._partitions, self._generation = partitions, generation
        self.folds.local = frozenset(partitions)
        log.info("reading events of partitions %s from their stored positions", sorted(partitions))

    async def _fold(self, consumer: AIOKafkaConsumer, batches: dict[TopicPartition, list[Any]]) -> None:
        folds = self.folds
        wall = time.time()
        by_partition: dict[int, dict[str, list[Any]]] = {}
        ends: dict[int, dict[str, int]] = {}  # where each partition's topics were read up to
        for tp, records in batches.items():
            by_partition.setdefault(tp.partition, {})[tp.topic] = records
            ends.setdefault(tp.partition, {})[tp.topic] = self._read_to[tp] = records[-1].offset + 1
        lagging: dict[int, set[str]] = {}  # topics with records left to read, per partition
        for tp, next_offset in self._read_to.items():
            highwater = consumer.highwater(tp)
            if highwater is not None and next_offset < highwater:
                lagging.setdefault(tp.partition, set()).add(tp.topic)
        self.publisher.behind = bool(lagging)
        sends: list[Any] = []
        for partition, topics in by_partition.items():
            with as_current_event(PartitionEvent(folds.failover_in_name, partition)):
                sends += folds.fold_partition(partition, topics, wall, lagging.get(partition, ()))
                sends += self.publisher.close_partition(partition, wall)
        folds.fold_failovers_here()
        read = {tp: records[-1].offset + 1 for tp, records in batches.items()}
        await self.checkpoint.commit(consumer, sends, ends, read)
        folds.counters.batches += 1
        if folds.cooldown_changed:
            changed, folds.cooldown_changed = folds.cooldown_changed, set()
            await self.publisher.send_cooldown_scorecards(changed)

    async def _step_over_unreadable(self, consumer: AIOKafkaConsumer, error: Exception) -> None:
        """Fold the records before each undecodable batch, dead-letter the batch, store the
        position after it and read on (unreadable.py); re-raise `error` when no batch is at
        fault. The failed fetch's other records are read again from `_read_to`."""
        try:
            found = await find_unreadable(self.settings, consumer, self._read_to, _FETCH_BYTES_PER_PARTITION)
        except Exception:
            log.exception("could not look for an unreadable batch after %r", error)
            found = []
        if not found:
            raise error
        async with self._in_flight:
            if self._revoking or not self._ready() or self.app.consumer_generation_id != self._generation:
                self._generation = None  # assign again, from the stored positions
                return
            if before := {b.tp: b.before for b in found if b.before}:
                await self._fold(consumer, before)
            await self._dead_letter_unreadable(consumer, found)
        for tp, offset in self._read_to.items():
            consumer.seek(tp, offset)

    async def _dead_letter_unreadable(self, consumer: AIOKafkaConsumer, found: list[UnreadableBatch]) -> None:
        folds = self.folds
        sends = [folds.sender.send(folds.dead_letter_name, None, encode(unreadable_letter(b))) for b in found]
        ends: dict[int, dict[str, int]] = {}
        for b in found:
            self._read_to[b.tp] = ends.setdefault(b.tp.partition, {})[b.tp.topic] = b.next_offset
        await self.checkpoint.commit(consumer, sends, ends, {b.tp: b.next_offset for b in found})
        folds.counters.dead_lettered += len(found)
        folds.counters.dead_lettered_by_reason["unreadable_batch"] += len(found)
