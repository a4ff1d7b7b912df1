"""Totals stay exact when the worker is SIGKILLed while events arrive, and with two workers."""

from __future__ import annotations

import asyncio
import random
import re
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from modelrouter.agents import SelectionClient
from modelrouter.agents.workload import Workload
from modelrouter.schemas import Settings, TopicName, encode
from modelrouter.streams.durable_table import partition_of

from kafka_helpers import bucket_totals, differences, eventually, publish_all, read_topic, truth

pytestmark = pytest.mark.kafka


EVENT_TOPIC_OF = {
    "task_completed": TopicName.TASK_COMPLETED,
    "rate_limited": TopicName.RATE_LIMITED,
    "failover": TopicName.FAILOVER,
}


@pytest.mark.timeout(900)
async def test_sigkill_at_random_moments_loses_and_doubles_nothing(
    kafka_settings: Settings, worker_factory
) -> None:
    settings = kafka_settings.model_copy(update={"session_timeout_s": 6.0, "batch_size": 2000})
    events = list(Workload(models=20, seed=11).events(200_000))
    want = truth(events)
    worker = worker_factory(settings)
    worker.start()
    publishing = asyncio.create_task(publish_all(settings, events, pause_s=0.25))
    rng = random.Random(5)
    kills = 0
    while kills < 5:
        await asyncio.sleep(rng.uniform(2.0, 6.0))
        worker.kill()  # SIGKILL: no flush, no commit, no goodbye
        kills += 1
        worker.start()
    await publishing

    async def current() -> dict[str, dict[str, int]]:
        return await bucket_totals(settings)

    got = await eventually(current, lambda g: g == want, timeout_s=420, every_s=3)
    assert differences(got, want) == {}, worker.log_text()[-2000:]
    assert kills == 5
    assert worker.alive
    # The cost totals, in dollars, agree to 1e-9 as well (they are exact fixed-point sums).
    for model, t in want.items():
        assert abs(got[model]["cost_pico"] / 1e12 - t["cost_pico"] / 1e12) < 1e-9


def two_workers(kafka_settings: Settings, worker_factory, tmp_path) -> tuple[Settings, Any, Any]:
    """Two workers on the same topics, each with its own state folder (not started)."""
    first = kafka_settings.model_copy(update={"session_timeout_s": 6.0})
    second = first.model_copy(update={"data_dir": tmp_path / "worker-2"})
    return first, worker_factory(first), worker_factory(second)


async def until_split(a: Any, b: Any | None = None) -> None:
    """Until `a` owns partitions (and `b`, if given, owns others): the group has settled."""
    for _ in range(120):
        pa, pb = _owned(a.log_text()), _owned(b.log_text()) if b is not None else {-1}
        if pa and pb and not pa & pb:
            return
        await asyncio.sleep(0.5)


async def assert_totals(settings: Settings, want: dict[str, dict[str, int]], *workers: Any) -> None:
    """The tables' totals reach the truth (each worker's log tail is shown if they do not)."""

    async def current() -> dict[str, dict[str, int]]:
        return await bucket_totals(settings)

    got = await eventually(current, lambda g: g == want, timeout_s=240, every_s=2)
    assert differences(got, want) == {}, [w.log_text()[-3000:] for w in workers]


@pytest.mark.timeout(600)
async def test_two_workers_split_partitions_and_agree_with_the_truth(
    kafka_settings: Settings, worker_factory, tmp_path
) -> None:
    settings, a, b = two_workers(kafka_settings, worker_factory, tmp_path)
    events = list(Workload(models=20, seed=12).events(40_000))
    a.start()
    b.start()
    await until_split(a, b)  # publish once the group has settled (joining mid-stream: below)
    await publish_all(settings, events)
    await assert_totals(settings, truth(events), a, b)
    assert a.alive and b.alive
    # The partitions were split: each worker's latest assignment is non-empty, and they are disjoint.
    pa, pb = _owned(a.log_text()), _owned(b.log_text())
    assert pa and pb, (pa, pb)
    assert not pa & pb


@pytest.mark.timeout(600)
async def test_a_worker_joining_mid_stream_keeps_totals_exact(
    kafka_settings: Settings, worker_factory, tmp_path
) -> None:
    """Scale-out as users do it: a second worker joins while the first is folding, so the
    rebalance revokes partitions with batches in flight and forwarded failovers in transit."""
    settings, a, b = two_workers(kafka_settings, worker_factory, tmp_path)
    events = list(Workload(models=20, seed=13).events(60_000))
    a.start()
    await until_split(a)
    publishing = asyncio.create_task(publish_all(settings, events, chunk=2000, pause_s=0.2))
    await asyncio.sleep(2.0)
    b.start()
    await publishing
    await assert_totals(settings, truth(events), a, b)
    assert a.alive and b.alive
    pa, pb = _owned(a.log_text()), _owned(b.log_text())
    assert pa and pb and not pa & pb, (pa, pb)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("killed", ["mid-stream", "before any event"])
async def test_a_worker_taking_over_a_dead_workers_partitions_keeps_totals_exact(
    kafka_settings: Settings, worker_factory, tmp_path, killed: str
) -> None:
    """Two workers share the work; one is SIGKILLed, and the other takes over its partitions
    once its session expires: restoring their tables while it is folding its own. Killed
    before any event, the dead worker's partitions hold only what the survivor forwarded."""
    settings, a, b = two_workers(kafka_settings, worker_factory, tmp_path)
    events = list(Workload(models=20, seed=14).events(60_000))
    a.start()
    b.start()
    await until_split(a, b)
    if killed == "before any event":
        a.kill()
    publishing = asyncio.create_task(publish_all(settings, events, chunk=2000, pause_s=0.2))
    await asyncio.sleep(2.0)
    a.kill()
    await publishing
    await assert_totals(settings, truth(events), b)
    assert b.alive
    assert _owned(b.log_text()) == {0, 1, 2, 3}


def _owned(log: str) -> set[int]:
    """The partitions a worker said it owned when it last indexed its state."""
    found = re.findall(r"owns partitions \[([0-9, ]*)\]", log)
    return {int(p) for p in found[-1].split(",") if p.strip()} if found else set()


@pytest.mark.timeout(600)
async def test_events_on_another_partition_than_their_keys_are_folded_once_by_its_owner(
    kafka_settings: Settings, worker_factory, tmp_path
) -> None:
    """A client that keys or partitions otherwise (no key, its own partitioner): each event is
    forwarded to its model's partition and folded there once, with two workers running, so the
    tables, the summary reply and the topic agree."""
    settings, a, b = two_workers(kafka_settings, worker_factory, tmp_path)
    events = list(Workload(models=6, seed=15).events(4_000))
    keyed, unkeyed = events[::2], events[1::2]
    a.start()
    b.start()
    await until_split(a, b)
    await publish_all(settings, keyed)
    producer = AIOKafkaProducer(**settings.aiokafka_kwargs(), acks="all")
    await producer.start()
    try:
        for ev in unkeyed:
            owner = partition_of(ev.key.encode("utf-8"), settings.partitions)
            wrong = (owner + 1 + len(ev.event_id) % (settings.partitions - 1)) % settings.partitions
            topic = settings.topic(EVENT_TOPIC_OF[ev.type])
            await producer.send(topic, encode(ev), key=None, partition=wrong)
        await producer.flush()
    finally:
        await producer.stop()
    want = truth(events)
    await assert_totals(settings, want, a, b)
    completed = {m: t["requests"] for m, t in want.items() if t["requests"]}
    async with SelectionClient(settings) as client:

        async def requests_by_model() -> dict[str, int]:
            reply = await client.summary(None, window_hours=24)
            return {m: n for m, n in reply.requests_by_model.items() if n}

        # The summary reply counts closed buckets: the last one closes a bucket and grace later.
        got = await eventually(requests_by_model, lambda g: g == completed, timeout_s=150, every_s=3)
    assert got == completed
    # Every unkeyed event was sent to a partition not its model's: each went through `rekeyed`.
    forwarded = await read_topic(settings, settings.topic("rekeyed"))
    assert len(forwarded) >= len(unkeyed)
    assert a.alive and b.alive
