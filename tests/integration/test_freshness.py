"""Under 1,000 events/s of load, a rate limit moves selection off a model, it stays off for the
cooldown, and comes back once the cooldown has passed (how soon it moves: bench/freshness.py)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer

from modelrouter.agents import EventPublisher
from modelrouter.agents.kafka import ensure_topics
from modelrouter.agents.selection_client import SelectionClient
from modelrouter.schemas import BaseAssignment, ModelSpec, Settings, TaskInfo, encode, topic_specs

pytestmark = pytest.mark.kafka

MODELS = ("gpt-4o", "claude-3-5-sonnet", "gemini-1.5-pro")
COOLDOWN_S = 6.0


async def publish_registry(settings: Settings) -> None:
    await ensure_topics(settings)
    producer = AIOKafkaProducer(**settings.aiokafka_kwargs())
    await producer.start()
    try:
        for m in MODELS:
            spec = ModelSpec(
                model_id=m,
                provider=m.split("-")[0],
                tier="standard",
                context_window=128_000,
                input_cost_per_1k=0.003,
                output_cost_per_1k=0.01,
                capabilities=("chat",),
            )
            await producer.send_and_wait(topic_specs(settings)["registry"].name, encode(spec), key=m.encode())
    finally:
        await producer.stop()


async def background_load(settings: Settings, stop: asyncio.Event, rate: int = 1000) -> int:
    """Successful task-completed events for every model at `rate` events/s until `stop`."""
    sent = 0
    async with EventPublisher(settings, linger_ms=10) as pub:
        started = time.monotonic()
        while not stop.is_set():
            due = int((time.monotonic() - started) * rate)
            while sent < due:
                m = MODELS[sent % len(MODELS)]
                await pub.task_completed(
                    agent_type="SA",
                    task_id=f"bg{sent}",
                    model_id=m,
                    provider="p",
                    success=True,
                    latency_ms=400.0,
                    cost=0.002,
                    input_tokens=500,
                    output_tokens=100,
                    wait=False,
                )
                sent += 1
            await asyncio.sleep(0.01)
    return sent


@pytest.mark.timeout(300)
async def test_rate_limit_moves_selection_off_and_back_after_cooldown(
    kafka_settings: Settings, worker_factory
) -> None:
    settings = kafka_settings
    await publish_registry(settings)
    worker = worker_factory(settings)
    worker.start()
    base = BaseAssignment(
        role_type="architect", model_tier="standard", primary_model=MODELS[0], fallback_model=MODELS[1]
    )
    stop = asyncio.Event()
    load = asyncio.create_task(background_load(settings, stop))
    try:
        async with SelectionClient(settings) as client:

            async def choose() -> str:
                reply = await client.select(
                    client.request("SA", TaskInfo(task_id="t"), base_assignment=base),
                    deadline_ms=2000,
                    raise_on_timeout=True,
                )
                return reply.selected_model_id

            # Wait until the worker answers and prefers the primary (registry and views loaded).
            chosen = None
            for _ in range(120):
                with contextlib.suppress(Exception):
                    chosen = await choose()
                if chosen == MODELS[0]:
                    break
                await asyncio.sleep(0.5)
            assert chosen == MODELS[0], worker.log_text()[-2000:]
            await asyncio.sleep(2.0)  # the load runs steadily before the rate limit

            limited_at = datetime.now(UTC)
            async with EventPublisher(settings) as pub:
                await pub.rate_limited(
                    agent_type="SA",
                    model_id=MODELS[0],
                    provider="openai",
                    retry_after_s=COOLDOWN_S,
                    occurred_at=limited_at,
                )
            sent = time.monotonic()
            moved_after = None
            while time.monotonic() - sent < 5.0:
                if await choose() != MODELS[0]:
                    moved_after = time.monotonic() - sent
                    break
                await asyncio.sleep(0.02)
            assert moved_after is not None, "selection never moved off the rate-limited model"
            # How soon is a benchmark's figure (bench/freshness.py), not this test's.

            # It stays off for the cooldown ...
            picks = []
            while (datetime.now(UTC) - limited_at).total_seconds() < COOLDOWN_S - 0.5:
                picks.append(await choose())
                await asyncio.sleep(0.1)
            assert MODELS[0] not in picks
            # ... and comes back once the cooldown has passed.
            await asyncio.sleep(max(0.0, COOLDOWN_S + 0.2 - (datetime.now(UTC) - limited_at).total_seconds()))
            assert await choose() == MODELS[0]
    finally:
        stop.set()
        sent_events = await load
    assert sent_events > 1000
