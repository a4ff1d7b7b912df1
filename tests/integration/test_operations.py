"""The operations port of a real worker: Prometheus /metrics moves while events flow, and the
health query (on the requests topic, `modelrouter health`, /health.json) shows circuits and cooldowns."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import aiohttp
import orjson
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from modelrouter.agents import SelectionClient
from modelrouter.agents.kafka import ensure_topics
from modelrouter.cli.worker_process import wait_until_answering
from modelrouter.schemas import (
    BaseAssignment,
    Constraints,
    Event,
    ModelSpec,
    RateLimited,
    Settings,
    TaskCompleted,
    TaskInfo,
    encode,
)

from kafka_helpers import eventually, publish_all

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
REGISTRY = [
    ModelSpec(
        model_id=m,
        provider=p,
        capabilities=("chat",),
        tier="standard",
        context_window=128_000,
        input_cost_per_1k=0.001,
        output_cost_per_1k=0.002,
    )
    for m, p in (("steady", "openai"), ("limited", "anthropic"), ("broken", "mistral"))
]
BASE = BaseAssignment(role_type="SA", model_tier="standard", primary_model="steady", fallback_model="steady")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tasks(model: str, n: int, *, ok: bool, start: int = 0) -> list[Event]:
    now = datetime.now(UTC)
    return [
        TaskCompleted(
            occurred_at=now - timedelta(milliseconds=n - i),
            agent_type="SA",
            task_id=f"{model}-{start + i}",
            model_id=model,
            provider="p",
            success=ok,
            latency_ms=120.0,
            cost=0.001,
            input_tokens=10,
            output_tokens=5,
            error_type=None if ok else "timeout",
        )
        for i in range(n)
    ]


async def scrape(port: int) -> Samples:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: Samples, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


async def publish_raw(settings: Settings, topic: str, records: Iterable[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(**settings.aiokafka_kwargs())
    await producer.start()
    try:
        for key, v in records:
            await producer.send(settings.topic(topic), v, key=key)
        await producer.flush()
    finally:
        await producer.stop()


async def test_metrics_move_and_health_shows_circuits_and_cooldowns(
    kafka_settings: Settings, worker_factory
) -> None:
    port = free_port()
    settings = kafka_settings.model_copy(update={"metrics_port": port, "partitions": 2})
    await ensure_topics(settings)
    await publish_raw(settings, "registry", ((m.model_id.encode(), encode(m)) for m in REGISTRY))
    worker = worker_factory(settings)
    worker.start()
    async with SelectionClient(settings) as client:
        await wait_until_answering(client, worker, 120, base=BASE, in_a_row=3)
        before = await scrape(port)

        # Events flow: 400 successes, 6 failures in a row of `broken`, a long rate limit on
        # `limited`, and 5 records that are not JSON.
        rate_limit = RateLimited(occurred_at=datetime.now(UTC), agent_type="SA", model_id="limited",
                                 provider="anthropic", retry_after_s=900)  # fmt: skip
        await publish_all(
            settings, [*tasks("steady", 400, ok=True), *tasks("broken", 6, ok=False), rate_limit]
        )
        await publish_raw(settings, "task-completed", [(b"steady", b"{not json")] * 5)
        for i in range(10):
            await client.select(client.request("SA", TaskInfo(task_id=f"s{i}"), base_assignment=BASE))
        nothing_fits = Constraints(excluded_models=("steady", "limited", "broken"))
        fallback = await client.select(
            client.request("SA", TaskInfo(task_id="none"), base_assignment=BASE, constraints=nothing_fits)
        )
        assert fallback.fallback_used

        def moved(s: Samples) -> bool:
            return (
                value(s, "modelrouter_events_folded_total", topic="task-completed") >= 406
                and value(s, "modelrouter_open_circuits") == 1
                and value(s, "modelrouter_active_cooldowns") == 1
            )

        after = await eventually(lambda: scrape(port), moved, timeout_s=60)
        assert value(after, "modelrouter_events_folded_total", topic="task-completed") == 406, (
            worker.log_tail()
        )
        assert value(after, "modelrouter_events_folded_total", topic="rate-limited") == 1
        assert value(after, "modelrouter_dead_lettered_total", source="events", reason="json_invalid") == 5
        assert value(after, "modelrouter_model_circuit_open", model="broken") == 1.0
        assert value(after, "modelrouter_model_circuit_open", model="steady") == 0.0
        assert 800 < value(after, "modelrouter_model_cooldown_seconds", model="limited") <= 900
        assert (
            value(after, "modelrouter_selection_fallbacks_total")
            - value(before, "modelrouter_selection_fallbacks_total")
            == 1
        )
        answered = value(after, "modelrouter_selection_answers_total", kind="selection")
        assert answered - value(before, "modelrouter_selection_answers_total", kind="selection") == 11
        assert value(after, "modelrouter_selection_requests_total") >= answered
        latency_count = value(after, "modelrouter_request_latency_seconds_count")
        assert (
            latency_count == value(after, "modelrouter_request_latency_seconds_bucket", le="+Inf") >= answered
        )
        assert value(after, "modelrouter_request_latency_seconds_sum") > 0
        assert total(after, "modelrouter_changelog_records_sent_total") > total(
            before, "modelrouter_changelog_records_sent_total"
        )
        lag = {labels: v for (n, labels), v in after.items() if n == "modelrouter_consumer_lag_records"}
        topics = {dict(labels)["topic"] for labels in lag}
        assert settings.topic("task-completed") in topics and len({dict(k)["partition"] for k in lag}) == 2
        assert all(v >= 0 for v in lag.values())
        stream_lag = [v for (n, _), v in after.items() if n == "modelrouter_stream_time_lag_seconds"]
        assert stream_lag and all(0 <= v < 120 for v in stream_lag)
        assert value(after, "modelrouter_table_recovery_in_progress") == 0.0

        # More events: the counter moves on by exactly as many.
        await publish_all(settings, tasks("steady", 250, ok=True, start=400))
        later = await eventually(
            lambda: scrape(port),
            lambda s: value(s, "modelrouter_events_folded_total", topic="task-completed") >= 656,
            timeout_s=60,
        )
        assert value(later, "modelrouter_events_folded_total", topic="task-completed") == 656

        # The health query on the requests topic: why each model is avoided (once the
        # scorecards, sent on the worker's 1 s timer, carry the last events).
        health = await eventually(
            client.health, lambda h: any(r.requests == 650 for r in h.models), timeout_s=30
        )
    by_model = {r.model_id: r for r in health.models}
    assert sorted(by_model) == ["broken", "limited", "steady"]
    broken, limited, steady = by_model["broken"], by_model["limited"], by_model["steady"]
    assert (broken.circuit, broken.circuit_reason) == ("open", "after 6 consecutive failures")
    assert broken.recent_failures == {"timeout": 6} and broken.failure_streak == 6
    assert broken.circuit_open_until is not None and broken.circuit_open_until > health.as_of
    assert limited.in_cooldown and limited.cooldown_until == rate_limit.occurred_at + timedelta(seconds=900)
    assert (steady.circuit, steady.in_cooldown, steady.provider, steady.requests) == (
        "closed",
        False,
        "openai",
        650,
    )

    # The same from the command line, and from the operations port.
    env = {**os.environ, **settings.to_env()}
    out = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "modelrouter.cli", "health"], env=env,
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert "open after 6 consecutive failures" in out.stdout
    assert "timeout x6" in out.stdout and "2 of 3 models avoided or probed now" in out.stdout
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/health.json") as resp:
        served = orjson.loads(await resp.read())
    assert {m["model_id"]: m["circuit"] for m in served["models"]} == {
        "broken": "open", "limited": "closed", "steady": "closed",
    }  # fmt: skip
