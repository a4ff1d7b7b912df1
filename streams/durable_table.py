"""DurableTable: a faust Table whose changelog sends can be awaited before offsets are acked.

faust's Table drops the future of each changelog send, and its commit path does not
wait for them (`Consumer._commit_offsets` flushes with a 0.1 s give-up). Folds keep
those futures and await them before acking the events they came from, so a committed
offset never runs ahead of the state it produced: that, plus the per-key applied
offsets, is what makes totals exact across a SIGKILL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import faust
from aiokafka.partitioner import murmur2

from .record_sender import RecordSender

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
        self._keep(self._changelog(key, value))
        self._sensor_on_set(self, key, value)

    def on_key_del(self, key: Any) -> None:
        self._keep(self._changelog(key, None))
        self._sensor_on_del(self, key)

    def _changelog(self, key: bytes, value: bytes | None) -> asyncio.Future[Any]:
        """faust's send_changelog, through the leaner RecordSender (record_sender.py)."""
        state = self.__dict__
        if "_sender" not in state:  # made on the first write: faust builds tables before the loop runs
            state["_sender"] = RecordSender(self.app)
            state["_changelog_name"] = self.changelog_topic.get_topic_name()
            state["_sent"] = 0
        sender: RecordSender = state["_sender"]
        fut = sender.send(state["_changelog_name"], key, value, partition=self.partition_for_key(key))
        fut.add_done_callback(self._persisted)
        state["_sent"] += 1
        return fut

    @property
    def changelog_records_sent(self) -> int:
        """Changelog records this table sent (the metrics' modelrouter_changelog_records_sent_total)."""
        sent: int = self.__dict__.get("_sent", 0)
        return sent

    def _persisted(self, fut: asyncio.Future[Any]) -> None:
        """As faust's _on_changelog_sent: the store remembers the changelog offset it holds, so
        a restart reads the changelog from there on (at-least-once: no transactions here)."""
        if fut.cancelled() or fut.exception() is not None:
            return
        sent = fut.result()
        self.data.set_persisted_offset(sent.topic_partition, sent.offset)

    def _keep(self, fut: asyncio.Future[Any]) -> None:
        self.__dict__.setdefault("_pending", []).append(fut)

    def take_pending(self) -> list[asyncio.Future[Any]]:
        pending: list[asyncio.Future[Any]] = self.__dict__.get("_pending", [])
        self.__dict__["_pending"] = []
        return pending


async def await_changelog(
    futures: Sequence[asyncio.Future[Any]], on_wait: Callable[[int, float], None], every_s: float = 10.0
) -> None:
    """Wait until Kafka has every record (acks=all); raise the first send that failed.

    No time limit of its own: the producer keeps retrying a record until its request timeout
    (faust's `producer_request_timeout`, 20 minutes), then fails it. While records wait,
    `on_wait(records still waiting, seconds waited)` is called every `every_s`.
    """
    if not futures:
        return
    gathered = asyncio.gather(*futures)
    waited = 0.0
    while True:
        done, _ = await asyncio.wait([gathered], timeout=every_s)
        if done:
            gathered.result()  # raises the first failure
            return
        waited += every_s
        on_wait(sum(not f.done() for f in futures), waited)


def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (and faust's) gives `key`."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions
