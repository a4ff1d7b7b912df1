"""A 3-broker KRaft cluster (`kafka/broker.py up --brokers 3`) loses the broker that leads an
event partition mid-stream: every event is counted once, and selection keeps answering.

Timings (first answer after the kill, the longest fold stall) are printed, not asserted."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from modelrouter.agents import EventPublisher, SelectionClient
from modelrouter.agents.kafka import ensure_topics
from modelrouter.schemas import ModelRouterError, ModelSpec, SelectionRequest, Settings, TaskInfo, encode

from kafka_helpers import bucket_totals, eventually

pytestmark = [pytest.mark.kafka, pytest.mark.cluster, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
PORT = 19692  # nodes on 19692, 19694, 19696 (controllers on the odd ports)
EVENTS = 2000


def broker(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "kafka" / "broker.py"),
            *args,
            "--port",
            str(PORT),
            "--data-dir",
            str(data),
        ],
        env={**os.environ, "MODELROUTER_KAFKA_HEAP": "256m"},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Path]:
    data = tmp_path / "cluster"
    up = broker("up", "--brokers", "3", data=data)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert up.stdout.count("Kafka started") == 3
        yield data
    finally:
        broker("down", data=data)


async def leader_of(settings: Settings, topic: str, partition: int) -> int:
    admin = AIOKafkaAdminClient(**settings.aiokafka_kwargs())
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
        return next(int(p["leader"]) for p in described["partitions"] if p["partition"] == partition)
    finally:
        await admin.close()


async def replication(settings: Settings, topic: str) -> set[tuple[int, int]]:
    """(replicas, in-sync replicas) of each partition of `topic`."""
    admin = AIOKafkaAdminClient(**settings.aiokafka_kwargs())
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
        return {(len(p["replicas"]), len(p["isr"])) for p in described["partitions"]}
    finally:
        await admin.close()


def event(i: int) -> dict[str, Any]:
    return {
        "agent_type": "SA",
        "task_id": f"t{i}",
        "model_id": ["gpt-4o", "claude-sonnet", "gemini-flash", "mistral-small"][i % 4],
        "provider": "p",
        "success": True,
        "latency_ms": 100.0,
        "cost": 0.001,
        "input_tokens": 10,
        "output_tokens": 5,
    }


async def test_killing_a_leading_broker_loses_and_doubles_nothing(
    cluster: Path, settings: Settings, worker_factory
) -> None:
    s = settings.model_copy(
        update={
            "bootstrap_servers": ",".join(f"127.0.0.1:{PORT + 2 * i}" for i in range(3)),
            "replication_factor": 3,
            "session_timeout_s": 6.0,
        }
    )
    await ensure_topics(s)
    assert await replication(s, s.topic("task-completed")) == {(3, 3)}
    producer = AIOKafkaProducer(**s.aiokafka_kwargs())
    await producer.start()
    try:
        for model in ("gpt-4o", "claude-sonnet", "gemini-flash", "mistral-small"):
            spec = ModelSpec(
                model_id=model,
                provider="p",
                capabilities=("chat",),
                tier="standard",
                context_window=100_000,
                input_cost_per_1k=0.001,
                output_cost_per_1k=0.002,
            )
            await producer.send_and_wait(s.topic("registry"), encode(spec), key=model.encode())
    finally:
        await producer.stop()
    worker = worker_factory(s)
    worker.start()

    answers: list[tuple[float, bool]] = []  # (time, answered by the service)
    stop = asyncio.Event()

    async def ask(client: SelectionClient) -> None:
        n = 0
        while not stop.is_set():
            request = SelectionRequest(
                request_id=f"r{n}", reply_to=client.reply_topic, agent_type="SA", task=TaskInfo(task_id="t")
            )
            answers.append((time.monotonic(), await answered(client, request, 1000)))
            n += 1
            await asyncio.sleep(0.2)

    folded: list[tuple[float, int]] = []

    async def watch_folds() -> None:
        while not stop.is_set():
            total = sum(t["requests"] for t in (await bucket_totals(s)).values())
            folded.append((time.monotonic(), total))
            await asyncio.sleep(1.0)

    async with SelectionClient(s) as client:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 90
        while not any(ok for _, ok in answers) and loop.time() < deadline:  # the worker is up
            await ask_once(client, answers)
        assert any(ok for _, ok in answers), worker.log_text()[-3000:]
        # faust's changelogs take MODELROUTER_REPLICATION_FACTOR too (streams/app.py).
        assert await replication(s, f"{s.worker_id}-buckets-changelog") == {(3, 3)}
        asking = asyncio.create_task(ask(client))
        watching = asyncio.create_task(watch_folds())
        killed_at = 0.0
        victim = -1
        async with EventPublisher(s) as publisher:
            for i in range(EVENTS):
                await publisher.task_completed(**event(i), wait=False)
                if i % 50 == 49:
                    await publisher.flush()
                    await asyncio.sleep(0.5)
                if i == EVENTS // 3:
                    victim = await leader_of(s, s.topic("task-completed"), 0)
                    pid = int((cluster / f"node-{victim}" / "broker.pid").read_text())
                    os.killpg(pid, signal.SIGKILL)
                    killed_at = time.monotonic()
            await publisher.flush()

        async def total() -> int:
            return sum(t["requests"] for t in (await bucket_totals(s)).values())

        await eventually(total, lambda n: n >= EVENTS, timeout_s=120, every_s=1.0)
        await asyncio.sleep(3.0)  # anything counted twice would show by now
        count = await total()
        stop.set()
        await asyncio.gather(asking, watching)

    assert count == EVENTS, worker.log_text()[-4000:]  # 0 lost, 0 counted twice
    after = [t for t, ok in answers if ok and t > killed_at]
    assert after, "no selection answered after the kill"
    fallbacks = sum(1 for t, ok in answers if not ok and t > killed_at)
    stall, run_start = 0.0, folded[0]
    for at, value in folded[1:]:
        if value != run_start[1] or value >= EVENTS:
            run_start = (at, value)
        else:
            stall = max(stall, at - run_start[0])
    print(
        f"\nkilled node {victim} (leader of task-completed/0): first answer after the kill "
        f"{after[0] - killed_at:.2f} s, {fallbacks} fallbacks after it; longest fold stall {stall:.1f} s"
    )
    assert worker.alive


async def answered(client: SelectionClient, request: SelectionRequest, deadline_ms: int) -> bool:
    """Whether the service answered (not the client's fallback, nor no answer at all)."""
    try:
        reply = await client.select(request, deadline_ms=deadline_ms)
    except ModelRouterError:  # no reply in time, and no base assignment to fall back on
        return False
    return not reply.fallback_used


async def ask_once(client: SelectionClient, answers: list[tuple[float, bool]]) -> None:
    request = SelectionRequest(
        request_id=f"warm-{len(answers)}",
        reply_to=client.reply_topic,
        agent_type="SA",
        task=TaskInfo(task_id="t"),
    )
    ok = await answered(client, request, 2000)
    answers.append((time.monotonic(), ok))
    if not ok:
        await asyncio.sleep(0.5)
