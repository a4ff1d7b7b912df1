"""PartitionFolds: one partition's records of a batch folded into the bucket and health tables.

The three event topics, `failover-in` (failovers re-keyed by alternative model) and `rekeyed`
(events that arrived on another partition than their key's) are read by the EventReader; each
valid event is folded once (per-key applied offsets skip replays), invalid ones go to
dead-letter, failovers are forwarded to their alternative's partition, and the partition's
stream time moves on.

A failover whose alternative's partition this worker reads too is not forwarded: its "in"
side is folded here, into that partition's buckets, with the same source id a forward would
carry (`<failover topic>:in:<partition>:<offset>`). Each such source has its own guard entry
in the bucket, so whichever way it comes, once or again after a crash or a rebalance, it
counts once. (One worker reading every partition forwarded every failover: each was sent,
read back and decoded again, a tenth of the records it wrote in bench/ingest.py.)

An event is folded only by the owner of its key's partition (the model's; Kafka's default
partitioner, murmur2): one sent without a key, or by a client that partitions otherwise,
is forwarded to that partition of `rekeyed`, with its source position, and folded there.
So a model's buckets live in one partition, and totals stay exact however many workers run.

Closing the windows that are due and sending their summaries is the SummaryPublisher's;
making a batch durable is the Checkpoint's.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelrouter.schemas import (
    EVENT_TOPICS,
    Failover,
    InvalidEventError,
    QualityReported,
    Settings,
    TopicName,
    dumps,
)

from .batching import PartitionEvent, as_current_event
from .bucket_cache import BucketCache
from .buckets import BucketStats, FoldTally, fold_batch, to_bytes
from .dead_letters import DeadLetters, SkippedRecord
from .durable_table import partition_of
from .fold_tables import FoldTables, bucket_key, skipped_key
from .model_health import HealthEvent, ModelHealth, fold_health
from .record_sender import RecordSender
from .stored_index import StoredIndex
from .validation import dead_letter_reason, parse_event
from .windows import InputClocks

__all__ = ["FAILOVER_IN", "REKEYED", "FoldCounters", "PartitionFolds"]

FAILOVER_IN = "failover-in"  # the internal topic of failovers re-keyed by alternative model
REKEYED = "rekeyed"  # the internal topic of events that arrived on a partition not their key's
SRC_TOPIC = "mr-src-topic"  # which event topic a rekeyed record came from (its TopicName)
SRC_PARTITION = "mr-src-partition"
SRC_OFFSET = "mr-src-offset"


@dataclass
class FoldCounters:
    valid: int = 0
    dead_lettered: int = 0
    expired: int = 0
    rekeyed: int = 0  # forwarded to their key's partition
    batches: int = 0
    # For the metrics (streams/metrics.py): valid events read per event topic (TopicName value),
    # and dead letters per reason (validation.dead_letter_reason).
    valid_by_topic: Counter[str] = field(default_factory=Counter)
    dead_lettered_by_reason: Counter[str] = field(default_factory=Counter)


class PartitionFolds:
    """Folds batches, partition by partition; the caller sets the partition's current event
    (batching.as_current_event) around each call."""

    def __init__(
        self,
        settings: Settings,
        tables: FoldTables,
        cache: BucketCache,
        stored: StoredIndex,
        sender: RecordSender,
    ) -> None:
        self.settings = settings
        self.tables = tables
        self.cache = cache
        self.stored = stored
        self.sender = sender
        self.kinds = {settings.topic(name): TopicName(name) for name in EVENT_TOPICS}
        self.failover_in_name = settings.topic(FAILOVER_IN)
        self.rekeyed_name = settings.topic(REKEYED)
        self._owners: dict[str, int] = {}  # key -> its partition (murmur2 is pure Python: cached)
        self.dead_letter_name = settings.topic(TopicName.DEAD_LETTER)
        self.dead_letters = DeadLetters(
            lambda key, value: sender.send(self.dead_letter_name, key, value), on_skip=self._keep_skip
        )
        self.counters = FoldCounters()
        self.tally = FoldTally()
        self.cooldown_changed: set[str] = set()
        self.inputs = InputClocks()
        self.local: frozenset[int] = frozenset()  # the partitions this worker reads now (the reader's)
        self._failover_topic = settings.topic(TopicName.FAILOVER)
        self._in_here: dict[int, list[tuple[str, int, Any]]] = {}  # partition -> "in" sides to fold

    def _keep_skip(self, skip: SkippedRecord) -> None:
        """A record that is in no topic but its own, kept in the partition's `health` table
        (its changelog write goes out with the next batch's)."""
        with as_current_event(PartitionEvent(self.failover_in_name, skip.partition)):
            self.tables.health[skipped_key(skip.topic, skip.partition, skip.offset)] = dumps(
                {"reason": skip.reason}
            )

    def start_reading(self) -> None:
        """Called when an assignment's restored tables are ready to fold: drop the decoded
        buckets (a changelog restore rewrites the table under them) and how far each input
        was read (reading resumes from the stored positions)."""
        self.cache.clear()
        self.inputs.clear()
        self._in_here.clear()

    def fold_partition(
        self, partition: int, batch: Mapping[str, Sequence[Any]], wall: float, lagging: Collection[str] = ()
    ) -> list[Any]:
        """Fold one partition's records of a batch (topic -> aiokafka ConsumerRecords in offset
        order, of the event topics and `failover-in`) and move its stream time; return the
        output futures (dead letters, forwards). `lagging`: the topics of this partition with
        records left to read after this batch."""
        times: dict[str, float] = {}  # topic -> latest event time in this batch
        items: list[tuple[str, int, Any]] = []
        health_items: list[tuple[str, int, HealthEvent]] = []
        sends: list[Any] = []
        for topic, records in batch.items():
            if topic == self.failover_in_name:
                self._fold_forwarded(partition, records, times)
            elif topic == self.rekeyed_name:
                sends += self._fold_rekeyed(partition, records, wall, times, items, health_items)
            else:
                sends += self._parse_events(partition, topic, records, wall, times, items, health_items)
        self._fold_buckets(partition, items, "out")
        self._fold_health(health_items)
        index = self.stored.index
        advanced = self.inputs.advance(partition, times, lagging, wall)
        if advanced is not None:
            index.observe(partition, advanced, wall)
        elif times:  # events came (the partition is not idle), but stream time waits
            index.clock(partition).last_event_wall = wall
        return sends

    def owner(self, key: str) -> int:
        """The partition of `key` (a model id) under Kafka's default partitioner."""
        p = self._owners.get(key)
        if p is None:
            if len(self._owners) > 100_000:  # model ids are few; anything else is bounded
                self._owners.clear()
            p = self._owners[key] = partition_of(key.encode("utf-8"), self.settings.partitions)
        return p

    def _parse_events(
        self,
        partition: int,
        topic: str,
        records: Sequence[Any],
        wall: float,
        times: dict[str, float],
        items: list[tuple[str, int, Any]],
        health_items: list[tuple[str, int, HealthEvent]],
    ) -> list[Any]:
        """One event topic's records: valid ones onto `items` (buckets) and `health_items`,
        failovers forwarded, invalid ones dead-lettered; returns the sends."""
        sends: list[Any] = []
        kind = self.kinds[topic]
        source = f"{topic}:{partition}"
        bucket_s = self.settings.bucket_seconds
        # An event in a bucket that ended more than retention ago would resurrect an expired key.
        too_old = wall - bucket_s - self.settings.retention_hours * 3600
        latest = times.get(topic, -math.inf)
        valid = expired = 0
        for rec in records:
            try:
                parsed = parse_event(rec.value, kind)
            except InvalidEventError as exc:
                letter = self.dead_letters.send_soon(
                    rec.value, rec.key, str(exc), topic=topic, partition=partition, offset=rec.offset
                )
                sends.append(letter)
                self.counters.dead_lettered += 1
                self.counters.dead_lettered_by_reason[dead_letter_reason(exc)] += 1
                continue
            valid += 1
            t = parsed.occurred_at.timestamp()
            if (t // bucket_s) * bucket_s <= too_old:
                expired += 1
                continue
            if t > latest:
                latest = t
            key = parsed.key
            owners = self._owners
            if (owners[key] if key in owners else self.owner(key)) != partition:
                # Not this partition's model: its owner folds it (from `rekeyed`).
                headers = {
                    SRC_TOPIC: kind.value.encode(),
                    SRC_PARTITION: str(partition).encode(),
                    SRC_OFFSET: str(rec.offset).encode(),
                }
                sends.append(self.sender.send(self.rekeyed_name, key.encode("utf-8"), rec.value, headers))
                self.counters.rekeyed += 1
                continue
            sends += self._take(parsed, source, rec.value, partition, rec.offset, items, health_items)
        if latest > -math.inf:
            times[topic] = latest
        self.counters.valid += valid
        self.counters.valid_by_topic[kind.value] += valid
        self.counters.expired += expired
        return sends

    def _take(
        self,
        parsed: Any,
        source: str,
        value: bytes,
        src_partition: int,
        src_offset: int,
        items: list[tuple[str, int, Any]],
        health_items: list[tuple[str, int, HealthEvent]],
    ) -> list[Any]:
        """A valid event of this partition: onto `items` (buckets) and `health_items`, a failover
        also forwarded to its alternative's partition; returns the sends."""
        items.append((source, src_offset, parsed))
        if isinstance(parsed, Failover):
            health_items.append((source, src_offset, parsed))  # its original model's health
            # The "in" side belongs to alternative_model's partition: folded there, here or
            # re-keyed to its owner, under the source position, so a replay is recognised.
            target = self.owner(parsed.alternative_model)
            if target in self.local:
                in_source = self._in_source(src_partition, src_offset)
                self._in_here.setdefault(target, []).append((in_source, 0, parsed))
                return []
            headers = {SRC_PARTITION: str(src_partition).encode(), SRC_OFFSET: str(src_offset).encode()}
            key = parsed.alternative_model.encode("utf-8")
            return [self.sender.send(self.failover_in_name, key, value, headers)]
        if not isinstance(parsed, QualityReported):  # quality is not health
            health_items.append((source, src_offset, parsed))
        return []

    def _fold_rekeyed(
        self,
        partition: int,
        records: Sequence[Any],
        wall: float,
        times: dict[str, float],
        items: list[tuple[str, int, Any]],
        health_items: list[tuple[str, int, HealthEvent]],
    ) -> list[Any]:
        """`rekeyed` records: events of this partition's models that arrived on another partition
        (validated there). Their source is their original topic and partition, so a replayed
        forward counts once: each source partition's forwards arrive in its offset order."""
        sends: list[Any] = []
        too_old = wall - self.settings.bucket_seconds - self.settings.retention_hours * 3600
        bucket_s = self.settings.bucket_seconds
        for rec in records:
            headers = dict(rec.headers or ())
            kind = TopicName(headers[SRC_TOPIC].decode())
            src_partition, src_offset = int(headers[SRC_PARTITION]), int(headers[SRC_OFFSET])
            parsed = parse_event(rec.value, kind)
            t = parsed.occurred_at.timestamp()
            if t > times.get(rec.topic, -math.inf):
                times[rec.topic] = t
            if (t // bucket_s) * bucket_s <= too_old:
                self.counters.expired += 1
                continue
            source = f"{self.settings.topic(kind)}:rekeyed:{src_partition}"
            sends += self._take(parsed, source, rec.value, src_partition, src_offset, items, health_items)
        return sends

    def _in_source(self, src_partition: int, src_offset: int) -> str:
        """The source id of a failover's "in" side, folded here or from `failover-in` alike:
        its guard entry in the bucket is what makes it count once either way."""
        return f"{self._failover_topic}:in:{src_partition}:{src_offset}"

    def fold_failovers_here(self) -> None:
        """Fold the "in" sides of the batch's failovers whose alternative's partition this worker
        reads (see the module's docstring), each under its partition's current event."""
        batches, self._in_here = self._in_here, {}
        for partition, items in batches.items():
            with as_current_event(PartitionEvent(self.failover_in_name, partition)):
                self._fold_buckets(partition, items, "in")

    def _fold_forwarded(self, partition: int, records: Sequence[Any], times: dict[str, float]) -> None:
        """`failover-in` records: the failovers of this partition's models as alternative."""
        items: list[tuple[str, int, Any]] = []
        for rec in records:
            headers = dict(rec.headers or ())
            # One guard entry per forwarded event, not a high-water mark per source partition:
            # around a rebalance two workers may forward the same source partition, so the
            # forwards of one partition need not arrive in offset order. Failovers are a
            # small share of events and a bucket's guard entries expire with it.
            source = self._in_source(int(headers[SRC_PARTITION]), int(headers[SRC_OFFSET]))
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
        cache = self.cache

        def load(key: tuple[str, str, int]) -> BucketStats | None:
            stats = cache.load(*key)
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
        buckets, index = self.tables.buckets, self.stored.index
        for bkey, stats in changed.items():
            buckets[bucket_key(*bkey)] = to_bytes(stats)
            index.note_write(partition, *bkey)
            if bkey not in cache:  # a new key (loaded ones are cached already)
                cache.remember(bkey, stats)
        # Keys whose events were all replays are written again: a local RocksDB value that
        # never reached the changelog before a crash gets there before these offsets are acked.
        for key, stats in loaded.items():
            if key not in changed:
                buckets[bucket_key(*key)] = to_bytes(stats)

    def _fold_health(self, items: list[tuple[str, int, HealthEvent]]) -> None:
        touched: dict[str, ModelHealth] = {}
        cooldown_s = self.settings.default_cooldown_s
        for source, offset, ev in items:
            h = touched.get(ev.key)  # a Failover's key is its original model
            if h is None:
                h = touched[ev.key] = self.tables.load_health(ev.key) or ModelHealth()
            before = h.cooldown_until
            if fold_health(h, ev, source, offset, cooldown_s) and h.cooldown_until != before:
                self.cooldown_changed.add(ev.key)
        for model, h in touched.items():
            self.tables.store_health(model, h)
