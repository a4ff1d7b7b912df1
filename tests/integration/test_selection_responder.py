"""The worker's selection responder against the real broker: registry, scorecards and summaries
published here, requests sent with a plain producer, replies read from a reply topic."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from modelrouter.agents.kafka import ensure_topics
from modelrouter.schemas import (
    BaseAssignment,
    Constraints,
    DeadLetter,
    ErrorReply,
    LatencySummary,
    ModelSpec,
    Reply,
    Scorecard,
    SelectionReply,
    SelectionRequest,
    Settings,
    SummaryReply,
    SummaryRequest,
    TaskInfo,
    TopicSpec,
    WindowSummary,
    decode,
    decode_reply,
    encode,
)
from modelrouter.streams.scoring import select
from modelrouter.streams.selection import scoring_params

from kafka_helpers import eventually, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(120)]

NOW = datetime.now(UTC)

REGISTRY = [
    ModelSpec(
        model_id="gpt-4o",
        provider="openai",
        capabilities=("chat", "tools", "vision"),
        tier="premium",
        context_window=128_000,
        input_cost_per_1k=0.0025,
        output_cost_per_1k=0.01,
    ),
    ModelSpec(
        model_id="claude-sonnet",
        provider="anthropic",
        capabilities=("chat", "tools"),
        tier="premium",
        context_window=200_000,
        input_cost_per_1k=0.003,
        output_cost_per_1k=0.015,
    ),
    ModelSpec(
        model_id="gemini-flash",
        provider="google",
        capabilities=("chat",),
        tier="economy",
        context_window=1_000_000,
        input_cost_per_1k=0.0001,
        output_cost_per_1k=0.0004,
    ),
    ModelSpec(
        model_id="mistral-small",
        provider="mistral",
        capabilities=("chat", "tools"),
        tier="standard",
        context_window=32_000,
        input_cost_per_1k=0.0002,
        output_cost_per_1k=0.0006,
    ),
    ModelSpec(
        model_id="llama-local",
        provider="ollama",
        capabilities=("chat",),
        tier="local",
        context_window=8_192,
        input_cost_per_1k=0.0,
        output_cost_per_1k=0.0,
    ),
]

SCORECARDS = [
    Scorecard(
        model_id="gpt-4o",
        updated_at=NOW,
        requests=200,
        successes=196,
        latency_p50_ms=400,
        latency_p95_ms=900,
        quality_mean=0.9,
    ),
    # Rate-limited for the next ten minutes.
    Scorecard(
        model_id="claude-sonnet",
        updated_at=NOW,
        requests=150,
        successes=148,
        latency_p95_ms=800,
        quality_mean=0.92,
        cooldown_until=NOW + timedelta(hours=2),  # NOW is import time: outlast a slow session
    ),
    Scorecard(
        model_id="gemini-flash",
        updated_at=NOW,
        requests=300,
        successes=270,
        latency_p95_ms=500,
        quality_mean=0.7,
    ),
    Scorecard(model_id="mistral-small", updated_at=NOW, requests=50, successes=45, latency_p95_ms=700),
]

BASE = BaseAssignment(
    role_type="architect", model_tier="premium", primary_model="gpt-4o", fallback_model="gemini-flash"
)


def request(request_id: str, reply_to: str, **fields: object) -> SelectionRequest:
    return SelectionRequest(
        request_id=request_id,
        reply_to=reply_to,
        agent_type="SA",
        task=TaskInfo(task_id=f"task-{request_id}", estimated_input_tokens=1000, estimated_output_tokens=500),
        **fields,  # type: ignore[arg-type]
    )


@dataclass
class Responder:
    """A worker on its own prefix, and a client that sends requests and collects replies."""

    settings: Settings
    reply_to: str
    producer: AIOKafkaProducer
    consumer: AIOKafkaConsumer
    replies: dict[str, Reply]
    worker: Any  # conftest's WorkerProcess

    async def send(self, key: str, value: bytes) -> None:
        await self.producer.send_and_wait(self.settings.topic("selection-requests"), value, key=key.encode())

    async def replies_for(self, ids: Iterable[str], timeout_s: float = 20.0) -> dict[str, Reply]:
        wanted = set(ids)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not wanted <= self.replies.keys() and loop.time() < deadline:
            for records in (await self.consumer.getmany(timeout_ms=200)).values():
                for r in records:
                    reply = decode_reply(r.value)
                    assert r.key == reply.request_id.encode()  # keyed by request_id, as the contract says
                    self.replies[reply.request_id] = reply
        missing = wanted - self.replies.keys()
        assert not missing, f"no reply for {sorted(missing)}; worker log:\n{self.worker.log_text()[-3000:]}"
        return {i: self.replies[i] for i in wanted}

    async def ask(self, *requests: SelectionRequest | SummaryRequest, timeout_s: float = 20.0) -> list[Reply]:
        for r in requests:
            await self.send(r.request_id, encode(r))
        got = await self.replies_for((r.request_id for r in requests), timeout_s)
        return [got[r.request_id] for r in requests]


async def publish(settings: Settings, topic: str, records: Iterable[tuple[str, bytes | None]]) -> None:
    producer = AIOKafkaProducer(**settings.aiokafka_kwargs())
    await producer.start()
    try:
        for key, value in records:
            await producer.send(settings.topic(topic), value, key=key.encode())
        await producer.flush()
    finally:
        await producer.stop()


@asynccontextmanager
async def running_responder(
    settings: Settings, worker_factory, summaries: Iterable[WindowSummary] = ()
) -> AsyncIterator[Responder]:
    await ensure_topics(settings)
    reply_to = settings.topic("test-replies")
    await ensure_topics(settings, [TopicSpec(reply_to, 1, False, None)])
    await publish(settings, "registry", [(m.model_id, encode(m)) for m in REGISTRY])
    await publish(settings, "scorecards", [(c.model_id, encode(c)) for c in SCORECARDS])
    await publish(settings, "summaries", [(s.key, encode(s)) for s in summaries])
    worker = worker_factory(settings)
    worker.start()
    producer = AIOKafkaProducer(**settings.aiokafka_kwargs(), linger_ms=0)
    consumer = AIOKafkaConsumer(**settings.aiokafka_kwargs(), enable_auto_commit=False, fetch_max_wait_ms=50)
    await producer.start()
    await consumer.start()
    for _ in range(100):  # a topic created a moment ago reaches a client's metadata a bit later
        if reply_to in await consumer.topics():
            break
        await asyncio.sleep(0.1)
    tp = TopicPartition(reply_to, 0)
    consumer.assign([tp])
    await consumer.seek_to_beginning(tp)
    client = Responder(settings, reply_to, producer, consumer, {}, worker)
    try:
        # The first answer says the worker is up (faust takes a few seconds to join its group).
        await client.send("warm-up", encode(request("warm-up", reply_to)))
        await client.replies_for(["warm-up"], timeout_s=60)
        yield client
    finally:
        await producer.stop()
        await consumer.stop()


@pytest.fixture
async def responder(kafka_settings: Settings, worker_factory) -> AsyncIterator[Responder]:
    async with running_responder(kafka_settings, worker_factory) as client:
        yield client


def rejected(reply: SelectionReply) -> dict[str, str]:
    return {r.model_id: r.reason for r in reply.rejected}


async def test_selection_filters_ranks_and_explains(responder: Responder) -> None:
    to = responder.reply_to
    tools = request(
        "tools",
        to,
        constraints=Constraints(required_capabilities=("tools",), excluded_providers=("mistral",)),
        base_assignment=BASE,
    )
    (reply,) = await responder.ask(tools)
    assert isinstance(reply, SelectionReply), reply
    assert reply.selected_model_id == "gpt-4o"
    assert reply.provider == "openai"
    assert not reply.fallback_used
    reasons = rejected(reply)
    assert reasons.keys() == {"claude-sonnet", "mistral-small", "gemini-flash", "llama-local"}
    assert reasons["claude-sonnet"].startswith("rate-limited until ")
    assert reasons["mistral-small"] == "excluded provider mistral"
    assert reasons["gemini-flash"] == reasons["llama-local"] == "missing capability tools"
    assert reply.alternatives == ()
    assert "gpt-4o" in reply.reasoning and "primary of role architect" in reply.reasoning
    assert reply.factors["requests"] == 200
    assert reply.stats_age_ms is not None and reply.stats_age_ms >= 0

    # The worker's answers are the pure function's, strategy by strategy.
    registry = {m.model_id: m for m in REGISTRY}
    cards = {c.model_id: c for c in SCORECARDS}
    asks = [request(f"strategy-{s}", to, strategy=s) for s in ("balanced", "cost", "latency", "quality")]
    replies = await responder.ask(*asks)
    chosen = set()
    for req, got in zip(asks, replies, strict=True):
        assert isinstance(got, SelectionReply), got
        want = select(
            req,
            registry,
            cards,
            got.decided_at,
            params=scoring_params(responder.settings),
        )
        assert got.selected_model_id == want.selected_model_id, req.strategy
        assert [a.model_id for a in got.alternatives] == [a.model_id for a in want.alternatives]
        assert got.score == pytest.approx(want.score)
        assert rejected(got) == {"claude-sonnet": rejected(want)["claude-sonnet"]}
        chosen.add(got.selected_model_id)
    assert replies[1].selected_model_id == "llama-local"  # free wins on cost
    assert len(chosen) > 1  # the strategy changes the choice

    # Exploration is seeded by the request: the same request draws the same on every ask.
    explore = request("explore-1", to, explore=True)
    (first,) = await responder.ask(explore)
    del responder.replies["explore-1"]
    (again,) = await responder.ask(explore)
    assert isinstance(first, SelectionReply) and isinstance(again, SelectionReply)
    assert "success_sample" in first.factors
    assert first.selected_model_id == again.selected_model_id
    assert first.factors["success_sample"] == again.factors["success_sample"]


async def test_nothing_passes_fallback_or_no_candidate(responder: Responder) -> None:
    to = responder.reply_to
    audio = Constraints(required_capabilities=("audio",))
    fallback, error = await responder.ask(
        request("audio-base", to, constraints=audio, base_assignment=BASE),
        request("audio-bare", to, constraints=audio),
    )
    assert isinstance(fallback, SelectionReply), fallback
    assert fallback.fallback_used
    assert fallback.selected_model_id == "gemini-flash"
    assert fallback.provider == "google"
    assert len(fallback.rejected) == len(REGISTRY)
    assert "no candidate passed the constraints" in fallback.reasoning
    assert isinstance(error, ErrorReply), error
    assert error.error.code == "no_candidate"
    assert "no base_assignment" in error.error.message


async def test_invalid_requests_get_an_error_reply_or_a_dead_letter(responder: Responder) -> None:
    s = responder.settings
    to = responder.reply_to
    no_task = {"kind": "select", "request_id": "bad-1", "reply_to": to, "agent_type": "SA"}
    bad_window = {"kind": "summary", "request_id": "bad-2", "reply_to": to, "window_hours": -1}
    await responder.send("bad-1", orjson.dumps(no_task))
    await responder.send("bad-2", orjson.dumps(bad_window))
    await responder.send("junk", b"this is not json")
    await responder.send("no-reply-to", orjson.dumps({"kind": "select", "request_id": "bad-3"}))
    got = await responder.replies_for(["bad-1", "bad-2"])
    for rid, field in (("bad-1", "select.task"), ("bad-2", "summary.window_hours")):
        reply = got[rid]
        assert isinstance(reply, ErrorReply), reply
        assert reply.error.code == "invalid_request"
        assert field in reply.error.message, reply.error.message

    async def letters() -> list[DeadLetter]:
        return [decode(DeadLetter, v) for _, v in await read_topic(s, s.topic("dead-letter")) if v]

    dead = await eventually(letters, lambda ls: len(ls) >= 2, timeout_s=20)
    assert sorted(d.payload for d in dead) == sorted(
        ["this is not json", orjson.dumps({"kind": "select", "request_id": "bad-3"}).decode()]
    )
    assert {d.source_topic for d in dead} == {s.topic("selection-requests")}
    assert all("invalid request" in d.error for d in dead)
    # A reply topic that does not exist costs its own request only: the next ones are answered
    # while the producer still waits (10 s) for that topic's metadata.
    lost = request("lost", s.topic("nobody-listens"))
    await responder.send("lost", encode(lost))
    (ok,) = await responder.ask(request("after-junk", to), timeout_s=5)
    assert isinstance(ok, SelectionReply)
    assert "bad-3" not in responder.replies


async def test_scorecard_changes_apply_while_running(responder: Responder) -> None:
    to = responder.reply_to
    tools = Constraints(required_capabilities=("tools",), excluded_providers=("mistral",))
    (before,) = await responder.ask(request("before", to, constraints=tools, base_assignment=BASE))
    assert isinstance(before, SelectionReply) and before.selected_model_id == "gpt-4o"

    limited_at = datetime.now(UTC)
    cooled = Scorecard(
        model_id="gpt-4o",
        updated_at=limited_at,
        requests=200,
        successes=196,
        latency_p95_ms=900,
        cooldown_until=limited_at + timedelta(minutes=5),
    )
    # ... while claude's cooldown ends (both in one go: no request sees one without the other).
    lifted = SCORECARDS[1].model_copy(update={"cooldown_until": None, "updated_at": limited_at})
    await publish(
        responder.settings, "scorecards", [("claude-sonnet", encode(lifted)), ("gpt-4o", encode(cooled))]
    )

    loop = asyncio.get_running_loop()
    t0 = loop.time()
    n = 0
    while True:
        n += 1
        (reply,) = await responder.ask(request(f"after-{n}", to, constraints=tools, base_assignment=BASE))
        assert isinstance(reply, SelectionReply)
        if reply.selected_model_id != "gpt-4o" or loop.time() - t0 > 5:
            break
        await asyncio.sleep(0.05)
    assert reply.selected_model_id == "claude-sonnet"
    assert rejected(reply)["gpt-4o"].startswith("rate-limited until ")
    assert loop.time() - t0 < 2.0


def bucket(
    model_id: str,
    agent_type: str | None,
    start: datetime,
    requests: int,
    successes: int,
    cost: float,
    *,
    window: str = "bucket",
    minutes: int = 1,
    p50: float | None = None,
) -> WindowSummary:
    return WindowSummary(
        model_id=model_id,
        agent_type=agent_type,
        window=window,  # type: ignore[arg-type]
        window_start=start,
        window_end=start + timedelta(minutes=minutes),
        final=window == "bucket",
        requests=requests,
        successes=successes,
        success_rate=successes / requests if requests else None,
        latency_ms=LatencySummary(p50=p50, p95=p50 * 2 if p50 else None),
        quality_mean=None,
        cost_total=cost,
        input_tokens=requests * 100,
        output_tokens=requests * 50,
        rate_limited=1,
        failovers_out=0,
        failovers_in=2,
    )


async def test_summary_totals_over_the_requested_window(kafka_settings: Settings, worker_factory) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    rows = [
        bucket("gpt-4o", None, now - timedelta(minutes=30), 10, 9, 0.50),
        bucket("gpt-4o", None, now - timedelta(hours=2), 20, 10, 1.00),
        bucket("gpt-4o", None, now - timedelta(hours=30), 1000, 0, 99.0),  # outside 24 h
        bucket("gemini-flash", None, now - timedelta(minutes=10), 40, 40, 0.04),
        bucket("gemini-flash", "SA", now - timedelta(minutes=10), 30, 30, 0.03),
        bucket("gemini-flash", "PM", now - timedelta(minutes=10), 10, 10, 0.01),
        bucket("gpt-4o", "SA", now - timedelta(minutes=30), 10, 9, 0.50),
        # A provisional trailing window: not counted, but its latency is the 1 h row's.
        bucket("gpt-4o", None, now - timedelta(hours=1), 10, 9, 0.5, window="1h", minutes=60, p50=420.0),
    ]
    # The same bucket published twice: the later record (compaction's survivor) counts.
    stale = bucket("gemini-flash", None, now - timedelta(minutes=10), 1, 1, 0.001)
    async with running_responder(kafka_settings, worker_factory, [stale, *rows]) as client:
        to = client.reply_to
        day, hour, sa, nobody = await client.ask(
            SummaryRequest(request_id="day", reply_to=to),
            SummaryRequest(request_id="hour", reply_to=to, window_hours=1),
            SummaryRequest(request_id="sa", reply_to=to, agent_type="SA"),
            SummaryRequest(request_id="nobody", reply_to=to, agent_type="QA"),
        )
        assert isinstance(day, SummaryReply), day
        assert day.total_requests == 70
        assert day.total_cost == pytest.approx(1.54)
        assert day.average_success_rate == pytest.approx(59 / 70)
        assert day.requests_by_model == {"gpt-4o": 30, "gemini-flash": 40}
        assert day.cost_by_model == pytest.approx({"gpt-4o": 1.5, "gemini-flash": 0.04})
        gpt = next(r for r in day.models if r.model_id == "gpt-4o")
        assert (gpt.successes, gpt.success_rate, gpt.rate_limited, gpt.failovers_in) == (19, 19 / 30, 2, 4)
        assert gpt.latency_p50_ms is None  # no 24 h trailing row was published

        assert isinstance(hour, SummaryReply), hour
        assert hour.requests_by_model == {"gpt-4o": 10, "gemini-flash": 40}
        assert hour.total_cost == pytest.approx(0.54)
        gpt_hour = next(r for r in hour.models if r.model_id == "gpt-4o")
        assert gpt_hour.latency_p50_ms == 420.0 and gpt_hour.latency_p95_ms == 840.0

        assert isinstance(sa, SummaryReply), sa
        assert sa.requests_by_model == {"gemini-flash": 30, "gpt-4o": 10}
        assert sa.average_success_rate == pytest.approx(39 / 40)

        assert isinstance(nobody, SummaryReply), nobody
        assert (nobody.total_requests, nobody.total_cost, nobody.average_success_rate) == (0, 0.0, 0.0)
        assert nobody.models == ()


async def test_requests_spread_over_workers_and_survive_one_leaving(
    kafka_settings: Settings, worker_factory, tmp_path: Path
) -> None:
    async with running_responder(kafka_settings, worker_factory) as client:
        # Same group, its own state folder (two RocksDB stores cannot share one).
        second = worker_factory(kafka_settings.model_copy(update={"data_dir": tmp_path / "second"}))
        second.start()
        to = client.reply_to
        # Once both share the group, each owns some of the request partitions.

        async def second_log() -> str:
            return second.log_text()

        await eventually(second_log, lambda text: "Worker ready" in text, timeout_s=40)
        # A rebalance can still be settling: allow for it on a loaded machine.
        replies = await client.ask(*(request(f"both-{i}", to) for i in range(40)), timeout_s=30)
        assert all(isinstance(r, SelectionReply) for r in replies)
        assert second.alive and client.worker.alive

        client.worker.stop()  # a graceful leave: its partitions move to the second worker
        replies = await client.ask(*(request(f"second-{i}", to) for i in range(40)), timeout_s=30)
        assert all(isinstance(r, SelectionReply) for r in replies)
        assert "selection responder ready" in second.log_text()
