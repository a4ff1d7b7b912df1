"""EventReader: the three event topics and `failover-in`, read for the partitions this worker's
tables own, with a plain aiokafka consumer in large batches, not through faust's per-event
stream path.

Where a partition was read up to is stored in the worker's own `health` table (one key per
partition, next to its window clock), written only once a batch's table writes, forwards
and summaries are all confirmed by Kafka. A restarted or newly assigned worker resumes
from there; the per-key applied offsets in each bucket make a replayed event count once.
faust still owns the group membership and the tables: the partitions read here are the
ones faust assigned this worker of the internal `assignment` topic (no records; it exists
so that faust assigns partitions), co-partitioned with the tables.

Offsets are also committed to the consumer group `<app_id>-events` about once a second, for
lag monitoring (`kafka-consumer-groups.sh`) and the benchmarks; the stored positions, not
these commits, decide where reading resumes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import TYPE_CHECKING, Any

import faust
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from modelrouter.schemas import EVENT_TOPICS, Settings, dumps, loads

from .batching import PartitionEvent, as_current_event
from .tables import DELIVERY_TIMEOUT_S, FOLD_FAILED_EXIT, await_changelog

if TYPE_CHECKING:
    from .performance import Folder

__all__ = ["EventReader", "progress_group"]

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


def progress_group(settings: Settings) -> str:
    """The consumer group the event readers commit their progress to (for monitoring only)."""
    return f"{settings.app_id}-events"


def position_key(partition: int) -> bytes:
    return dumps(["position", partition])


class EventReader:
    """Reads the event topics' partitions of this worker's tables and folds them in batches."""

    def __init__(self, app: faust.App, settings: Settings, folder: Folder) -> None:
        self.app = app
        self.settings = settings
        self.folder = folder
        self.topics = [settings.topic(name) for name in EVENT_TOPICS] + [folder.failover_in_name]
        self._generation: int | None = None
        self._partitions: set[int] = set()
        self._revoking = False
        self._in_flight = asyncio.Lock()
        self._recovered_for: int | None = None  # the generation whose table recovery completed
        self._progress: dict[TopicPartition, int] = {}
        self._read_to: dict[TopicPartition, int] = {}  # next offset to fold, per assigned partition
        self._last_commit = 0.0
        self._committing: asyncio.Task[None] | None = None
        app.on_partitions_revoked.connect(self._on_revoked)
        app.on_rebalance_complete.connect(self._on_recovered)

    async def _on_revoked(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        """faust awaits this before it gives the partitions up: let the batch in flight finish
        (its state reaches the changelog before the next owner restores it) and read no more."""
        self._revoking = True
        self._recovered_for = None
        async with self._in_flight:
            pass

    async def _on_recovered(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        """faust sends this when the tables of the current assignment are restored. It runs in
        faust's recovery task: a newer rebalance's recovery is still pending (its start signal
        set) if this completion belongs to an older assignment."""
        if not self._recovery.signal_recovery_start.is_set():
            self._recovered_for = self.app.consumer_generation_id

    @property
    def _recovery(self) -> Any:
        return self.app.tables.recovery  # type: ignore[attr-defined]  # on TableManager, not its interface

    def _ready(self) -> bool:
        """The tables of the current assignment are restored: folding may start.

        faust's `recovery.completed` stays set from the previous assignment, and `in_recovery`
        is set only once recovery has started, so a fold started in between wrote into
        partitions that recovery then rewound (a SIGKILL test lost failovers that way)."""
        recovery = self._recovery
        generation = self.app.consumer_generation_id
        return (
            generation is not None
            and self._recovered_for == generation
            and not self.app.rebalancing
            and not recovery.in_recovery
            and not recovery.signal_recovery_start.is_set()
        )

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            **self.settings.aiokafka_kwargs(),
            client_id=f"{self.settings.app_id}-events",
            group_id=progress_group(self.settings),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=_FETCH_BYTES_PER_PARTITION,
            fetch_max_bytes=_FETCH_BYTES,
            fetch_max_wait_ms=_FETCH_MAX_WAIT_MS,
        )
        await consumer.start()
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
                batches = await self._next_batch(consumer)
                if not batches:
                    self._commit_progress(consumer)  # the last batch's progress, once idle
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
            await consumer.stop()

    async def _next_batch(self, consumer: AIOKafkaConsumer) -> dict[TopicPartition, list[Any]]:
        """Up to batch_size records, waiting at most batch_within_s after the first for more:
        a batch's cost is mostly per key it touches, so fuller batches cost less per event."""
        size, within = self.settings.batch_size, self.settings.batch_within_s
        batches: dict[TopicPartition, list[Any]] = dict(
            await consumer.getmany(timeout_ms=200, max_records=size)
        )
        count = sum(len(records) for records in batches.values())
        if not count:
            return batches
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while count < size and (left := deadline - loop.time()) > 0:
            more = await consumer.getmany(timeout_ms=max(1, int(left * 1000)), max_records=size - count)
            if not more:
                break
            for tp, records in more.items():
                batches.setdefault(tp, []).extend(records)
                count += len(records)
        return batches

    async def _assign(self, consumer: AIOKafkaConsumer, generation: int | None) -> None:
        """Read the partitions faust gave this worker, each from its stored position."""
        folder = self.folder
        assert generation is not None
        self._revoking = False  # a revocation during the awaits below sets it again
        await folder.ensure_index(generation)
        folder.start_reading()
        partitions = folder.assigned_partitions()
        tps = [TopicPartition(t, p) for t in self.topics for p in sorted(partitions)]
        consumer.assign(tps)
        positions = {p: self.stored_positions(p) for p in partitions}
        self._read_to = {}
        for tp in tps:
            offset = positions[tp.partition].get(tp.topic)
            if offset is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, offset)
            self._read_to[tp] = offset or 0  # (from the beginning: the log may start later)
        self._partitions, self._generation = partitions, generation
        log.info("reading events of partitions %s from their stored positions", sorted(partitions))

    def stored_positions(self, partition: int) -> dict[str, int]:
        with as_current_event(PartitionEvent(self.folder.failover_in_name, partition)):
            raw = self.folder.health.get(position_key(partition))
        return {} if raw is None else dict(loads(raw))

    async def _fold(self, consumer: AIOKafkaConsumer, batches: dict[TopicPartition, list[Any]]) -> None:
        folder = self.folder
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
        try:
            sends: list[Any] = []
            for partition, topics in by_partition.items():
                with as_current_event(PartitionEvent(folder.failover_in_name, partition)):
                    sends += folder.fold_partition(partition, topics, wall, lagging.get(partition, ()))
            # Also the previous batch's position writes (below): awaited with this batch's
            # writes, not on their own, which saved a round trip to the broker per batch.
            futures = folder.buckets.take_pending() + folder.health.take_pending() + sends
            await await_changelog(futures, DELIVERY_TIMEOUT_S)
            # Only now, with every effect of the batch in Kafka, move the stored positions on.
            # Should the worker die before these writes reach the changelog, the batch is read
            # again from the previous position, and the per-key applied offsets skip it.
            for partition, read_to in ends.items():
                stored = self.stored_positions(partition) | read_to
                with as_current_event(PartitionEvent(folder.failover_in_name, partition)):
                    folder.health[position_key(partition)] = dumps(stored)
        except Exception:
            log.critical("a batch could not be made durable; exiting for a clean replay", exc_info=True)
            os._exit(FOLD_FAILED_EXIT)
        folder.counters.batches += 1
        self._progress.update({tp: records[-1].offset + 1 for tp, records in batches.items()})
        self._commit_progress(consumer)
        await folder.send_cooldown_scorecards()

    def _commit_progress(self, consumer: AIOKafkaConsumer) -> None:
        """Commit the progress offsets (monitoring only) at most once a second, in the background."""
        now = time.monotonic()
        if (
            not self._progress
            or now - self._last_commit < 1.0
            or (self._committing is not None and not self._committing.done())
        ):
            return
        self._last_commit = now
        offsets, self._progress = self._progress, {}

        async def commit() -> None:
            try:
                await consumer.commit(offsets)
            except KafkaError as exc:  # the stored positions are what count
                log.debug("could not commit progress offsets: %r", exc)

        self._committing = asyncio.create_task(commit())
