"""EventPublisher against the real broker: keys, topics, validation before sending."""

from __future__ import annotations

import pytest

from modelrouter.agents import EventPublisher
from modelrouter.schemas import InvalidEventError, Settings, decode_event

from kafka_helpers import read_topic

pytestmark = pytest.mark.kafka


async def test_each_event_goes_to_its_topic_keyed_as_the_contract_says(kafka_settings: Settings) -> None:
    s = kafka_settings
    async with EventPublisher(s) as pub:
        tc = await pub.task_completed(
            agent_type="SA",
            task_id="t1",
            model_id="gpt-4o",
            provider="openai",
            success=True,
            latency_ms=120.0,
            cost=0.002,
            input_tokens=10,
            output_tokens=20,
        )
        rl = await pub.rate_limited(
            agent_type="PM",
            model_id="claude-3-5-sonnet",
            provider="anthropic",
            retry_after_s=12.5,
            limit_kind="requests",
        )
        fo = await pub.failover(
            agent_type="BA",
            task_id="t2",
            original_model="gpt-4o",
            alternative_model="mistral-large",
            reason="rate_limited",
        )
    assert [(k, decode_event(v)) for k, v in await read_topic(s, s.topic("task-completed")) if v] == [
        (b"gpt-4o", tc)
    ]
    assert [(k, decode_event(v)) for k, v in await read_topic(s, s.topic("rate-limited")) if v] == [
        (b"claude-3-5-sonnet", rl)
    ]
    assert [(k, decode_event(v)) for k, v in await read_topic(s, s.topic("failover")) if v] == [
        (b"gpt-4o", fo)
    ]


async def test_invalid_input_raises_naming_the_field_and_sends_nothing(kafka_settings: Settings) -> None:
    s = kafka_settings
    async with EventPublisher(s) as pub:
        with pytest.raises(InvalidEventError, match=r"cost: Input should be greater than or equal to 0"):
            await pub.task_completed(
                agent_type="SA",
                task_id="t1",
                model_id="m",
                provider="p",
                success=True,
                latency_ms=1.0,
                cost=-1.0,
                input_tokens=1,
                output_tokens=1,
            )
        with pytest.raises(InvalidEventError, match=r"quality_score"):
            await pub.task_completed(
                agent_type="SA",
                task_id="t1",
                model_id="m",
                provider="p",
                success=True,
                latency_ms=1.0,
                cost=0.0,
                quality_score=1.5,
                input_tokens=1,
                output_tokens=1,
            )
        with pytest.raises(InvalidEventError, match=r"model_id: Field required"):
            await pub.rate_limited(agent_type="SA", provider="p")
        with pytest.raises(InvalidEventError, match=r"reason"):
            await pub.failover(
                agent_type="SA", task_id="t", original_model="a", alternative_model="b", reason="bored"
            )
        with pytest.raises(TypeError):
            await pub.publish({"type": "task_completed"})  # type: ignore[arg-type]
    for name in ("task-completed", "rate-limited", "failover"):
        assert await read_topic(s, s.topic(name)) == []


async def test_many_events_without_waiting_are_all_delivered_on_close(kafka_settings: Settings) -> None:
    s = kafka_settings
    async with EventPublisher(s) as pub:
        for i in range(500):
            await pub.task_completed(
                agent_type="SA",
                task_id=f"t{i}",
                model_id=f"m{i % 7}",
                provider="p",
                success=i % 3 != 0,
                latency_ms=float(i),
                cost=0.001,
                input_tokens=i,
                output_tokens=1,
                wait=False,
            )
    records = await read_topic(s, s.topic("task-completed"))
    assert len(records) == 500
    assert sorted(decode_event(v).task_id for _, v in records if v) == sorted(f"t{i}" for i in range(500))  # type: ignore[union-attr]


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
async def test_publisher_compresses_with_the_configured_codec(kafka_settings: Settings, codec: str) -> None:
    from aiokafka import TopicPartition
    from aiokafka.record.memory_records import MemoryRecords

    from modelrouter.streams.unreadable import _RawFetcher

    s = kafka_settings.model_copy(update={"compression": codec, "partitions": 1})
    async with EventPublisher(s) as pub:
        for i in range(20):
            await pub.task_completed(
                agent_type="SA",
                task_id=f"t{i}",
                model_id="gpt-4o",
                provider="openai",
                success=True,
                latency_ms=1.0,
                cost=0.0,
                input_tokens=1,
                output_tokens=1,
                wait=False,
            )
    async with _RawFetcher(s, 2**20) as fetcher:
        raw, highwater = await fetcher.fetch(TopicPartition(s.topic("task-completed"), 0), 0)
    batches = MemoryRecords(raw)
    codecs = set()
    while batches.has_next():
        codecs.add(batches.next_batch().compression_type)  # type: ignore[union-attr]
    # The batch header's codec ids: 1 gzip, 2 snappy, 3 lz4, 4 zstd.
    assert highwater == 20
    assert codecs == {{"gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}[codec]}
    assert len(await read_topic(s, s.topic("task-completed"))) == 20
