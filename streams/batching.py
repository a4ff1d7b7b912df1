"""Batch helpers for faust streams: grouping by partition, and table writes outside a per-event loop."""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import faust
from faust import streams as faust_streams
from faust.types import EventT, StreamT

__all__ = ["PartitionEvent", "as_current_event", "by_partition", "unacked_batches"]


def unacked_batches(stream: StreamT[Any], size: int, within_s: float) -> AsyncIterator[Sequence[EventT[Any]]]:
    """Up to `size` events at a time, or fewer after `within_s`, never acked by faust:
    the caller acks each event (`await stream.ack(ev)`) once its effects are durable."""
    # noack_take lives on faust.Stream, not on the StreamT interface agents receive.
    return cast(faust.Stream[Any], stream).noack_take(size, within=within_s)


@contextmanager
def as_current_event(event: Any) -> Iterator[None]:
    """Make `event` faust's current event while writing tables for a batch.

    faust picks a table write's changelog partition from the current event, and its
    RocksDB store asserts there is one on every write (faust/stores/rocksdb.py `_set`).
    After `take_events` there is none, so each partition's writes run with one of that
    partition's events set here. `_current_event` is a private ContextVar of faust
    0.15: this is the only place that touches it.
    """
    token = faust_streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust_streams._current_event.reset(token)


class PartitionEvent:
    """A stand-in for faust's current event in table writes made outside a stream (a timer):
    faust reads only `message.topic` and `message.partition` to place the write."""

    def __init__(self, topic: str, partition: int) -> None:
        self.message = _Message(topic, partition)


class _Message:
    def __init__(self, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition


def by_partition(events: Sequence[Any]) -> dict[int, list[Any]]:
    """Events of one batch grouped by source partition, each group in arrival order."""
    groups: dict[int, list[Any]] = {}
    for event in events:
        groups.setdefault(event.message.partition, []).append(event)
    return groups
