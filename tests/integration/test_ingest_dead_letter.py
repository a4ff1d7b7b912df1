"""A worker counts every valid event and dead-letters every invalid one without stopping."""

from __future__ import annotations

import random
from collections import Counter

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from modelrouter.agents import EventPublisher
from modelrouter.schemas import DeadLetter, Failover, Settings, TaskCompleted, decode, encode

from kafka_helpers import bucket_totals, eventually, read_topic

pytestmark = pytest.mark.kafka

MODELS = ["gpt-4o", "claude-3-5-sonnet", "gemini-1.5-pro", "mistral-large", "llama3-local"]


def valid_event(i: int, rng: random.Random) -> TaskCompleted:
    return TaskCompleted(
        agent_type=rng.choice(["SA", "PM", "BA"]),
        task_id=f"task-{i}",
        model_id=MODELS[i % len(MODELS)],
        provider="openai",
        success=rng.random() > 0.1,
        latency_ms=rng.uniform(50, 3000),
        quality_score=rng.choice([None, rng.random()]),
        cost=rng.uniform(0, 0.05),
        input_tokens=rng.randint(0, 4000),
        output_tokens=rng.randint(0, 2000),
    )


def invalid_payloads(n: int, rng: random.Random) -> list[tuple[str, bytes, bytes]]:
    """(kind, topic suffix, raw value) for n invalid records of six kinds."""
    good = orjson.loads(encode(valid_event(0, rng)))
    fail = orjson.loads(
        encode(
            Failover(
                agent_type="SA", task_id="t", original_model="a", alternative_model="b", reason="timeout"
            )
        )
    )

    def with_(base: dict[str, object], **changes: object) -> bytes:
        return orjson.dumps({**base, **changes})

    kinds = [
        ("broken-json", "task-completed", b'{"type": "task_completed", "model_id": '),
        ("negative-cost", "task-completed", with_(good, cost=-0.5)),
        (
            "nan-latency",
            "task-completed",
            with_(good, latency_ms=0).replace(b'"latency_ms":0', b'"latency_ms":NaN'),
        ),
        ("quality-1.5", "task-completed", with_(good, quality_score=1.5)),
        ("missing-model", "task-completed", orjson.dumps({k: v for k, v in good.items() if k != "model_id"})),
        ("unknown-reason", "failover", with_(fail, reason="bored")),
    ]
    return [kinds[i % len(kinds)] for i in range(n)]


EXPECTED_ERROR = {
    "broken-json": "Invalid JSON",
    "negative-cost": "task_completed.cost: Input should be greater than or equal to 0",
    "nan-latency": "task_completed.latency_ms: Input should be a finite number",
    "quality-1.5": "task_completed.quality_score: Input should be less than or equal to 1",
    "missing-model": "task_completed.model_id: Field required",
    "unknown-reason": "failover.reason: Input should be",
}


async def test_valid_counted_invalid_dead_lettered_and_worker_keeps_going(
    kafka_settings: Settings, worker_factory
) -> None:
    settings = kafka_settings
    worker = worker_factory(settings)
    worker.start()
    rng = random.Random(7)
    valid = [valid_event(i, rng) for i in range(1000)]
    invalid = invalid_payloads(100, rng)
    items: list[object] = [*valid, *invalid]
    rng.shuffle(items)

    raw = AIOKafkaProducer(**settings.aiokafka_kwargs())
    await raw.start()
    try:
        async with EventPublisher(settings) as publisher:
            for item in items:
                if isinstance(item, TaskCompleted):
                    await publisher.publish(item, wait=False)
                else:
                    _kind, suffix, value = item  # type: ignore[misc]
                    await raw.send(settings.topic(suffix), value=value, key=b"bad-key")
        await raw.flush()
    finally:
        await raw.stop()

    expected = Counter(e.model_id for e in valid)

    async def counts() -> dict[str, int]:
        return {model: t["requests"] for model, t in (await bucket_totals(settings)).items()}

    state = await eventually(counts, lambda s: s == expected, timeout_s=90)
    assert state == dict(expected), worker.log_text()[-3000:]

    letters = [
        decode(DeadLetter, v) for _, v in await read_topic(settings, settings.topic("dead-letter")) if v
    ]
    assert len(letters) == 100
    by_kind = Counter(kind for kind, _, _ in invalid)
    seen: Counter[str] = Counter()
    for letter in letters:
        matches = [k for k, needle in EXPECTED_ERROR.items() if needle in letter.error]
        assert len(matches) == 1, letter.error
        seen[matches[0]] += 1
        assert letter.source_topic in {settings.topic("task-completed"), settings.topic("failover")}
        assert letter.payload  # the raw record is kept
    assert seen == by_kind
    # Offsets point at real records: every (topic, partition, offset) is distinct.
    assert len({(d.source_topic, d.partition, d.offset) for d in letters}) == 100

    # Still consuming after all that: one more valid event is counted.
    async with EventPublisher(settings) as publisher:
        extra = valid_event(5, rng)
        await publisher.publish(extra)
    expected[extra.model_id] += 1
    state = await eventually(counts, lambda s: s == expected, timeout_s=60)
    assert state == dict(expected)
    assert worker.alive
