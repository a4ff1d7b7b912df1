"""Events and selection requests from a client this project did not write: librdkafka (the
`confluent-kafka` package), with each compression codec, and with the record shapes other
clients send (no key, headers, a null value)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from confluent_kafka import Producer

from modelrouter.agents.kafka import ensure_topics
from modelrouter.schemas import (
    DeadLetter,
    ModelSpec,
    SelectionReply,
    SelectionRequest,
    Settings,
    TaskCompleted,
    TaskInfo,
    TopicSpec,
    WindowSummary,
    decode,
    decode_reply,
    encode,
)
from modelrouter.streams.durable_table import partition_of

from kafka_helpers import eventually, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(150)]

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
MODELS = ["gpt-4o", "claude-sonnet", "gemini-flash"]


def librdkafka(settings: Settings, **config: Any) -> Producer:
    # librdkafka's default partitioner (consistent_random, CRC32) is not Kafka's (murmur2): a
    # model's events land on another partition than its owner's, and the worker forwards them.
    return Producer({"bootstrap.servers": settings.bootstrap_servers, **config})


def produce_all(producer: Producer, records: list[dict[str, Any]]) -> None:
    errors: list[Any] = []
    for record in records:
        producer.produce(**record, on_delivery=lambda err, _msg: errors.append(err) if err else None)
        producer.poll(0)
    assert producer.flush(30) == 0
    assert errors == []


def event(i: int, model: str, rng: random.Random) -> TaskCompleted:
    return TaskCompleted(
        agent_type="SA",
        task_id=f"t{i}",
        model_id=model,
        provider="p",
        success=True,
        latency_ms=rng.uniform(10, 500),
        cost=0.001,
        input_tokens=10,
        output_tokens=5,
    )


async def requests_by_model(settings: Settings) -> dict[str, int]:
    """Requests per model in the newest bucket summaries (all agents) on the summaries topic."""
    latest: dict[str, WindowSummary] = {}
    for key, value in await read_topic(settings, settings.topic("summaries")):
        if value is not None and key is not None:
            s = decode(WindowSummary, value)
            if s.window == "bucket" and s.agent_type is None:
                latest[key.decode()] = s
    totals: Counter[str] = Counter()
    for s in latest.values():
        totals[s.model_id] += s.requests
    return dict(totals)


async def test_librdkafka_events_with_every_codec_and_record_shape(
    kafka_settings: Settings, worker_factory
) -> None:
    settings = kafka_settings
    await ensure_topics(settings)
    worker = worker_factory(settings)
    worker.start()
    rng = random.Random(11)
    topic = settings.topic("task-completed")
    expected: Counter[str] = Counter()
    n = 0
    for codec in CODECS:
        producer = librdkafka(settings, **{"compression.type": codec, "linger.ms": 20})
        records = []
        for _ in range(60):
            model = rng.choice(MODELS)
            records.append({"topic": topic, "key": model.encode(), "value": encode(event(n, model, rng))})
            expected[model] += 1
            n += 1
        produce_all(producer, records)

    # Shapes other clients send. With headers: folded (headers are not part of the contract).
    # Without a key, on the model's own partition and on another one: folded (the worker
    # forwards a record to its model's partition). A null value (a tombstone): dead-lettered.
    shaped = librdkafka(settings, **{"compression.type": "lz4"})
    with_headers = event(n, "gpt-4o", rng)
    keyless = event(n + 1, "claude-sonnet", rng)
    elsewhere = event(n + 2, "gemini-flash", rng)
    other_partition = (partition_of(b"gemini-flash", settings.partitions) + 1) % settings.partitions
    produce_all(
        shaped,
        [
            {
                "topic": topic,
                "key": b"gpt-4o",
                "value": encode(with_headers),
                "headers": [("trace-id", b"abc"), ("empty", None)],
            },
            {
                "topic": topic,
                "value": encode(keyless),
                "partition": partition_of(b"claude-sonnet", settings.partitions),
            },
            {"topic": topic, "value": encode(elsewhere), "partition": other_partition},
            {"topic": topic, "key": b"gemini-flash", "value": None},
        ],
    )
    expected["gpt-4o"] += 1
    expected["claude-sonnet"] += 1
    expected["gemini-flash"] += 1

    state = await eventually(lambda: requests_by_model(settings), lambda s: s == dict(expected), timeout_s=90)
    assert state == dict(expected), worker.log_text()[-3000:]

    async def letters() -> list[DeadLetter]:
        records = await read_topic(settings, settings.topic("dead-letter"))
        return [decode(DeadLetter, v) for _, v in records if v]

    dead = await eventually(letters, lambda d: len(d) >= 1, timeout_s=30)
    assert [(d.source_topic, "null" in d.error) for d in dead] == [(topic, True)]
    assert worker.alive
    assert "could not be read" not in worker.log_text()  # every codec decoded: no batch stepped over


async def test_selection_request_from_librdkafka_gets_its_reply(
    kafka_settings: Settings, worker_factory
) -> None:
    settings = kafka_settings
    await ensure_topics(settings)
    reply_to = settings.topic("test-replies")
    await ensure_topics(settings, [TopicSpec(reply_to, 1, False, None)])
    registry = librdkafka(settings, **{"compression.type": "snappy", "partitioner": "murmur2_random"})
    spec = ModelSpec(
        model_id="gpt-4o",
        provider="openai",
        capabilities=("chat",),
        tier="premium",
        context_window=128_000,
        input_cost_per_1k=0.0025,
        output_cost_per_1k=0.01,
    )
    produce_all(registry, [{"topic": settings.topic("registry"), "key": b"gpt-4o", "value": encode(spec)}])
    worker = worker_factory(settings)
    worker.start()

    consumer = AIOKafkaConsumer(**settings.aiokafka_kwargs(), enable_auto_commit=False, fetch_max_wait_ms=50)
    await consumer.start()
    try:
        tp = TopicPartition(reply_to, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        requests = librdkafka(settings, **{"compression.type": "zstd", "linger.ms": 0})
        replies: dict[str, Any] = {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        sent = 0
        # Ask until answered: the worker takes some seconds to join its group.
        while not replies and loop.time() < deadline:
            rid = f"ask-{sent}"
            req = SelectionRequest(
                request_id=rid, reply_to=reply_to, agent_type="SA", task=TaskInfo(task_id="t")
            )
            produce_all(
                requests,
                [{"topic": settings.topic("selection-requests"), "key": rid.encode(), "value": encode(req)}],
            )
            sent += 1
            for records in (await consumer.getmany(timeout_ms=3000)).values():
                for r in records:
                    reply = decode_reply(r.value)
                    replies[reply.request_id] = reply
        assert replies, worker.log_text()[-3000:]
        assert set(replies) <= {f"ask-{i}" for i in range(sent)}
        for reply in replies.values():
            assert isinstance(reply, SelectionReply)
            assert reply.selected_model_id == "gpt-4o"
    finally:
        await consumer.stop()
