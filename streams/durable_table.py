"""DurableTable: a faust Table whose changelog sends can be awaited before offsets are acked.

faust's Table drops the future of each changelog send, and its commit path does not
wait for them (`Consumer._commit_offsets` flushes with a 0.1 s give-up). Folds keep
those futures and await them before acking the events they came from, so a committed
offset never runs ahead of the state it produced: that, plus the per-key applied
offsets, is what makes totals exact across a SIGKILL.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from aiokafka.partitioner import murmur2

__all__ = ["DurableTable", "await_changelog", "partition_of"]


class DurableTable(faust.Table[Any, Any]):
    """Keys and values are bytes the caller encodes (one codec); changelog sends are kept."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # faust derives serializers from key_type/value_type and falls back to JSON; the
        # store is made lazily, after this, so setting them here makes both raw.
        self.key_serializer = "raw"
        self.value_serializer = "raw"

    def on_key_set(self, key: Any, value: Any) -> None:
        fut = self.send_changelog(self.partition_for_key(key), key, value)
        self.__dict__.setdefault("_pending", []).append(fut)
        self._sensor_on_set(self, key, value)

    def on_key_del(self, key: Any) -> None:
        fut = self.send_changelog(self.partition_for_key(key), key, value=None, value_serializer="raw")
        self.__dict__.setdefault("_pending", []).append(fut)
        self._sensor_on_del(self, key)

    def take_pending(self) -> list[asyncio.Future[Any]]:
        pending: list[asyncio.Future[Any]] = self.__dict__.get("_pending", [])
        self.__dict__["_pending"] = []
        return pending


async def await_changelog(futures: list[asyncio.Future[Any]], timeout_s: float) -> None:
    """Wait until Kafka has every record (acks=all); raise if one failed or timed out."""
    if futures:
        await asyncio.wait_for(asyncio.gather(*futures), timeout=timeout_s)


def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (and faust's) gives `key`."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions
