"""StoredIndex: the window index of this worker's stored buckets, rebuilt from the tables once
per consumer generation (start-up, rebalance); the folds then keep it current."""

from __future__ import annotations

import asyncio
import logging
import time

import faust

from modelrouter.schemas import Settings, loads

from .assignment import assigned_partitions
from .bucket_cache import BucketCache
from .durable_table import partition_of
from .fold_tables import FoldTables
from .windows import WindowIndex

__all__ = ["StoredIndex"]

log = logging.getLogger("modelrouter.streams.stored_index")


class StoredIndex:
    """Holds the current WindowIndex (`index`) and the generation it was built for."""

    def __init__(self, app: faust.App, settings: Settings, tables: FoldTables, cache: BucketCache) -> None:
        self._app = app
        self._settings = settings
        self._tables = tables
        self._cache = cache
        self.index = self._new_index()
        self.generation: int | None = None
        self._lock = asyncio.Lock()

    def _new_index(self) -> WindowIndex:
        s = self._settings
        return WindowIndex(s.bucket_seconds, s.grace_seconds, s.retention_hours * 3600)

    async def ensure(self, generation: int) -> None:
        """Index the stored buckets once per consumer generation."""
        async with self._lock:
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
        partitions = self._settings.partitions
        partition_by_model: dict[str, int] = {}
        for n, raw_key in enumerate(self._tables.buckets.keys()):
            model, agent, bucket = loads(raw_key)
            p = partition_by_model.get(model)
            if p is None:
                p = partition_by_model[model] = partition_of(model.encode("utf-8"), partitions)
                index.model_partition[model] = p
            index.keys.setdefault(model, {}).setdefault(bucket, set()).add(agent)
            if n % 5000 == 4999:
                await asyncio.sleep(0)
        owned = assigned_partitions(self._app, self._settings)
        for p in owned:
            stored = self._tables.load_clock(p)
            if stored is not None:
                clock = index.clock(p)
                clock.closed_through, clock.stream_time = stored["closed_through"], stored["stream_time"]
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
        # summaries built from here on, possibly before the reader starts reading, read anew.
        self._cache.clear()
        keys = sum(len(a) for b in index.keys.values() for a in b.values())
        log.info(
            "indexed %d stored buckets of %d models in %.2f s; owns partitions %s",
            keys,
            len(index.keys),
            time.monotonic() - started,
            sorted(owned),
        )
