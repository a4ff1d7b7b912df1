"""The `modelrouter` CLI as a user runs it: a subprocess against the real broker and a real worker."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from modelrouter.agents import EventPublisher
from modelrouter.schemas import (
    ModelSpec,
    RateLimited,
    SelectionReply,
    Settings,
    SummaryReply,
    TaskCompleted,
    WindowSummary,
    decode,
    decode_event,
    decode_reply,
)

from kafka_helpers import eventually, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(90)]

CLI = [sys.executable, "-m", "modelrouter.cli"]


def env_of(settings: Settings) -> dict[str, str]:
    return {**os.environ, **settings.to_env()}


async def cli(settings: Settings, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """Run `modelrouter ARGS` with the test's settings in its environment (off the event loop)."""

    def call() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *args],
            env=env_of(settings),
            input=stdin.decode() if stdin is not None else None,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    return await asyncio.to_thread(call)


def spec(model_id: str, provider: str, capabilities: tuple[str, ...], price: float) -> ModelSpec:
    return ModelSpec(
        model_id=model_id,
        provider=provider,
        capabilities=capabilities,
        tier="standard",
        context_window=128_000,
        input_cost_per_1k=price,
        output_cost_per_1k=price * 4,
    )


REGISTRY = [
    spec("gpt-4o", "openai", ("chat", "vision"), 0.0025),
    spec("claude-3-5-sonnet", "anthropic", ("chat", "code-generation"), 0.003),
    spec("mistral-small", "mistral", ("chat",), 0.0001),
]


def write_registry(path: Path, models: list[ModelSpec]) -> Path:
    path.write_bytes(orjson.dumps({"models": [m.model_dump(mode="json") for m in models]}))
    return path


async def test_publish_sends_validated_events_and_refuses_invalid_ones(kafka_settings: Settings) -> None:
    settings = kafka_settings
    done = await cli(
        settings,
        "publish",
        "task-completed",
        *("--agent-type", "SA", "--task-id", "t-7", "--model-id", "gpt-4o", "--provider", "openai"),
        *("--latency-ms", "840.5", "--cost", "0.0041", "--input-tokens", "1200", "--output-tokens", "350"),
        *("--quality-score", "0.92", "--event-id", "cli-event-1"),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(
        f"published task_completed cli-event-1 to {settings.topic('task-completed')} ("
    )
    piped = await cli(
        settings,
        "publish",
        "--json",
        stdin=b'{"type": "rate_limited", "agent_type": "PM", "model_id": "o1", "provider": "openai", '
        b'"retry_after_s": 20, "limit_kind": "tokens", "event_id": "cli-event-2"}',
    )
    assert piped.returncode == 0, piped.stderr
    refused = await cli(
        settings,
        "publish",
        "--json",
        stdin=b'{"type": "rate_limited", "agent_type": "PM", "model_id": "o1", "provider": "openai", '
        b'"retry_after_s": -3}',
    )
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "modelrouter publish: error: invalid event: rate_limited.retry_after_s: "
        "Input should be greater than or equal to 0 (got -3)"
    )

    tasks = await read_topic(settings, settings.topic("task-completed"))
    assert [(k, decode_event(v).event_id) for k, v in tasks if v is not None] == [(b"gpt-4o", "cli-event-1")]
    task = decode_event(tasks[0][1] or b"")
    assert isinstance(task, TaskCompleted)
    assert (task.agent_type, task.task_id, task.success, task.latency_ms, task.cost) == (
        "SA",
        "t-7",
        True,
        840.5,
        0.0041,
    )
    assert (task.input_tokens, task.output_tokens, task.quality_score) == (1200, 350, 0.92)
    limits = await read_topic(settings, settings.topic("rate-limited"))
    assert len(limits) == 1  # the invalid one was never sent
    limit = decode_event(limits[0][1] or b"")
    assert isinstance(limit, RateLimited)
    assert (limit.event_id, limit.model_id, limit.retry_after_s, limit.limit_kind) == (
        "cli-event-2",
        "o1",
        20.0,
        "tokens",
    )


async def test_registry_show_on_an_empty_topic_says_how_to_fill_it(kafka_settings: Settings) -> None:
    done = await cli(kafka_settings, "registry", "show")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip() == (
        f"{kafka_settings.topic('registry')} holds no models: run `modelrouter registry load`"
    )


@pytest.mark.skipif(
    bool(os.environ.get("MODELROUTER_BOOTSTRAP_SERVERS")), reason="a broker of its own, not the checkout's"
)
async def test_the_broker_status_comes_from_the_checkout_script(kafka_settings: Settings) -> None:
    done = await cli(kafka_settings, "kafka", "status")  # read-only: never `down` the shared broker
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Kafka running (serving): pid ")
    assert f"address {kafka_settings.bootstrap_servers}," in done.stdout


async def test_registry_and_select_against_a_worker(
    kafka_settings: Settings, worker_factory, tmp_path: Path
) -> None:
    settings = kafka_settings
    loaded = await cli(
        settings, "registry", "load", "--file", str(write_registry(tmp_path / "r.json", REGISTRY))
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.splitlines()[0].startswith(f"{settings.topic('registry')}: 3 published, 0 unchanged")
    worker = worker_factory(settings)
    worker.start()

    # The first request also waits for the worker to start (it reads the requests topic from the start).
    chosen = await cli(
        settings, "select", "--agent-type", "SA", "--require", "vision", "--json", "--deadline-ms", "40000"
    )
    assert chosen.returncode == 0, chosen.stderr + worker.log_text()[-2000:]
    reply = decode_reply(chosen.stdout.strip())
    assert isinstance(reply, SelectionReply)
    assert (reply.selected_model_id, reply.provider, reply.fallback_used) == ("gpt-4o", "openai", False)
    assert {(r.model_id, r.reason) for r in reply.rejected} == {
        ("claude-3-5-sonnet", "missing capability vision"),
        ("mistral-small", "missing capability vision"),
    }

    cheapest = await cli(settings, "select", "--agent-type", "PM", "--strategy", "cost", "--json")
    assert cheapest.returncode == 0, cheapest.stderr
    reply = decode_reply(cheapest.stdout)
    assert isinstance(reply, SelectionReply)
    assert reply.selected_model_id == "mistral-small"
    assert [a.model_id for a in reply.alternatives] == [
        "gpt-4o",
        "claude-3-5-sonnet",
    ]  # ranked, cheaper first

    shown = await cli(
        settings, "select", "--agent-type", "SA", "--exclude-provider", "mistral", "--require", "chat"
    )
    assert shown.returncode == 0, shown.stderr
    lines = [line.split() for line in shown.stdout.splitlines()]
    assert lines[0][:3] == ["selected", "gpt-4o", "(openai)"]  # cheaper than claude, no data on either
    assert ["mistral-small", "│", "excluded", "provider", "mistral", "│"] in [line[1:] for line in lines]

    # A dropped model is tombstoned; the worker stops offering it.
    reloaded = await cli(
        settings, "registry", "load", "--file", str(write_registry(tmp_path / "r2.json", REGISTRY[:2]))
    )
    assert reloaded.returncode == 0, reloaded.stderr
    assert "  removed   mistral-small" in reloaded.stdout.splitlines()
    listed = await cli(settings, "registry", "show", "--json")
    assert [m["model_id"] for m in orjson.loads(listed.stdout)] == ["claude-3-5-sonnet", "gpt-4o"]
    table = await cli(settings, "registry", "show")
    assert table.returncode == 0
    assert f"{settings.topic('registry')}: 2 models, 2 enabled" in table.stdout
    assert "$0.0025" in table.stdout and "chat, vision" in table.stdout

    async def cheapest_now() -> str:
        done = await cli(settings, "select", "--agent-type", "PM", "--strategy", "cost", "--json")
        return decode_reply(done.stdout).selected_model_id  # type: ignore[union-attr]

    assert await eventually(cheapest_now, lambda m: m == "gpt-4o", timeout_s=15, every_s=0.5) == "gpt-4o"


async def test_tail_json_shows_summaries_as_events_arrive(kafka_settings: Settings, worker_factory) -> None:
    settings = kafka_settings
    worker = worker_factory(settings)
    worker.start()
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        "tail",
        *("--json", "--model", "gpt-4o", "--window", "5m", "--seconds", "60"),
        env=env_of(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        # It waits for the worker to create the topic, then says when it follows it.
        while True:
            line = (await asyncio.wait_for(proc.stderr.readline(), 40)).decode()
            assert line, "tail ended before following the topic"
            if line.startswith("following"):
                break
        at = datetime.now(UTC)
        async with EventPublisher(settings) as pub:
            for i in range(6):
                await pub.task_completed(
                    agent_type="SA" if i % 2 else "PM",
                    task_id=f"t{i}",
                    model_id="gpt-4o",
                    provider="openai",
                    success=i != 5,
                    latency_ms=100.0 * (i + 1),
                    quality_score=0.5,
                    cost=0.25,
                    input_tokens=10,
                    output_tokens=5,
                    occurred_at=at,
                )
                await pub.task_completed(  # another model: filtered out by --model
                    agent_type="SA",
                    task_id=f"o{i}",
                    model_id="o1",
                    provider="openai",
                    success=True,
                    latency_ms=5.0,
                    cost=1.0,
                    input_tokens=1,
                    output_tokens=1,
                    occurred_at=at,
                )
        seen: list[WindowSummary] = []
        while not seen or seen[-1].requests < 6:
            raw = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert raw, "tail ended before the summary of all six events"
            seen.append(decode(WindowSummary, raw))
        proc.send_signal(signal.SIGINT)  # Ctrl-C: a quiet exit 0
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    rest = await proc.stderr.read()
    assert b"Traceback" not in rest
    assert {(s.model_id, s.agent_type, s.window) for s in seen} == {("gpt-4o", None, "5m")}
    last = seen[-1]
    assert (last.requests, last.successes, last.final) == (6, 5, False)
    assert last.success_rate == pytest.approx(5 / 6)
    assert last.cost_total == pytest.approx(1.5)
    assert last.quality_mean == pytest.approx(0.5)
    assert (last.input_tokens, last.output_tokens) == (60, 30)
    assert last.latency_ms.mean == pytest.approx(350.0)
    # The sketch's lower quantiles of 100..600 ms, within its 1% relative error.
    assert last.latency_ms.p50 == pytest.approx(300.0, rel=0.01)
    assert last.latency_ms.p95 == pytest.approx(500.0, rel=0.01)


async def test_a_bounded_tail_without_a_worker_says_so(kafka_settings: Settings) -> None:
    settings = kafka_settings
    # No worker: the topic never appears, and the bounded tail says so.
    started = time.monotonic()
    done = await cli(settings, "tail", "--seconds", "2")
    assert done.returncode == 1
    assert time.monotonic() - started < 20
    assert done.stderr.splitlines() == [
        f"waiting for {settings.topic('summaries')} (a worker creates it: `modelrouter worker`)",
        f"error: {settings.topic('summaries')} does not exist: is a worker running on prefix "
        f"{settings.topic_prefix!r}?",
    ]


async def test_summary_totals_after_buckets_close(kafka_settings: Settings, worker_factory) -> None:
    settings = kafka_settings.model_copy(update={"bucket_seconds": 10, "grace_seconds": 1})
    worker = worker_factory(settings)
    worker.start()
    # Events of one bucket half a minute ago: it closes once its partition is idle for a bucket + grace.
    start = datetime.fromtimestamp((time.time() // 10 - 3) * 10, UTC)
    rows = [("gpt-4o", True, 0.01), ("gpt-4o", True, 0.03), ("gpt-4o", False, 0.02), ("o1", True, 0.5)]
    async with EventPublisher(settings) as pub:
        for i, (model, ok, cost) in enumerate(rows):
            for agent in ("SA", "PM"):
                await pub.task_completed(
                    agent_type=agent,
                    task_id=f"{agent}-{i}",
                    model_id=model,
                    provider="openai",
                    success=ok,
                    latency_ms=200.0,
                    cost=cost if agent == "SA" else cost * 10,
                    input_tokens=100,
                    output_tokens=20,
                    occurred_at=start + timedelta(seconds=1 + i),
                )

    async def finals() -> set[tuple[str, str | None]]:
        out = set()
        for _, value in await read_topic(settings, settings.topic("summaries")):
            if value is not None:
                s = decode(WindowSummary, value)
                if s.window == "bucket" and s.final:
                    out.add((s.model_id, s.agent_type))
        return out

    want = {(m, a) for m in ("gpt-4o", "o1") for a in ("SA", "PM", None)}
    got = await eventually(finals, lambda f: f >= want, timeout_s=45, every_s=1)
    assert got >= want, worker.log_text()[-2000:]

    async def sa_summary() -> SummaryReply:
        done = await cli(settings, "summary", "--agent-type", "SA", "--json")
        assert done.returncode == 0, done.stderr
        reply = decode_reply(done.stdout)
        assert isinstance(reply, SummaryReply)
        return reply

    # The worker's view of the summaries topic trails the topic by a moment.
    reply = await eventually(sa_summary, lambda r: r.total_requests == 4, timeout_s=10, every_s=0.5)
    assert reply.total_requests == 4
    assert reply.total_cost == pytest.approx(0.56)
    assert reply.average_success_rate == pytest.approx(0.75)
    assert reply.requests_by_model == {"gpt-4o": 3, "o1": 1}
    assert reply.cost_by_model == pytest.approx({"gpt-4o": 0.06, "o1": 0.5})
    by_model = {r.model_id: r for r in reply.models}
    assert (by_model["gpt-4o"].successes, by_model["o1"].successes) == (2, 1)

    table = await cli(settings, "summary")
    assert table.returncode == 0, table.stderr
    lines = [line.split() for line in table.stdout.splitlines()]
    assert lines[:3] == [["requests", "8"], ["cost", "$6.16"], ["success", "rate", "75.0%"]]
    assert lines[3][:2] == ["newest", "data"]  # and no "provisional" line: every bucket closed
    # requests, open (still provisional), ok, success rate, cost
    rows = {line[1]: line[3:12:2] for line in lines if len(line) > 12 and line[1] in ("gpt-4o", "o1")}
    assert rows == {"gpt-4o": ["6", "0", "4", "66.7%", "$0.66"], "o1": ["2", "0", "2", "100.0%", "$5.5"]}
