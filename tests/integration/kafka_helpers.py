"""Helpers for integration tests: reading topics to their end, polling until a condition holds."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition

from modelrouter.schemas import Settings, loads

T = TypeVar("T")


async def read_topic(settings: Settings, topic: str, *, timeout_s: float = 10.0) -> list[tuple[bytes | None, bytes | None]]:
    """Every record of `topic` now on the broker, as (key, value), read to the end offsets."""
    consumer = AIOKafkaConsumer(
        **settings.aiokafka_kwargs(), enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        if not parts:
            await consumer._client.force_metadata_update()  # topic may be new to this client
            parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[tuple[bytes | None, bytes | None]] = []
        remaining = {tp for tp in tps if ends[tp] > 0}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while remaining and loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for tp, records in batches.items():
                out.extend((r.key, r.value) for r in records if r.offset < ends[tp])
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return out
    finally:
        await consumer.stop()


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


async def table_state(settings: Settings, table: str) -> dict[str, object]:
    """The current content of a worker table, read from its changelog topic (last value per key)."""
    state: dict[str, object] = {}
    for key, value in await read_topic(settings, f"{settings.app_id}-{table}-changelog"):
        if key is None:
            continue
        k = loads(key)
        if value is None:
            state.pop(k, None)
        else:
            state[k] = loads(value)
    return state
