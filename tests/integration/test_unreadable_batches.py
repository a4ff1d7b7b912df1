"""A batch the worker cannot decode (here: lz4, run without the codec library, as a worker
installed without aiokafka's extras is) is dead-lettered as an offset range, and neither
ends the worker nor meets a restarted one again."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer

from modelrouter.agents import EventPublisher
from modelrouter.schemas import DeadLetter, Settings, TaskCompleted, decode, encode

from kafka_helpers import bucket_totals, eventually, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(150)]

# cramjam is what aiokafka decodes snappy, lz4 and zstd with; None in sys.modules makes its
# import fail, exactly as when the package is not installed.
WITHOUT_CRAMJAM = (
    "-c",
    "import runpy, sys; sys.modules['cramjam'] = None; sys.argv = sys.argv[2:]; "
    "runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)",
)  # then WorkerProcess's "-m modelrouter.cli worker ..." become the arguments of that script


def event(i: int, model: str) -> TaskCompleted:
    return TaskCompleted(
        agent_type="SA",
        task_id=f"t{i}",
        model_id=model,
        provider="p",
        success=True,
        latency_ms=100.0,
        cost=0.0,
        input_tokens=1,
        output_tokens=1,
    )


async def send_batch(settings: Settings, events: list[TaskCompleted], compression: str | None) -> list[int]:
    """One producer batch per partition (one key here), compressed so; returns the offsets."""
    producer = AIOKafkaProducer(**settings.aiokafka_kwargs(), compression_type=compression, linger_ms=100)
    await producer.start()
    try:
        futures = [
            await producer.send(settings.topic("task-completed"), encode(e), key=e.model_id.encode())
            for e in events
        ]
        await producer.flush()
        return [(await f).offset for f in futures]
    finally:
        await producer.stop()


async def test_undecodable_batch_is_dead_lettered_and_stepped_over_for_good(
    kafka_settings: Settings, worker_factory
) -> None:
    settings = kafka_settings.model_copy(update={"partitions": 2})
    model = "gpt-4o"
    async with EventPublisher(settings):  # creates the topics
        pass
    # Before, the batch, after: all in one fetch of the worker's first read.
    before = await send_batch(settings, [event(i, model) for i in range(30)], None)
    bad = await send_batch(settings, [event(100 + i, model) for i in range(10)], "lz4")
    gzipped = await send_batch(settings, [event(200 + i, model) for i in range(5)], "gzip")
    after = await send_batch(settings, [event(300 + i, model) for i in range(20)], None)
    assert before[-1] < bad[0] and bad[-1] < gzipped[0] < after[0]

    worker = worker_factory(settings)
    worker.python_options = WITHOUT_CRAMJAM
    worker.start()

    async def requests() -> int:
        return sum(t["requests"] for t in (await bucket_totals(settings)).values())

    async def letters() -> list[DeadLetter]:
        return [
            decode(DeadLetter, v) for _, v in await read_topic(settings, settings.topic("dead-letter")) if v
        ]

    assert await eventually(requests, lambda n: n == 55, timeout_s=90) == 55, worker.log_text()[-3000:]
    dead = await eventually(letters, lambda d: len(d) >= 1, timeout_s=30)
    assert len(dead) == 1
    letter = dead[0]
    assert (letter.source_topic, letter.offset, letter.last_offset) == (
        settings.topic("task-completed"),
        bad[0],
        bad[-1],
    )
    assert "lz4" in letter.error
    assert worker.alive
    log = worker.log_text()
    assert log.count("could not be read") == 1

    # Still reading: a later event is counted.
    await send_batch(settings, [event(400, model)], None)
    assert await eventually(requests, lambda n: n == 56, timeout_s=60) == 56

    # A restarted worker starts after the batch: no second dead letter, nothing counted twice.
    worker.stop()
    again = worker_factory(settings)
    again.python_options = WITHOUT_CRAMJAM
    again.start()
    await send_batch(settings, [event(500, model)], None)
    assert await eventually(requests, lambda n: n == 57, timeout_s=90) == 57, again.log_text()[-3000:]
    assert len(await letters()) == 1
    assert "could not be read" not in again.log_text()
