"""The folds: the three event topics and failovers re-keyed by alternative model
(`failover-in`), read by EventReader, into the bucket and health tables, exactly once; dead
letters; final and provisional summaries.

Each batch: decode (invalid records go to dead-letter), fold per partition with a stand-in
for faust's current event of that partition (one table write per key), send summaries,
await every changelog and output record, and only then move the partitions' stored read
positions on.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import faust
from faust.types import StreamT

from modelrouter.schemas import (
    EVENT_TOPICS,
    Failover,
    InvalidEventError,
    RateLimited,
    Settings,
    TaskCompleted,
    TopicName,
    dumps,
    encode,
    loads,
    summary_key,
)

from .batching import PartitionEvent, as_current_event
from .buckets import BucketStats, FoldTally, fold_batch, from_bytes, to_bytes
from .event_reader import EventReader
from .model_health import ModelHealth, fold_health, health_from_bytes, health_to_bytes
from .summaries import final_summaries, provisional_summaries, scorecard_for, to_record
from .tables import FOLD_FAILED_EXIT, DurableTable, partition_of
from .validation import dead_letter, parse_event
from .windows import InputClocks, WindowIndex

__all__ = ["ASSIGNMENT_TOPIC", "FOLD_FAILED_EXIT", "Folder", "register_performance"]

log = logging.getLogger("modelrouter.streams.performance")

# Every batch rewrites the keys it touched, so a changelog holds many versions of each key.
# Small segments and an eager cleaner let compaction keep up, so a worker restoring a table
# (a new machine, or an empty state folder) reads about one record per key, not its history.
CHANGELOG_CONFIGS = {
    "cleanup.policy": "compact",
    "segment.bytes": str(32 * 2**20),
    "segment.ms": str(15 * 60_000),
    "min.cleanable.dirty.ratio": "0.1",
}
# faust opens one RocksDB per table partition with 3 x 64 MiB write buffers and a 2 GiB
# block cache each: with 2 tables x 4 partitions a worker holding a day of buckets sat at
# 1.4 GB resident (bench/restart.py). Values are small, and the fold reads recent buckets
# from its own decoded cache; with 32 MiB block caches a full day of buckets took 505 MB.
ROCKSDB_OPTIONS = {
    "write_buffer_size": 4 * 2**20,
    "max_write_buffer_number": 2,
    "target_file_size_base": 16 * 2**20,
    "block_cache_size": 8 * 2**20,
    "block_cache_compressed_size": 4 * 2**20,
}
SRC_PARTITION = "mr-src-partition"
# The internal topic whose partitions faust assigns (no records flow through it).
ASSIGNMENT_TOPIC = "assignment"
SRC_OFFSET = "mr-src-offset"
# Decoded buckets kept in memory, oldest dropped first: each batch folds into the buckets of
# the last minute or two again, and reading one from RocksDB and decoding it cost ~10% of a
# worker's time (py-spy, docs/benchmarks.md). A full cache holds a few MB of sketches.
STATS_CACHE_SIZE = 4096


@dataclass
class FoldCounters:
    valid: int = 0
    dead_lettered: int = 0
    expired: int = 0
    batches: int = 0


def expired_summaries(settings: Settings, gone: list[tuple[str, str, int]]) -> list[tuple[str, bytes, Any]]:
    """Tombstones for the bucket summaries of expired buckets (per agent and all agents)."""
    topic = settings.topic(TopicName.SUMMARIES)
    keys = set()
    for model, agent, bucket in gone:
        start = datetime.fromtimestamp(bucket, UTC)
        keys.add(summary_key(model, agent, "bucket", start))
        keys.add(summary_key(model, None, "bucket", start))
    return [(topic, key.encode("utf-8"), None) for key in sorted(keys)]


def bucket_key(model: str, agent: str, bucket: int) -> bytes:
    # JSON, not "a|b|c": model ids and agent types may contain any separator.
    return dumps([model, agent, bucket])


def health_key(model: str) -> bytes:
    return dumps(["health", model])


def partition_meta_key(partition: int) -> bytes:
    return dumps(["partition", partition])


class Folder:
    """The state the fold agents share in one worker: tables, window index, counters."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        # create_app installs DurableTable as the app's Table class.
        self.buckets = cast(
            DurableTable,
            app.Table(
                "buckets",
                partitions=settings.partitions,
                extra_topic_configs=CHANGELOG_CONFIGS,
                options=ROCKSDB_OPTIONS,
            ),
        )
        self.health = cast(
            DurableTable,
            app.Table(
                "health",
                partitions=settings.partitions,
                extra_topic_configs=CHANGELOG_CONFIGS,
                options=ROCKSDB_OPTIONS,
            ),
        )
        self.kinds = {settings.topic(name): TopicName(name) for name in EVENT_TOPICS}
        self.failover_in_name = settings.topic("failover-in")
        self.assignment_name = settings.topic(ASSIGNMENT_TOPIC)
        self.index = self._new_index()
        self.generation: int | None = None
        self.counters = FoldCounters()
        self.tally = FoldTally()
        self.cooldown_changed: set[str] = set()
        self._last_expiry: dict[int, float] = {}
        self.inputs = InputClocks()
        # bucket key -> the table's value, decoded; the very objects the fold updates in place
        self._stats: dict[tuple[str, str, int], BucketStats] = {}
        self._topics: dict[str, Any] = {}
        self._rebuild_lock = asyncio.Lock()

    def topic(self, name: str) -> Any:
        """A faust Topic to send to, made once per name."""
        t = self._topics.get(name)
        if t is None:
            t = self._topics[name] = self.app.topic(name, key_type=bytes, value_type=bytes)
        return t

    def _new_index(self) -> WindowIndex:
        s = self.settings
        return WindowIndex(s.bucket_seconds, s.grace_seconds, s.retention_hours * 3600)

    # -- reading stored state -------------------------------------------------------------

    def load_bucket(self, model: str, agent: str, bucket: int) -> BucketStats | None:
        """The stored bucket, decoded (callers other than the fold must not change it)."""
        stats = self._stats.get((model, agent, bucket))
        if stats is None:
            raw = self.buckets.get(bucket_key(model, agent, bucket))
            if raw is None:
                return None
            stats = self._cache((model, agent, bucket), from_bytes(raw))
        return stats

    def _cache(self, key: tuple[str, str, int], stats: BucketStats) -> BucketStats:
        cache = self._stats
        cache[key] = stats
        if len(cache) > STATS_CACHE_SIZE:
            for old in list(itertools.islice(cache, STATS_CACHE_SIZE // 4)):
                del cache[old]
        return stats

    def start_reading(self) -> None:
        """Called when an assignment's restored tables are ready to fold: drop the decoded
        buckets (a changelog restore rewrites the table under them) and how far each input
        was read (reading resumes from the stored positions)."""
        self._stats.clear()
        self.inputs.clear()

    def load_health(self, model: str) -> ModelHealth | None:
        raw = self.health.get(health_key(model))
        return None if raw is None else health_from_bytes(raw)

    def assigned_partitions(self) -> set[int]:
        """The partitions faust gave this worker (of the `assignment` topic, co-partitioned with
        the tables; the event reader reads the same partitions of the topics it folds)."""
        topic = self.assignment_name
        return {tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == topic}

    async def ensure_index(self, generation: int) -> None:
        """Index the stored buckets once per consumer generation (start-up, rebalance)."""
        async with self._rebuild_lock:
            if self.generation != generation:
                await self.rebuild()
                self.generation = generation

    async def rebuild(self) -> None:
        """Index the stored buckets of this worker's partitions (keys only; values load lazily).

        Yields to the event loop every few thousand keys: with a day of history this scans
        hundreds of thousands of keys, and a loop blocked for seconds misses heartbeats.
        """
        started = time.monotonic()
        index = self._new_index()
        partitions = self.settings.partitions
        partition_by_model: dict[str, int] = {}
        for n, raw_key in enumerate(self.buckets.keys()):
            model, agent, bucket = loads(raw_key)
            p = partition_by_model.get(model)
            if p is None:
                p = partition_by_model[model] = partition_of(model.encode("utf-8"), partitions)
                index.model_partition[model] = p
            index.keys.setdefault(model, {}).setdefault(bucket, set()).add(agent)
            if n % 5000 == 4999:
                await asyncio.sleep(0)
        for p in self.assigned_partitions():
            raw = self.health.get(partition_meta_key(p))
            if raw is not None:
                meta = loads(raw)
                clock = index.clock(p)
                clock.closed_through, clock.stream_time = meta["closed_through"], meta["stream_time"]
                clock.last_event_wall = time.time()
        for model, buckets in index.keys.items():
            p = index.model_partition[model]
            closed = index.clock(p).closed_through
            for bucket in buckets:
                if closed is None or bucket > closed:
                    index.open.setdefault(p, {}).setdefault(bucket, set()).add(model)
            index.dirty_models.add(model)
        self.index = index
        # The tables may have been restored under the decoded buckets (a rebalance): the
        # summaries built from here on, possibly before the reader's start_reading, read anew.
        self._stats.clear()
        keys = sum(len(a) for b in index.keys.values() for a in b.values())
        log.info(
            "indexed %d stored buckets of %d models in %.2f s; owns partitions %s",
            keys,
            len(index.keys),
            time.monotonic() - started,
            sorted(self.assigned_partitions()),
        )

    # -- folding ----------------------------------------------------------------------------

    def fold_partition(
        self, partition: int, batch: Mapping[str, Sequence[Any]], wall: float, lagging: Collection[str] = ()
    ) -> list[Any]:
        """Fold one partition's records of a batch (topic -> aiokafka ConsumerRecords in offset
        order, of the event topics and `failover-in`), move its stream time, then close what
        is due, once; return the output futures. `lagging`: the topics of this partition with
        records left to read after this batch. The caller sets the partition's current event
        (as_current_event)."""
        times: dict[str, float] = {}  # topic -> latest event time in this batch
        items: list[tuple[str, int, Any]] = []
        health_items: list[tuple[str, int, TaskCompleted | RateLimited]] = []
        sends: list[Any] = []
        for topic, records in batch.items():
            if topic == self.failover_in_name:
                self._fold_forwarded(partition, records, times)
            else:
                sends += self._parse_events(partition, topic, records, wall, times, items, health_items)
        self._fold_buckets(partition, items, "out")
        self._fold_health(health_items)
        advanced = self.inputs.advance(partition, times, lagging, wall)
        if advanced is not None:
            self.index.observe(partition, advanced, wall)
        elif times:  # events came (the partition is not idle), but stream time waits
            self.index.clock(partition).last_event_wall = wall
        return sends + self._close_and_expire(partition, wall)

    def _parse_events(
        self,
        partition: int,
        topic: str,
        records: Sequence[Any],
        wall: float,
        times: dict[str, float],
        items: list[tuple[str, int, Any]],
        health_items: list[tuple[str, int, TaskCompleted | RateLimited]],
    ) -> list[Any]:
        """One event topic's records: valid ones onto `items` (buckets) and `health_items`,
        failovers forwarded, invalid ones dead-lettered; returns the sends."""
        sends: list[Any] = []
        kind = self.kinds[topic]
        source = f"{topic}:{partition}"
        bucket_s = self.settings.bucket_seconds
        # An event in a bucket that ended more than retention ago would resurrect an expired
        # key (buckets.is_too_old, inlined: this loop runs once per event).
        too_old = wall - bucket_s - self.settings.retention_hours * 3600
        latest = times.get(topic, -math.inf)
        valid = expired = 0
        for rec in records:
            try:
                parsed = parse_event(rec.value, kind)
            except InvalidEventError as exc:
                letter = dead_letter(rec.value, str(exc), topic=topic, partition=partition, offset=rec.offset)
                sends.append(
                    self.topic(self.settings.topic(TopicName.DEAD_LETTER)).send_soon(
                        key=rec.key, value=encode(letter)
                    )
                )
                self.counters.dead_lettered += 1
                continue
            valid += 1
            t = parsed.occurred_at.timestamp()
            if (t // bucket_s) * bucket_s <= too_old:
                expired += 1
                continue
            if t > latest:
                latest = t
            items.append((source, rec.offset, parsed))
            if isinstance(parsed, Failover):
                # The "in" side belongs to alternative_model's partition: re-key it there,
                # carrying the source position so a replayed forward is recognised.
                headers = {SRC_PARTITION: str(partition).encode(), SRC_OFFSET: str(rec.offset).encode()}
                sends.append(
                    self.topic(self.failover_in_name).send_soon(
                        key=parsed.alternative_model.encode("utf-8"), value=rec.value, headers=headers
                    )
                )
            else:
                health_items.append((source, rec.offset, parsed))
        if latest > -math.inf:
            times[topic] = latest
        self.counters.valid += valid
        self.counters.expired += expired
        return sends

    def _fold_forwarded(self, partition: int, records: Sequence[Any], times: dict[str, float]) -> None:
        """`failover-in` records: the failovers of this partition's models as alternative."""
        items: list[tuple[str, int, Any]] = []
        for rec in records:
            headers = dict(rec.headers or ())
            # One guard entry per forwarded event, not a high-water mark per source partition:
            # around a rebalance two workers may forward the same source partition, so the
            # forwards of one partition need not arrive in offset order. Failovers are a
            # small share of events and a bucket's guard entries expire with it.
            position = f"{int(headers[SRC_PARTITION])}:{int(headers[SRC_OFFSET])}"
            source = f"{self.settings.topic(TopicName.FAILOVER)}:in:{position}"
            parsed = parse_event(rec.value, TopicName.FAILOVER)  # validated before it was forwarded
            t = parsed.occurred_at.timestamp()
            if t > times.get(rec.topic, -math.inf):
                times[rec.topic] = t
            items.append((source, 0, parsed))
        self._fold_buckets(partition, items, "in")

    def _fold_buckets(self, partition: int, items: list[tuple[str, int, Any]], side: str) -> None:
        if not items:
            return
        loaded: dict[tuple[str, str, int], BucketStats] = {}

        def load(key: tuple[str, str, int]) -> BucketStats | None:
            stats = self.load_bucket(*key)
            if stats is not None:
                loaded[tuple(key)] = stats  # type: ignore[index]
            return stats

        changed = fold_batch(
            items,
            self.settings.bucket_seconds,
            failover_side=side,  # type: ignore[arg-type]
            load=load,
            tally=self.tally,
        )
        for bkey, stats in changed.items():
            self.buckets[bucket_key(*bkey)] = to_bytes(stats)
            self.index.note_write(partition, *bkey)
            if bkey not in self._stats:  # a new key (loaded ones are cached already)
                self._cache(bkey, stats)
        # Keys whose events were all replays are written again: a local RocksDB value that
        # never reached the changelog before a crash gets there before these offsets are acked.
        for key, stats in loaded.items():
            if key not in changed:
                self.buckets[bucket_key(*key)] = to_bytes(stats)

    def _fold_health(self, items: list[tuple[str, int, TaskCompleted | RateLimited]]) -> None:
        touched: dict[str, ModelHealth] = {}
        cooldown_s = self.settings.default_cooldown_s
        for source, offset, ev in items:
            h = touched.get(ev.model_id)
            if h is None:
                h = touched[ev.model_id] = self.load_health(ev.model_id) or ModelHealth()
            before = h.cooldown_until
            if fold_health(h, ev, source, offset, cooldown_s) and h.cooldown_until != before:
                self.cooldown_changed.add(ev.model_id)
        for model, h in touched.items():
            self.health[health_key(model)] = health_to_bytes(h)

    def _close_and_expire(self, partition: int, wall: float) -> list[Any]:
        sends = self.send_records(self.close_due(partition, wall))
        clock = self.index.clock(partition)
        self.health[partition_meta_key(partition)] = dumps(
            {"closed_through": clock.closed_through, "stream_time": clock.stream_time}
        )
        return sends

    def expire(self, wall: float) -> list[Any]:
        """Delete buckets past retention in every owned partition, idle ones included (also
        keys restored from the changelog after a restart), and tombstone their summaries."""
        sends: list[Any] = []
        topic = self.failover_in_name
        for partition in sorted(self.assigned_partitions()):
            if wall - self._last_expiry.get(partition, 0.0) < self.settings.bucket_seconds:
                continue
            self._last_expiry[partition] = wall
            gone = self.index.expire(partition, wall)
            if not gone:
                continue
            with as_current_event(PartitionEvent(topic, partition)):
                for model, agent, bucket in gone:
                    self.buckets.pop(bucket_key(model, agent, bucket), None)
                    self._stats.pop((model, agent, bucket), None)
            sends += self.send_records(expired_summaries(self.settings, gone))
            log.info("expired %d buckets of partition %d past retention", len(gone), partition)
        return sends

    # -- summaries --------------------------------------------------------------------------

    def close_due(self, partition: int, wall: float) -> list[tuple[str, bytes, bytes]]:
        """Final summaries of the buckets that closed, and of closed buckets with late events."""
        records: list[tuple[str, bytes, bytes]] = []
        summaries = self.settings.topic(TopicName.SUMMARIES)
        for bucket in self.index.due_to_close(partition, wall):
            for model in sorted(self.index.models_in(partition, bucket)):
                for s in final_summaries(self.index, model, bucket, self.load_bucket):
                    records.append((summaries, *to_record(s)))
            self.index.mark_closed(partition, bucket)
        return records

    def reclosed(self) -> list[tuple[str, bytes, bytes]]:
        """Finals again for closed buckets that took late events since the last call.

        Called from the once-a-second timer, so a backlog whose topics are read at
        different paces re-emits each late bucket at most once a second, not per batch.
        """
        summaries = self.settings.topic(TopicName.SUMMARIES)
        late, self.index.reclose = self.index.reclose, set()
        records = []
        for _, model, bucket in sorted(late):
            for s in final_summaries(self.index, model, bucket, self.load_bucket):
                records.append((summaries, *to_record(s)))
        return records

    async def provisional(self, models: set[str]) -> list[tuple[str, bytes, bytes]]:
        """Trailing-window summaries and scorecards of `models`, yielding between models
        (after a restart every model is due, and a day's rollups take a while to build)."""
        summaries = self.settings.topic(TopicName.SUMMARIES)
        records = []
        for model in sorted(models):
            for s in provisional_summaries(self.index, model, self.load_bucket):
                records.append((summaries, *to_record(s)))
            await asyncio.sleep(0)
        return records + self.scorecards(models)

    def scorecards(self, models: set[str]) -> list[tuple[str, bytes, bytes]]:
        topic = self.settings.topic(TopicName.SCORECARDS)
        window = self.settings.scorecard_window_s
        return [
            (topic, *to_record(scorecard_for(self.index, m, self.load_health(m), self.load_bucket, window)))
            for m in sorted(models)
        ]

    def send_records(self, records: list[tuple[str, bytes, Any]]) -> list[Any]:
        return [self.topic(topic).send_soon(key=key, value=value) for topic, key, value in records]

    async def send_cooldown_scorecards(self) -> None:
        """Scorecards of the models whose cooldown a batch changed, at once (not on the timer):
        a rate limit must reach selection within a second."""
        if self.cooldown_changed:
            changed, self.cooldown_changed = self.cooldown_changed, set()
            for fut in self.send_records(self.scorecards(changed)):
                await fut


def register_performance(app: faust.App, settings: Settings) -> Folder:
    """Attach the event reader, the assignment agent and the summary timers to `app`."""
    folder = Folder(app, settings)
    reader = EventReader(app, settings, folder)
    assignment = app.topic(folder.assignment_name, key_type=bytes, value_type=bytes)

    @app.agent(assignment, name="modelrouter.assignment")
    async def hold_assignment(stream: StreamT[Any]) -> None:
        # No records are sent here. Subscribing is what makes faust give this worker some of
        # the group's partitions and restore those partitions of the tables; the event reader
        # reads and folds the same partitions of the event topics and of `failover-in`.
        async for _ in stream:
            pass

    @app.task  # type: ignore[untyped-decorator]  # faust's decorator is untyped
    async def read_events() -> None:
        await reader.run()

    @app.timer(1.0)  # type: ignore[untyped-decorator]  # faust's decorator is untyped
    async def publish_windows() -> None:
        gen = app.consumer_generation_id
        if folder.generation != gen:
            # No batch has arrived since the last rebalance: index the restored state here,
            # so closing, trailing windows and expiry also run for partitions with no traffic.
            recovery = app.tables.recovery  # type: ignore[attr-defined]  # on TableManager, not its interface
            if app.rebalancing or recovery.in_recovery or not recovery.completed.is_set() or gen is None:
                return
            await folder.ensure_index(gen)
        wall = time.time()
        records: list[tuple[str, bytes, bytes]] = []
        for partition in list(folder.index.clocks):
            records += folder.close_due(partition, wall)  # idle partitions close on wall time
        records += folder.reclosed()
        dirty, folder.index.dirty_models = folder.index.dirty_models, set()
        records += await folder.provisional(dirty)
        futures = folder.send_records(records) + folder.expire(wall)
        for fut in futures:
            await fut

    @app.timer(10.0)  # type: ignore[untyped-decorator]
    async def report() -> None:
        c, t = folder.counters, folder.tally
        log.info(
            "folded %d valid events (%d replays skipped, %d past retention), %d dead-lettered",
            c.valid,
            t.duplicates,
            c.expired,
            c.dead_lettered,
        )

    return folder
