"""Batch helpers for faust streams: grouping by partition, and table writes outside a per-event loop."""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from faust import streams as faust_streams

__all__ = ["as_current_event", "by_partition"]


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


def by_partition(events: Sequence[Any]) -> dict[int, list[Any]]:
    """Events of one batch grouped by source partition, each group in arrival order."""
    groups: dict[int, list[Any]] = {}
    for event in events:
        groups.setdefault(event.message.partition, []).append(event)
    return groups
