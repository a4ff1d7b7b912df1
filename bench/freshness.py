"""Freshness: from a rate-limited event to the first selection that avoids the model, while the
worker folds a background load of task-completed events.

    .venv/bin/python bench/freshness.py                       # 100 trials, 5,000 events/s of load
    .venv/bin/python bench/freshness.py --trials 50 --load 10000

Each trial takes a model the worker currently chooses (it is the base assignment's primary),
publishes a RateLimited event for it (retry-after 1 s), and asks for selections back to back
until one avoids it; the time from handing the event to the publisher to that reply is the
trial's figure. The floor it is compared with is measured in the same run: one selection
round trip (no model can be avoided faster than one answer). Last line: JSON
{"trials", "p50_ms", "p99_ms", "max_ms", "round_trip_p50_ms", "load_events_per_sec"}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from pathlib import Path

from ingest import machine

from modelrouter.agents import EventPublisher, ModelRegistry, SelectionClient
from modelrouter.agents.kafka import ensure_topics
from modelrouter.cli.worker_process import WorkerProcess, wait_until_answering
from modelrouter.schemas import BaseAssignment, ModelSpec, Settings, TaskInfo

MODELS = tuple(f"model-{i}" for i in range(10))
COOLDOWN_S = 1.0


def percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


async def publish_registry(settings: Settings) -> None:
    specs = {
        m: ModelSpec(
            model_id=m,
            provider=f"provider-{m}",
            tier="standard",
            context_window=128_000,
            input_cost_per_1k=0.003,
            output_cost_per_1k=0.01,
            capabilities=("chat",),
        )
        for m in MODELS
    }
    await ModelRegistry(settings=settings, models=specs).publish()


async def background_load(settings: Settings, rate: float, stop: asyncio.Event) -> int:
    """Successful task-completed events spread over the models at `rate` per second."""
    sent = 0
    async with EventPublisher(settings, linger_ms=20) as pub:
        started = time.monotonic()
        while not stop.is_set():
            due = int((time.monotonic() - started) * rate)
            while sent < due:
                m = MODELS[sent % len(MODELS)]
                await pub.task_completed(
                    agent_type="SA",
                    task_id=f"bg{sent}",
                    model_id=m,
                    provider=f"provider-{m}",
                    success=True,
                    latency_ms=400.0,
                    cost=0.002,
                    input_tokens=500,
                    output_tokens=100,
                    wait=False,
                )
                sent += 1
            await asyncio.sleep(0.005)
    return sent


async def trials(settings: Settings, client: SelectionClient, n: int) -> tuple[list[float], list[float]]:
    """(freshness of each trial, selection round trips), in ms."""
    fresh: list[float] = []
    round_trips: list[float] = []

    async def choose(base: BaseAssignment) -> str:
        started = time.perf_counter()
        reply = await client.select(
            client.request("SA", TaskInfo(task_id="t"), base_assignment=base),
            deadline_ms=2000,
            raise_on_timeout=True,
        )
        round_trips.append((time.perf_counter() - started) * 1000)
        return reply.selected_model_id

    async with EventPublisher(settings) as pub:
        for i in range(n):
            model = MODELS[i % len(MODELS)]
            base = BaseAssignment(
                role_type="bench",
                model_tier="standard",
                primary_model=model,
                fallback_model=MODELS[-1 - i % 2],
            )
            for _ in range(200):  # its previous cooldown is over and the worker prefers it again
                if await choose(base) == model:
                    break
                await asyncio.sleep(0.05)
            else:
                raise RuntimeError(f"the worker never chose {model}, the primary")
            started = time.perf_counter()
            await pub.rate_limited(
                agent_type="SA", model_id=model, provider=f"provider-{model}", retry_after_s=COOLDOWN_S
            )
            while await choose(base) == model:
                if time.perf_counter() - started > 10:
                    raise RuntimeError(f"selection still chose {model} 10 s after its rate limit")
            fresh.append((time.perf_counter() - started) * 1000)
            if (i + 1) % 10 == 0:
                done = sorted(fresh)
                p50, p99 = percentile(done, 0.5), percentile(done, 0.99)
                print(f"  {i + 1} trials: p50 {p50:.1f} ms, p99 {p99:.1f} ms", flush=True)
    return fresh, round_trips


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--load", type=float, default=5000.0, help="background events per second")
    parser.add_argument("--startup-timeout", type=float, default=120.0)
    args = parser.parse_args()
    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="bench-freshness-") as tmp:
        settings = Settings(
            topic_prefix=f"bench.freshness.{tag}.", app_id=f"bench-freshness-{tag}", data_dir=Path(tmp) / "w"
        )
        print(f"machine: {machine()}")
        await ensure_topics(settings)
        await publish_registry(settings)
        worker = WorkerProcess(settings, Path(tmp) / "worker.log", loglevel="warning")
        worker.start()
        stop = asyncio.Event()
        load = asyncio.create_task(background_load(settings, args.load, stop))
        started = time.monotonic()
        try:
            async with SelectionClient(settings) as client:
                await wait_until_answering(client, worker, args.startup_timeout, in_a_row=3)
                fresh, round_trips = await trials(settings, client, args.trials)
        finally:
            stop.set()
            sent = await load
            worker.stop()
        rate = sent / (time.monotonic() - started)
    fresh.sort()
    round_trips.sort()
    print(
        f"freshness over {len(fresh)} trials: p50 {percentile(fresh, 0.5):.1f} ms, p99 "
        f"{percentile(fresh, 0.99):.1f} ms, max {fresh[-1]:.1f} ms; one selection round trip p50 "
        f"{percentile(round_trips, 0.5):.2f} ms; background load {rate:,.0f} events/s"
    )
    print(
        json.dumps(
            {
                "trials": len(fresh),
                "p50_ms": round(percentile(fresh, 0.5), 1),
                "p99_ms": round(percentile(fresh, 0.99), 1),
                "max_ms": round(fresh[-1], 1),
                "round_trip_p50_ms": round(percentile(round_trips, 0.5), 2),
                "load_events_per_sec": round(rate),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
