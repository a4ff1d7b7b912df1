"""What a worker knows of the buckets of its partitions: stream time, which buckets exist,
which are due to close or expire, and model-level rollups for trailing windows.

Pure bookkeeping (no faust): the caller reads and writes the bucket table and tells this
module what it wrote; `load(model, agent, bucket_start)` reads one stored bucket.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field

from .buckets import BucketStats, merge_into

__all__ = ["INPUT_HOLD_S", "InputClocks", "Loader", "PartitionClock", "WindowIndex", "trailing_bounds"]

Loader = Callable[[str, str, int], BucketStats | None]
HOUR = 3600


@dataclass(slots=True)
class PartitionClock:
    stream_time: float | None = None  # latest event time seen on the partition
    last_event_wall: float = 0.0  # wall-clock time of the latest event
    closed_through: int | None = None  # bucket_start of the latest bucket whose finals went out


def trailing_bounds(span_s: int, end_bucket: int, bucket_seconds: int) -> tuple[int, int]:
    """[start, end) of a trailing window that ends with the bucket `end_bucket`.

    Windows up to an hour are exact in buckets; longer ones start on an hour boundary
    so they can be merged from hourly rollups (the summary states the real bounds).
    """
    end = end_bucket + bucket_seconds
    start = ((end - span_s) // bucket_seconds) * bucket_seconds
    if span_s > HOUR:
        start = (end_bucket // HOUR) * HOUR - (span_s - HOUR)
    return start, end


# How long a topic that has records left to read but delivers none may hold a partition's
# stream time back (a tail of transaction markers, or records deleted under the reader).
INPUT_HOLD_S = 5.0


@dataclass
class InputClocks:
    """How far each input topic of a partition has been read in event time, so that stream
    time moves only as far as every input with records left to read has been read.

    A partition reads several topics at their own pace: in a backlog, one fetch of the sparse
    failover topic spans far more event time than one of task-completed, and closing buckets
    on it would make the busy topic's events late (every final sent twice).
    """

    hold_s: float = INPUT_HOLD_S
    times: dict[tuple[int, str], float] = field(default_factory=dict)  # latest event time read
    delivered: dict[tuple[int, str], float] = field(default_factory=dict)  # wall time of its last records

    def advance(
        self, partition: int, batch: Mapping[str, float], lagging: Collection[str], wall: float
    ) -> float | None:
        """The stream time `partition` may move to after a batch (None: not yet).

        `batch`: the latest event time per topic in the batch; `lagging`: the partition's
        topics with records left to read. While topics lag, the earliest time any of them was
        read up to (a lagging topic not read yet holds it back entirely); when none lags,
        the latest time read on any topic. A lagging topic that delivers nothing for hold_s
        stops holding it back.
        """
        times, delivered = self.times, self.delivered
        for topic, t in batch.items():
            key = (partition, topic)
            if t > times.get(key, -math.inf):
                times[key] = t
            delivered[key] = wall
        held: list[float] = []
        for topic in lagging:
            key = (partition, topic)
            if wall - delivered.setdefault(key, wall) > self.hold_s:
                continue
            read_to = times.get(key)
            if read_to is None:
                return None
            held.append(read_to)
        if held:
            return min(held)
        read = [t for (p, _), t in times.items() if p == partition]
        return max(read) if read else None

    def clear(self) -> None:
        self.times.clear()
        self.delivered.clear()


@dataclass
class WindowIndex:
    bucket_seconds: int
    grace_seconds: float
    retention_s: float
    clocks: dict[int, PartitionClock] = field(default_factory=dict)
    # model -> bucket_start -> agent types with a stored bucket
    keys: dict[str, dict[int, set[str]]] = field(default_factory=dict)
    model_partition: dict[str, int] = field(default_factory=dict)
    # partition -> bucket_start -> models with data in a bucket not yet final
    open: dict[int, dict[int, set[str]]] = field(default_factory=dict)
    # closed buckets that received late events: their finals go out again
    reclose: set[tuple[int, str, int]] = field(default_factory=set)  # (partition, model, bucket)
    dirty_models: set[str] = field(default_factory=set)
    _minutes: dict[tuple[str, int], BucketStats] = field(default_factory=dict)  # (model, bucket)
    _hours: dict[tuple[str, int], BucketStats] = field(default_factory=dict)  # (model, hour)

    def clock(self, partition: int) -> PartitionClock:
        c = self.clocks.get(partition)
        if c is None:
            c = self.clocks[partition] = PartitionClock()
        return c

    def observe(self, partition: int, event_time: float, wall: float) -> None:
        c = self.clock(partition)
        if c.stream_time is None or event_time > c.stream_time:
            c.stream_time = event_time
        c.last_event_wall = wall

    def note_write(self, partition: int, model: str, agent: str, bucket: int) -> None:
        """A bucket key was written: index it and invalidate the rollups that contain it."""
        self.keys.setdefault(model, {}).setdefault(bucket, set()).add(agent)
        self.model_partition[model] = partition
        closed = self.clock(partition).closed_through
        if closed is not None and bucket <= closed:
            self.reclose.add((partition, model, bucket))
        else:
            self.open.setdefault(partition, {}).setdefault(bucket, set()).add(model)
        self.dirty_models.add(model)
        self._minutes.pop((model, bucket), None)
        self._hours.pop((model, (bucket // HOUR) * HOUR), None)

    def due_to_close(self, partition: int, wall_now: float) -> list[int]:
        """Open buckets of `partition` that are closed now, oldest first.

        A bucket closes when stream time passes its end plus grace; a partition that has
        had no event for a whole bucket also closes on wall-clock time, so the last
        bucket before a quiet spell is not held open forever.
        """
        c = self.clock(partition)
        buckets = self.open.get(partition)
        if not buckets or c.stream_time is None:
            return []
        horizon = c.stream_time
        if wall_now - c.last_event_wall >= self.bucket_seconds + self.grace_seconds:
            horizon = max(horizon, wall_now)
        limit = horizon - self.bucket_seconds - self.grace_seconds
        return sorted(b for b in buckets if b <= limit)

    def models_in(self, partition: int, bucket: int) -> set[str]:
        return self.open.get(partition, {}).get(bucket, set())

    def mark_closed(self, partition: int, bucket: int) -> None:
        self.open.get(partition, {}).pop(bucket, None)
        c = self.clock(partition)
        if c.closed_through is None or bucket > c.closed_through:
            c.closed_through = bucket

    def agents(self, model: str, bucket: int) -> set[str]:
        return self.keys.get(model, {}).get(bucket, set())

    def expire(self, partition: int, now: float) -> list[tuple[str, str, int]]:
        """Drop `partition`'s buckets past retention from the index, and return them so the
        caller deletes them from the table (this also covers keys restored after a restart)."""
        cutoff = now - self.retention_s - self.bucket_seconds  # at or before: buckets.is_expired
        gone: list[tuple[str, str, int]] = []
        for model, buckets in self.keys.items():
            if self.model_partition.get(model) != partition:
                continue
            for bucket in [b for b in buckets if b <= cutoff]:
                gone.extend((model, agent, bucket) for agent in buckets.pop(bucket))
                self._minutes.pop((model, bucket), None)
                self._hours.pop((model, (bucket // HOUR) * HOUR), None)  # held the dropped bucket
        partition_open = self.open.get(partition, {})
        for bucket in [b for b in partition_open if b <= cutoff]:
            del partition_open[bucket]
        for key in [k for k in self._hours if k[1] + HOUR < cutoff]:
            del self._hours[key]
        return gone

    def forget_partitions(self, keep: Iterable[int]) -> None:
        """After a rebalance: drop everything about partitions this worker no longer owns."""
        kept = set(keep)
        for model in [m for m, p in self.model_partition.items() if p not in kept]:
            del self.model_partition[model]
            self.keys.pop(model, None)
            self.dirty_models.discard(model)
        for p in [p for p in self.clocks if p not in kept]:
            del self.clocks[p]
            self.open.pop(p, None)
        self.reclose = {r for r in self.reclose if r[0] in kept}
        self._minutes = {k: v for k, v in self._minutes.items() if k[0] in self.model_partition}
        self._hours = {k: v for k, v in self._hours.items() if k[0] in self.model_partition}

    def model_bucket(self, model: str, bucket: int, load: Loader) -> BucketStats:
        """All agent types of one model in one bucket, merged (cached until written again)."""
        cached = self._minutes.get((model, bucket))
        if cached is None:
            cached = BucketStats()
            for agent in self.agents(model, bucket):
                stats = load(model, agent, bucket)
                if stats is not None:
                    merge_into(cached, stats)
            self._minutes[(model, bucket)] = cached
        return cached

    def cache_model_bucket(self, model: str, bucket: int, merged: BucketStats) -> None:
        self._minutes[(model, bucket)] = merged

    def trailing(self, model: str, start: int, end: int, load: Loader) -> BucketStats:
        """Model-level stats over buckets in [start, end): whole hours from hourly rollups."""
        out = BucketStats()
        buckets = self.keys.get(model, {})
        t = start
        while t < end:
            hour = (t // HOUR) * HOUR
            if t == hour and hour + HOUR <= end:
                merge_into(out, self._hour(model, hour, load))
                t += HOUR
                continue
            if t in buckets:
                merge_into(out, self.model_bucket(model, t, load))
            t += self.bucket_seconds
        return out

    def _hour(self, model: str, hour: int, load: Loader) -> BucketStats:
        cached = self._hours.get((model, hour))
        if cached is None:
            cached = BucketStats()
            buckets = self.keys.get(model, {})
            for b in range(hour, hour + HOUR, self.bucket_seconds):
                if b in buckets:
                    # read through without caching each minute: old minutes are not reused
                    stats = self._minutes.get((model, b))
                    if stats is None:
                        for agent in buckets[b]:
                            s = load(model, agent, b)
                            if s is not None:
                                merge_into(cached, s)
                    else:
                        merge_into(cached, stats)
            self._hours[(model, hour)] = cached
        return cached

    def evict_minutes(self, model: str, before: int) -> None:
        """Forget cached minute rollups older than `before` (hourly rollups cover them)."""
        for key in [k for k in self._minutes if k[0] == model and k[1] < before]:
            del self._minutes[key]
