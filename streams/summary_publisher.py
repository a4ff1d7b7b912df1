"""SummaryPublisher: final summaries of the buckets that close, provisional summaries of the open
buckets and trailing windows, and scorecards, sent to the summaries and scorecards topics."""

from __future__ import annotations

import asyncio
from typing import Any

from modelrouter.schemas import Settings, TopicName

from .bucket_cache import BucketCache
from .fold_tables import FoldTables
from .record_sender import RecordSender
from .stored_index import StoredIndex
from .summaries import (
    final_summaries,
    open_bucket_summaries,
    provisional_summaries,
    scorecard_for,
    to_record,
)

__all__ = ["SummaryPublisher"]

Records = list[tuple[str, bytes, bytes]]

# Provisional bucket summaries, on average at most this many a second: a reader behind holds
# many buckets open (stream time waits for its slowest topic), and re-sending all of them
# every second (4,500 records a round with 50 models) took a large share of the fold
# (bench/ingest.py). Live, 50 models' open buckets are a few hundred records: every round.
_OPEN_RECORDS_PER_S = 1000.0
# While the event reader is behind (records left to read after its last batch), provisional
# summaries (trailing windows, open buckets) go out at most this often: finals replace them
# before anyone reads them, and they were 70% of a catching-up worker's summary records
# (bench/ingest.py). Scorecards, which selection reads, and finals go out every round.
_BEHIND_EVERY_S = 5.0


class SummaryPublisher:
    def __init__(
        self,
        settings: Settings,
        tables: FoldTables,
        cache: BucketCache,
        stored: StoredIndex,
        sender: RecordSender,
    ) -> None:
        self._settings = settings
        self._tables = tables
        self._cache = cache
        self._stored = stored
        self._sender = sender
        self._summaries = settings.topic(TopicName.SUMMARIES)
        self._scorecards = settings.topic(TopicName.SCORECARDS)
        self._open_due = 0.0  # wall time of the next round of provisional bucket summaries
        self._open_models: set[str] = set()  # models changed since the last such round
        self._behind_due = 0.0  # while behind: wall time of the next round of provisional summaries
        self._trailing_models: set[str] = set()  # models changed since the last trailing-window round
        self.behind = False  # set by the event reader after each batch

    def close_partition(self, partition: int, wall: float) -> list[Any]:
        """After a partition's batch: send the finals that are due, and store the partition's
        window clock with the batch (the caller sets the partition's current event)."""
        sends = self._sender.send_all(self.close_due(partition, wall))
        clock = self._stored.index.clock(partition)
        self._tables.store_clock(partition, clock.closed_through, clock.stream_time)
        return sends

    def close_due(self, partition: int, wall: float) -> Records:
        """Final summaries of the buckets that closed, and of closed buckets with late events."""
        index = self._stored.index
        records: Records = []
        for bucket in index.due_to_close(partition, wall):
            for model in sorted(index.models_in(partition, bucket)):
                for s in final_summaries(index, model, bucket, self._cache.load):
                    records.append((self._summaries, *to_record(s)))
            index.mark_closed(partition, bucket)
        return records

    def reclosed(self) -> Records:
        """Finals again for closed buckets that took late events since the last call.

        Called from the once-a-second timer, so a backlog whose topics are read at
        different paces re-emits each late bucket at most once a second, not per batch.
        """
        index = self._stored.index
        late, index.reclose = index.reclose, set()
        records: Records = []
        for _, model, bucket in sorted(late):
            for s in final_summaries(index, model, bucket, self._cache.load):
                records.append((self._summaries, *to_record(s)))
        return records

    async def provisional(self, models: set[str]) -> Records:
        """Trailing-window summaries of `models`, yielding between models (after a restart
        every model is due, and a day's rollups take a while to build)."""
        index = self._stored.index
        records: Records = []
        for model in sorted(models):
            for s in provisional_summaries(index, model, self._cache.load):
                records.append((self._summaries, *to_record(s)))
            await asyncio.sleep(0)
        return records

    def scorecards(self, models: set[str]) -> Records:
        window = self._settings.scorecard_window_s
        index, load_health = self._stored.index, self._tables.load_health
        return [
            (self._scorecards, *to_record(scorecard_for(index, m, load_health(m), self._cache.load, window)))
            for m in sorted(models)
        ]

    async def send_cooldown_scorecards(self, changed: set[str]) -> None:
        """Scorecards of the models whose cooldown a batch changed, at once (not on the timer):
        a rate limit must reach selection within a second."""
        if changed:
            for fut in self._sender.send_all(self.scorecards(changed)):
                await fut

    async def publish_due(self, wall: float) -> list[Any]:
        """The timer's round: idle partitions close on wall time, late buckets re-close, and the
        changed models' scorecards go out, with their trailing windows and open buckets (every
        _BEHIND_EVERY_S while the reader is behind); the futures of the sends."""
        index = self._stored.index
        records: Records = []
        for partition in list(index.clocks):
            records += self.close_due(partition, wall)
        records += self.reclosed()
        dirty, index.dirty_models = index.dirty_models, set()
        self._trailing_models |= dirty
        waiting = self.behind and wall < self._behind_due
        if not waiting:
            self._behind_due = wall + _BEHIND_EVERY_S
            trailing, self._trailing_models = self._trailing_models, set()
            records += await self.provisional(trailing)
        records += self.scorecards(dirty)
        # After the last await: a bucket that closed meanwhile is no longer open, so no
        # provisional record can follow (and replace) its final.
        self._open_models |= dirty
        if not waiting and wall >= self._open_due:
            opened = self.open_buckets(self._open_models)
            self._open_models = set()
            self._open_due = wall + len(opened) / _OPEN_RECORDS_PER_S
            records += opened
        return self._sender.send_all(records)

    def open_buckets(self, models: set[str]) -> Records:
        """Provisional bucket summaries of the changed models' open buckets (replaced by their finals)."""
        index, load = self._stored.index, self._cache.load
        return [
            (self._summaries, *to_record(s))
            for m in sorted(models)
            for s in open_bucket_summaries(index, m, load)
        ]
