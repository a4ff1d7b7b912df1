"""What the operations tests share: a registry of three models, a free port, raw publishing,
and a Prometheus scrape of a worker's /metrics."""

from __future__ import annotations

import socket
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import aiohttp
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from modelrouter.schemas import BaseAssignment, Event, ModelSpec, Settings, TaskCompleted

__all__ = ["BASE", "REGISTRY", "Samples", "free_port", "publish_raw", "scrape", "tasks", "total", "value"]

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
