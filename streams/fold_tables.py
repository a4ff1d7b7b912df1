"""FoldTables: the worker's two tables and how their keys are spelled.

`buckets` holds one BucketStats per (model, agent type, bucket start). `health` holds one
ModelHealth per model, and per partition the window clock (`["partition", p]`) and the read
positions (`["position", p]`, written by the checkpoint): a position and the state it covers
sit in the same changelog partition, so they are restored together.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import faust

from modelrouter.schemas import Settings, dumps, loads

from .durable_table import DurableTable
from .model_health import ModelHealth, health_from_bytes, health_to_bytes

__all__ = [
    "CHANGELOG_CONFIGS",
    "ROCKSDB_OPTIONS",
    "FoldTables",
    "bucket_key",
    "health_key",
    "partition_clock_key",
    "position_key",
    "skipped_key",
]

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


def bucket_key(model: str, agent: str, bucket: int) -> bytes:
    # JSON, not "a|b|c": model ids and agent types may contain any separator.
    return dumps([model, agent, bucket])


def health_key(model: str) -> bytes:
    return dumps(["health", model])


def partition_clock_key(partition: int) -> bytes:
    return dumps(["partition", partition])


def position_key(partition: int) -> bytes:
    return dumps(["position", partition])


def skipped_key(topic: str, partition: int, offset: int) -> bytes:
    """An invalid record whose dead letter Kafka refused: its reason is kept in `health`."""
    return dumps(["skipped", topic, partition, offset])


class FoldTables:
    """The `buckets` and `health` tables of one worker (create_app makes them DurableTables)."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        self.buckets = cast(DurableTable, self._table(app, "buckets", settings))
        self.health = cast(DurableTable, self._table(app, "health", settings))

    @staticmethod
    def _table(app: faust.App, name: str, settings: Settings) -> Any:
        return app.Table(
            name,
            partitions=settings.partitions,
            extra_topic_configs=CHANGELOG_CONFIGS,
            options=ROCKSDB_OPTIONS,
        )

    def load_health(self, model: str) -> ModelHealth | None:
        raw = self.health.get(health_key(model))
        return None if raw is None else health_from_bytes(raw)

    def store_health(self, model: str, health: ModelHealth) -> None:
        self.health[health_key(model)] = health_to_bytes(health)

    def load_clock(self, partition: int) -> dict[str, Any] | None:
        """The partition's stored window clock: {"closed_through", "stream_time"}."""
        raw = self.health.get(partition_clock_key(partition))
        return None if raw is None else dict(loads(raw))

    def store_clock(self, partition: int, closed_through: int | None, stream_time: float | None) -> None:
        self.health[partition_clock_key(partition)] = dumps(
            {"closed_through": closed_through, "stream_time": stream_time}
        )

    def load_positions(self, partition: int) -> dict[str, int]:
        """Where each input topic of `partition` was folded up to (topic -> next offset)."""
        raw = self.health.get(position_key(partition))
        return {} if raw is None else dict(loads(raw))

    def store_positions(self, partition: int, positions: dict[str, int]) -> None:
        self.health[position_key(partition)] = dumps(positions)

    def take_pending(self) -> list[asyncio.Future[Any]]:
        """The changelog sends of both tables since the last call."""
        return self.buckets.take_pending() + self.health.take_pending()
