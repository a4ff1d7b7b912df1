"""No single record stops the fold (issue 16): values past the contract's maximums, a record
whose dead letter would be too big, one whose dead letter the broker refuses. Each ends in
dead-letter or as a recorded skip; the worker folds the records after it, and a restarted
worker does not meet it again."""

from __future__ import annotations

import random

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from modelrouter.schemas import DeadLetter, Settings, TaskCompleted, decode, dumps, encode, loads

from kafka_helpers import bucket_totals, eventually, read_topic

pytestmark = pytest.mark.kafka

MODEL = "gpt-4o"


def good(i: int) -> bytes:
    return encode(
        TaskCompleted(
            agent_type="SA", task_id=f"t-{i}", model_id=MODEL, provider="openai", success=True,
            latency_ms=100.0, cost=0.01, input_tokens=10, output_tokens=5,
        )
    )  # fmt: skip


def with_raw_field(field: str, literal: str) -> bytes:
    """A good event with one field's JSON text replaced (orjson cannot write 2**64)."""
    fields = {k: v for k, v in loads(good(0)).items() if k != field}
    return dumps(fields)[:-1] + f',"{field}":{literal}}}'.encode()


def many_keys() -> bytes:
    """The issue's 911,915-byte object of 71,000 short keys (its dead letter escapes to 1.2 MB)."""
    fields: dict[str, object] = {f"k{i:05d}": 0 for i in range(70_999)}
    short = len(dumps({**fields, "last": ""}))
    return dumps({**fields, "last": "x" * (911_915 - short)})


POISON = [
    ("cost=2e7", with_raw_field("cost", "2e7")),
    ("input_tokens=2**64", with_raw_field("input_tokens", str(2**64))),
    ("latency_ms=1e17", with_raw_field("latency_ms", "1e17")),
    ("cost=1e300", with_raw_field("cost", "1e300")),
    ("71,000 keys", many_keys()),
    ("900 KB not UTF-8", random.Random(16).randbytes(900_000) + b"\xff"),
]


async def send_raw(settings: Settings, values: list[bytes]) -> None:
    """Sent as any client might, past the publisher's validation, all to one partition."""
    producer = AIOKafkaProducer(**settings.aiokafka_kwargs(), max_request_size=2**20, acks="all")
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(settings.topic("task-completed"), value, key=MODEL.encode())
    finally:
        await producer.stop()


async def requests(settings: Settings) -> int:
    return int((await bucket_totals(settings)).get(MODEL, {}).get("requests", 0))


async def dead_letters(settings: Settings) -> list[DeadLetter]:
    return [decode(DeadLetter, v) for _, v in await read_topic(settings, settings.topic("dead-letter")) if v]


async def test_poison_records_are_dead_lettered_or_skipped_and_folding_goes_on(
    kafka_settings: Settings, worker_factory
) -> None:
    settings = kafka_settings
    worker = worker_factory(settings)
    worker.start()
    await send_raw(settings, [good(i) for i in range(5)])
    assert await eventually(lambda: requests(settings), lambda n: n == 5, timeout_s=90) == 5

    await send_raw(settings, [value for _, value in POISON] + [good(i) for i in range(5, 10)])
    assert await eventually(lambda: requests(settings), lambda n: n == 10, timeout_s=60) == 10
    letters = await eventually(lambda: dead_letters(settings), lambda d: len(d) == 6, timeout_s=30)
    assert len(letters) == 6, worker.log_text()[-3000:]
    by_offset = sorted(letters, key=lambda d: d.offset)
    for (name, raw), letter in zip(POISON, by_offset, strict=True):
        assert letter.payload_bytes == len(raw), name
        assert letter.payload_truncated == (len(raw) > 100_000), name
    assert "cost: Input should be less than or equal to 1000000" in by_offset[0].error
    assert "input_tokens: Input should be less than or equal to 1000000000000" in by_offset[1].error
    assert "latency_ms: Input should be less than or equal to 1000000000" in by_offset[2].error
    assert "payload cut to its first 16384 of 911915 bytes" in by_offset[4].error
    assert by_offset[5].payload_encoding == "base64"

    # A dead letter the broker refuses (here: the topic takes no record over 1,000 bytes) is
    # skipped, logged with its position, and the fold goes on.
    admin = AIOKafkaAdminClient(**settings.aiokafka_kwargs())
    await admin.start()
    try:
        topic = settings.topic("dead-letter")
        await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, configs={"max.message.bytes": "1000"})]
        )
    finally:
        await admin.close()
    refused = with_raw_field("task_id", '"' + "x" * 5000 + '"')
    await send_raw(settings, [refused] + [good(i) for i in range(10, 15)])
    assert await eventually(lambda: requests(settings), lambda n: n == 15, timeout_s=60) == 15

    async def worker_log() -> str:
        return worker.log_text()

    log_text = await eventually(worker_log, lambda text: "skipped record" in text, timeout_s=30)
    skip_line = next(line for line in log_text.splitlines() if "skipped record" in line)
    assert f"{settings.topic('task-completed')}:" in skip_line
    assert "MessageSizeTooLargeError" in skip_line
    assert worker.alive

    # A restart resumes after the poison: nothing dead-lettered or skipped again.
    worker.stop()
    again = worker_factory(settings)
    again.start()
    await send_raw(settings, [good(i) for i in range(15, 20)])
    assert await eventually(lambda: requests(settings), lambda n: n == 20, timeout_s=90) == 20
    assert len(await dead_letters(settings)) == 6
    assert "skipped record" not in again.log_text()
    assert again.alive
    # The skip is also in the worker's own state (its health table), position and reason.
    skips = [
        (loads(k), loads(v))
        for k, v in await read_topic(settings, f"{settings.worker_id}-health-changelog")
        if k is not None and v is not None and loads(k)[0] == "skipped"
    ]
    assert len(skips) == 1, skips
    (key, value) = skips[0]
    assert key[1] == settings.topic("task-completed") and f":{key[2]} at offset {key[3]}" in skip_line
    assert "MessageSizeTooLargeError" in value["reason"]
