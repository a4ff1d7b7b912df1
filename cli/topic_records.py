"""Reads whole topics with their partitions, offsets and timestamps, for the commands that
work on the logs as a batch (`evaluate`, `explain`)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition

from modelrouter.schemas import Settings
from modelrouter.streams.replay import TopicRecord

__all__ = ["read_records"]


async def read_records(
    settings: Settings,
    topic: str,
    *,
    since_ms: int | None = None,
    until: Mapping[str, int] | None = None,
    timeout_s: float = 120.0,
) -> list[TopicRecord]:
    """`topic`'s records up to its end offsets now (or `until`: partition -> next offset),
    from the first at or after `since_ms` (broker timestamps) when given. A topic that does
    not exist reads as empty; no consumer group is joined."""
    consumer = AIOKafkaConsumer(
        **settings.aiokafka_kwargs(), enable_auto_commit=False, auto_offset_reset="earliest"
    )
    try:
        await consumer.start()
        meta = await consumer._client.fetch_all_metadata()
        tps = [TopicPartition(topic, p) for p in sorted(meta.partitions_for_topic(topic) or ())]
        if not tps:
            return []
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        if until is not None:
            ends = {tp: min(end, until.get(str(tp.partition), 0)) for tp, end in ends.items()}
        starts = await consumer.beginning_offsets(tps)
        if since_ms is not None:
            found = await consumer.offsets_for_times(dict.fromkeys(tps, since_ms))
            starts = {tp: ends[tp] if found.get(tp) is None else found[tp].offset for tp in tps}
        for tp in tps:
            consumer.seek(tp, starts[tp])  # explicit: a lazy reset could resolve to the end
        remaining = {tp for tp in tps if ends[tp] > starts[tp]}
        out: list[TopicRecord] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while remaining:
            if loop.time() > deadline:
                raise TimeoutError(f"reading {topic} took over {timeout_s:.0f} s")
            for tp, records in (await consumer.getmany(*remaining, timeout_ms=500)).items():
                out.extend(
                    TopicRecord(tp.partition, r.offset, r.timestamp, r.key, r.value)
                    for r in records
                    if r.offset < ends[tp]
                )
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return out
    finally:
        await consumer.stop()
