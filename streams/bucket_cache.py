"""BucketCache: the stored buckets, decoded once and kept in memory, oldest dropped first.

Each batch folds into the buckets of the last minute or two again, and reading one from
RocksDB and decoding it cost ~10% of a worker's time (py-spy, docs/benchmarks.md). A full
cache holds a few MB of sketches.
"""

from __future__ import annotations

import itertools

from .buckets import BucketStats, from_bytes
from .fold_tables import FoldTables, bucket_key

__all__ = ["STATS_CACHE_SIZE", "BucketCache"]

STATS_CACHE_SIZE = 4096

Key = tuple[str, str, int]


class BucketCache:
    """bucket key -> the table's value, decoded: the very objects the fold updates in place."""

    def __init__(self, tables: FoldTables, size: int = STATS_CACHE_SIZE) -> None:
        self._tables = tables
        self._size = size
        self._stats: dict[Key, BucketStats] = {}

    def load(self, model: str, agent: str, bucket: int) -> BucketStats | None:
        """The stored bucket, decoded (callers other than the fold must not change it)."""
        stats = self._stats.get((model, agent, bucket))
        if stats is None:
            raw = self._tables.buckets.get(bucket_key(model, agent, bucket))
            if raw is None:
                return None
            stats = self.remember((model, agent, bucket), from_bytes(raw))
        return stats

    def __contains__(self, key: Key) -> bool:
        return key in self._stats

    def remember(self, key: Key, stats: BucketStats) -> BucketStats:
        cache = self._stats
        cache[key] = stats
        if len(cache) > self._size:
            for old in list(itertools.islice(cache, self._size // 4)):
                del cache[old]
        return stats

    def drop(self, key: Key) -> None:
        self._stats.pop(key, None)

    def clear(self) -> None:
        """Forget every decoded bucket: a changelog restore rewrote the table under them."""
        self._stats.clear()
