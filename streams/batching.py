"""Table writes outside faust's per-event stream loop: which partition a write belongs to."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from faust import streams as faust_streams

__all__ = ["PartitionEvent", "as_current_event"]


@contextmanager
def as_current_event(event: Any) -> Iterator[None]:
    """Make `event` faust's current event while writing tables for a batch.

    faust picks a table write's changelog partition from the current event, and its
    RocksDB store asserts there is one on every write (faust/stores/rocksdb.py `_set`).
    Outside a faust stream (the event reader, the timers) there is none, so each
    partition's writes run with a PartitionEvent of that partition set here.
    `_current_event` is a private ContextVar of faust 0.15: this is the only place that
    touches it.
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
