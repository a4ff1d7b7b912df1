"""The summaries topic matches an independent computation; rate limits reach the scorecards."""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from modelrouter.agents import EventPublisher
from modelrouter.schemas import (
    Event,
    Failover,
    RateLimited,
    Scorecard,
    Settings,
    TaskCompleted,
    WindowSummary,
    decode,
)

from kafka_helpers import eventually, read_topic

pytestmark = pytest.mark.kafka

MODELS = ["gpt-4o", "claude-3-5-sonnet", "mistral-large"]
AGENTS = ["SA", "PM"]
BUCKET = 10


def known_stream(start: datetime, rng: random.Random) -> list[Event]:
    events: list[Event] = []
    for i in range(3000):
        at = start + timedelta(seconds=rng.uniform(0, 3 * BUCKET - 0.001))
        model, agent = rng.choice(MODELS), rng.choice(AGENTS)
        ok = rng.random() < 0.9
        events.append(
            TaskCompleted(
                occurred_at=at,
                agent_type=agent,
                task_id=f"t{i}",
                model_id=model,
                provider="p",
                success=ok,
                latency_ms=round(rng.lognormvariate(6.0, 0.7), 3),
                quality_score=rng.choice([None, rng.random()]),
                cost=round(rng.uniform(0, 0.02), 9),
                input_tokens=rng.randint(0, 5000),
                output_tokens=rng.randint(0, 900),
                error_type=None if ok else "timeout",
            )
        )
    for i in range(60):
        at = start + timedelta(seconds=rng.uniform(0, 3 * BUCKET - 0.001))
        events.append(
            RateLimited(
                occurred_at=at,
                agent_type=rng.choice(AGENTS),
                model_id=rng.choice(MODELS),
                provider="p",
                retry_after_s=5,
            )
        )
        events.append(
            Failover(
                occurred_at=at,
                agent_type=rng.choice(AGENTS),
                task_id=f"f{i}",
                original_model=rng.choice(MODELS),
                alternative_model=rng.choice(MODELS),
                reason="timeout",
            )
        )
    return events


def expected_windows(events: list[Event]) -> dict[tuple[str, str | None, int], dict[str, object]]:
    """Per (model, agent or None, bucket start): the figures a final summary must carry."""
    groups: dict[tuple[str, str | None, int], list[Event]] = defaultdict(list)
    for ev in events:
        b = int(ev.occurred_at.timestamp() // BUCKET) * BUCKET
        keys = []
        if isinstance(ev, TaskCompleted | RateLimited):
            keys.append((ev.model_id, "out"))
        else:
            keys += [(ev.original_model, "out"), (ev.alternative_model, "in")]
        for model, side in keys:
            for agent in (ev.agent_type, None):
                groups[(model, agent, b)].append(ev if side == "out" else ("in", ev))  # type: ignore[arg-type]
    out = {}
    for key, items in groups.items():
        tasks = [e for e in items if isinstance(e, TaskCompleted)]
        lat = np.array([e.latency_ms for e in tasks])
        quality = [e.quality_score for e in tasks if e.quality_score is not None]
        out[key] = {
            "requests": len(tasks),
            "successes": sum(e.success for e in tasks),
            "cost_total": sum(e.cost for e in tasks),
            "input_tokens": sum(e.input_tokens for e in tasks),
            "output_tokens": sum(e.output_tokens for e in tasks),
            "rate_limited": sum(isinstance(e, RateLimited) for e in items),
            "failovers_out": sum(isinstance(e, Failover) for e in items),
            "failovers_in": sum(isinstance(e, tuple) for e in items),
            "quality_mean": sum(quality) / len(quality) if quality else None,
            "latency": {q: float(np.quantile(lat, q / 100, method="lower")) for q in (50, 95, 99)}
            if len(lat)
            else None,
        }
    return out


async def latest_finals(settings: Settings) -> dict[tuple[str, str | None, int], WindowSummary]:
    finals = {}
    for _, value in await read_topic(settings, settings.topic("summaries")):
        if value is None:
            continue
        s = decode(WindowSummary, value)
        if s.window == "bucket" and s.final:
            finals[(s.model_id, s.agent_type, int(s.window_start.timestamp()))] = s
    return finals


async def test_final_summaries_match_an_independent_computation(
    kafka_settings: Settings, worker_factory
) -> None:
    settings = kafka_settings.model_copy(
        update={"bucket_seconds": BUCKET, "grace_seconds": 2, "partitions": 2}
    )
    start = datetime.fromtimestamp((time.time() // BUCKET - 12) * BUCKET, UTC)  # three buckets, 2 min ago
    events = known_stream(start, random.Random(3))
    want = expected_windows(events)
    worker = worker_factory(settings)
    worker.start()
    async with EventPublisher(settings) as pub:
        for ev in events:
            await pub.publish(ev, wait=False)

    async def finals() -> dict[tuple[str, str | None, int], WindowSummary]:
        return await latest_finals(settings)

    got = await eventually(finals, lambda g: set(g) >= set(want), timeout_s=120, every_s=2)
    assert set(got) == set(want), worker.log_text()[-2000:]
    for key, w in want.items():
        s = got[key]
        assert s.final and s.window_end - s.window_start == timedelta(seconds=BUCKET)
        assert (s.requests, s.successes, s.input_tokens, s.output_tokens) == (
            w["requests"],
            w["successes"],
            w["input_tokens"],
            w["output_tokens"],
        ), key
        assert (s.rate_limited, s.failovers_out, s.failovers_in) == (
            w["rate_limited"],
            w["failovers_out"],
            w["failovers_in"],
        ), key
        assert s.cost_total == pytest.approx(w["cost_total"], abs=1e-9), key
        if w["quality_mean"] is None:
            assert s.quality_mean is None
        else:
            assert s.quality_mean == pytest.approx(w["quality_mean"], abs=1e-8)
        if w["latency"] is None:
            assert s.latency_ms.p50 is None
        else:
            for q, exact in w["latency"].items():  # type: ignore[union-attr]
                got_q = getattr(s.latency_ms, f"p{q}")
                assert abs(got_q - exact) <= 0.01 * exact, (key, q, got_q, exact)
        if w["requests"]:
            assert s.success_rate == pytest.approx(w["successes"] / w["requests"])  # type: ignore[operator]


async def test_a_backlog_closes_each_bucket_once(kafka_settings: Settings, worker_factory) -> None:
    """A backlog read from a busy and a sparse topic: one fetch of the sparse topic spans the
    whole backlog, one of the busy topic a few seconds of it. Stream time must wait for the
    busy topic, or buckets close early and their finals go out again with the late events."""
    settings = kafka_settings.model_copy(
        update={"bucket_seconds": BUCKET, "grace_seconds": 2, "partitions": 1}
    )
    rng = random.Random(5)
    start = datetime.fromtimestamp((time.time() // BUCKET - 12) * BUCKET, UTC)
    span = 6 * BUCKET
    tasks = [
        TaskCompleted(
            occurred_at=start + timedelta(seconds=span * i / 12_000),
            agent_type=rng.choice(AGENTS),
            task_id=f"t{i}-" + "x" * 110,  # ~4 MB in all: several fetches of 1 MiB
            model_id=rng.choice(MODELS),
            provider="p",
            success=True,
            latency_ms=100.0,
            cost=0.001,
            input_tokens=1,
            output_tokens=1,
        )
        for i in range(12_000)
    ]
    limits = [
        RateLimited(
            occurred_at=start + timedelta(seconds=span * i / 300),
            agent_type=rng.choice(AGENTS),
            model_id=rng.choice(MODELS),
            provider="p",
        )
        for i in range(300)
    ]
    async with EventPublisher(settings) as pub:  # the backlog, before any worker runs
        for ev in [*tasks, *limits]:
            await pub.publish(ev, wait=False)
    worker = worker_factory(settings)
    worker.start()

    async def finals() -> list[WindowSummary]:
        out = []
        for _, value in await read_topic(settings, settings.topic("summaries")):
            s = None if value is None else decode(WindowSummary, value)
            if s is not None and s.window == "bucket" and s.final and s.agent_type is None:
                out.append(s)
        return out

    def folded(got: list[WindowSummary]) -> bool:
        latest = {(s.model_id, s.window_start): s.requests for s in got}
        return sum(latest.values()) == len(tasks)

    await eventually(finals, folded, timeout_s=120, every_s=2)
    await asyncio.sleep(3)  # finals sent again for late events go out within a second
    got = await finals()
    per_bucket: defaultdict[tuple[str, datetime], int] = defaultdict(int)
    for s in got:
        per_bucket[(s.model_id, s.window_start)] += 1
    assert len(per_bucket) == len(MODELS) * 6
    assert set(per_bucket.values()) == {1}, worker.log_text()[-2000:]


async def test_a_rate_limit_reaches_the_scorecards(kafka_settings: Settings, worker_factory) -> None:
    settings = kafka_settings
    worker = worker_factory(settings)
    worker.start()
    at = datetime.now(UTC)
    async with EventPublisher(settings) as pub:
        await pub.task_completed(
            agent_type="SA",
            task_id="t0",
            model_id="gpt-4o",
            provider="openai",
            success=False,
            latency_ms=900.0,
            cost=0.001,
            input_tokens=10,
            output_tokens=0,
        )
        sent = time.monotonic()
        await pub.rate_limited(
            agent_type="SA", model_id="gpt-4o", provider="openai", retry_after_s=30.0, occurred_at=at
        )

    async def card() -> Scorecard | None:
        cards = [
            decode(Scorecard, v)
            for k, v in await read_topic(settings, settings.topic("scorecards"))
            if k == b"gpt-4o" and v is not None
        ]
        return cards[-1] if cards else None

    got = await eventually(
        card, lambda c: c is not None and c.cooldown_until is not None, timeout_s=60, every_s=0.2
    )
    assert got is not None, worker.log_text()[-2000:]
    assert got.cooldown_until == at + timedelta(seconds=30)
    assert got.failure_streak == 1
    print(f"rate limit visible in scorecards after {time.monotonic() - sent:.2f} s (incl. polling)")
