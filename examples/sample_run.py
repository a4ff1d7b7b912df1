"""The main job for now: a worker, a sample publisher, and what the worker made of it.

Starts a `modelrouter-worker` on a fresh topic prefix, publishes 2,000 valid events from a
small simulated fleet plus 60 invalid records, waits until the worker has counted every
valid one, and prints the counts and the dead letters by reason. `make demo` runs it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
from aiokafka import AIOKafkaProducer

from modelrouter.agents import EventPublisher, read_to_end
from modelrouter.schemas import DeadLetter, Settings, decode
from modelrouter.streams.inspect import bucket_totals

MODELS = {
    "gpt-4o": "openai",
    "claude-3-5-sonnet": "anthropic",
    "gemini-1.5-pro": "google",
    "mistral-large": "mistral",
    "llama3.1-8b": "ollama",
}
AGENTS = ["SA", "PM", "BA"]
INVALID = [
    ("broken JSON", b'{"type": "task_completed", "model_id": '),
    ("negative cost", {"cost": -0.5}),
    ("quality 1.5", {"quality_score": 1.5}),
]


async def publish(settings: Settings, rng: random.Random, valid: int) -> int:
    sample = None
    async with EventPublisher(settings) as pub:
        for i in range(valid):
            model = rng.choice(list(MODELS))
            ok = rng.random() > 0.08
            sample = await pub.task_completed(
                agent_type=rng.choice(AGENTS),
                task_id=f"task-{i}",
                model_id=model,
                provider=MODELS[model],
                success=ok,
                latency_ms=rng.lognormvariate(6.5, 0.5),
                quality_score=rng.random() if ok else None,
                cost=rng.uniform(0.0005, 0.02),
                input_tokens=rng.randint(200, 4000),
                output_tokens=rng.randint(50, 1500),
                error_type=None if ok else "timeout",
                wait=False,
            )
    assert sample is not None
    producer = AIOKafkaProducer(**settings.aiokafka_kwargs())
    await producer.start()
    invalid = 0
    try:
        good = orjson.loads(sample.model_dump_json())
        for i in range(60):
            _, change = INVALID[i % len(INVALID)]
            raw = change if isinstance(change, bytes) else orjson.dumps(good | change)
            await producer.send(settings.topic("task-completed"), raw, key=b"sample")
            invalid += 1
        await producer.flush()
    finally:
        await producer.stop()
    return invalid


async def main() -> int:
    # A new topic has no leader for a moment; aiokafka retries and says so at WARNING.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    settings = Settings(
        topic_prefix=f"sample-{stamp}.",
        app_id=f"sample-{stamp}",
        data_dir=Path(".modelrouter") / f"sample-{stamp}",
    )
    log_path = Path(".modelrouter") / f"sample-{stamp}-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"starting a worker (log {log_path}) on topics {settings.topic_prefix}*")
    with log_path.open("wb") as log:
        worker = subprocess.Popen(  # noqa: ASYNC220 - started once, before any awaits matter
            [sys.executable, "-m", "modelrouter.streams.worker"],
            env={**os.environ, **settings.to_env()},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        rng = random.Random(42)
        invalid = await publish(settings, rng, 2000)
        print(f"published 2000 valid events and {invalid} invalid records; waiting for the worker ...")
        counts: dict[str, int] = {}
        for _ in range(120):
            counts = {m: t["requests"] for m, t in (await bucket_totals(settings)).items()}
            if sum(counts.values()) >= 2000:
                break
            await asyncio.sleep(0.5)
        letters = [
            decode(DeadLetter, v)
            for _, v in await read_to_end(settings, settings.topic("dead-letter"))
            if v is not None
        ]
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
    print(f"\n{'model':<20} {'events counted':>15}")
    for key, n in sorted(counts.items()):
        print(f"{key:<20} {n:>15}")
    print(f"{'total':<20} {sum(counts.values()):>15}")
    reasons = Counter(d.error.removeprefix("invalid event: ")[:72] for d in letters)
    print(f"\ndead-lettered: {len(letters)} records in {settings.topic('dead-letter')}")
    for reason, n in reasons.most_common():
        print(f"  {n:>4}  {reason}")
    ok = sum(counts.values()) == 2000 and len(letters) == invalid
    print("\nall events accounted for" if ok else "\nMISMATCH: see the worker log")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
