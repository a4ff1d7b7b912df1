"""Helpers for integration tests: polling until a condition holds, reading worker tables."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from modelrouter.agents.kafka import read_table, read_to_end
from modelrouter.schemas import Settings
from modelrouter.streams.table_totals import TOTAL_FIELDS, bucket_totals

T = TypeVar("T")

__all__ = ["TOTAL_FIELDS", "bucket_totals", "eventually", "read_topic", "table_state"]

read_topic = read_to_end


async def eventually(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], *, timeout_s: float, every_s: float = 0.5
) -> T:
    """Poll `probe` until `done(value)` or the timeout; return the last value (tests assert on it)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value = await probe()
        if done(value) or loop.time() >= deadline:
            return value
        await asyncio.sleep(every_s)


async def table_state(settings: Settings, table: str) -> dict[Any, Any]:
    """A worker table's content, read from its changelog topic."""
    return await read_table(settings, f"{settings.app_id}-{table}-changelog")
