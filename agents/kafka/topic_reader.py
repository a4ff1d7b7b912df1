"""Reads a topic from its beginning to its current end: for tools, tests and table snapshots."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from modelrouter.schemas import Settings, loads

__all__ = ["read_table", "read_to_end"]


async def read_to_end(
    settings: Settings, topic: str, *, timeout_s: float = 30.0
) -> list[tuple[bytes | None, bytes | None]]:
    """Every record now in `topic`, as (key, value), up to the end offsets seen at the start.

    A topic that does not exist reads as empty. No consumer group is joined or committed.
    """
    consumer = AIOKafkaConsumer(**settings.aiokafka_kwargs(), enable_auto_commit=False)
    try:
        await consumer.start()  # inside the try: a failed start must still close its sockets
        parts = await consumer._client.fetch_all_metadata()  # fresh metadata, not a cached view
        tps = [TopicPartition(topic, p) for p in sorted(parts.partitions_for_topic(topic) or ())]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        remaining = {tp for tp in tps if ends[tp] > 0}
        out: list[tuple[bytes | None, bytes | None]] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while remaining:
            if loop.time() > deadline:
                raise TimeoutError(f"reading {topic} to its end took over {timeout_s:.0f} s")
            for tp, records in (await consumer.getmany(*remaining, timeout_ms=500)).items():
                out.extend((r.key, r.value) for r in records if r.offset < ends[tp])
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return out
    finally:
        await consumer.stop()


async def read_table(settings: Settings, changelog_topic: str) -> dict[Any, Any]:
    """A faust table's current content from its changelog (JSON keys and values; last write wins)."""
    state: dict[Any, Any] = {}
    for key, value in await read_to_end(settings, changelog_topic):
        if key is None:
            continue
        k = loads(key)
        if value is None:
            state.pop(k, None)
        else:
            state[k] = loads(value)
    return state
