"""Selection latency, end to end: one client sends selection requests at a fixed rate to a worker
holding 50 registered models and live scorecards, and times each reply.

    .venv/bin/python bench/selection.py                 # starts its own worker, 500 req/s for 20 s
    .venv/bin/python bench/selection.py --rate 1000 --seconds 10
    .venv/bin/python bench/selection.py --no-worker --prefix modelrouter.   # a worker already running

Latency is from the moment the client hands a request to its producer to the moment its reply is
read off the reply topic (both in this process, one clock). The same load then runs against a
bare echo (bench/echo.py: a plain consumer in its own process answering each request with a
fixed reply), the baseline of Kafka's own round trip on this machine. The last line printed is
JSON: {"p50_ms", "p99_ms", "max_ms", "rate", "sent", "answered", "decisions_log" (1: on, the
default; MODELROUTER_DECISIONS_LOG=false turns it off), "echo_p50_ms", "echo_p99_ms",
"echo_answered", "p50_ratio", "p99_ratio"}, and "fold_load_events_per_sec" with --fold-load
(events for the worker to fold meanwhile, published by bench/load.py in a process of its own).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from modelrouter.agents import SelectionClient
from modelrouter.agents.kafka import ensure_topics
from modelrouter.cli.worker_process import WorkerProcess, wait_until_answering
from modelrouter.schemas import (
    BaseAssignment,
    Constraints,
    ModelSpec,
    Scorecard,
    SelectionRequest,
    Settings,
    TaskInfo,
    TopicName,
    TopicSpec,
    encode,
)

ROOT = Path(__file__).resolve().parent.parent
PROVIDERS = ("openai", "anthropic", "google", "mistral", "ollama")
CAPABILITIES = ("chat", "tools", "vision", "json", "long-context")
TIERS = ("economy", "standard", "premium")
AGENTS = ("SA", "PM", "BA", "QA")


def models(n: int, rng: random.Random) -> list[ModelSpec]:
    out = []
    for i in range(n):
        caps = ("chat", *rng.sample(CAPABILITIES[1:], rng.randint(0, 3)))
        out.append(
            ModelSpec(
                model_id=f"bench-model-{i:02d}",
                provider=PROVIDERS[i % len(PROVIDERS)],
                capabilities=caps,
                tier=TIERS[i % len(TIERS)],
                context_window=rng.choice([8_192, 32_000, 128_000, 200_000, 1_000_000]),
                input_cost_per_1k=round(rng.uniform(0.0, 0.01), 5),
                output_cost_per_1k=round(rng.uniform(0.0, 0.03), 5),
            )
        )
    return out


def scorecard(model_id: str, rng: random.Random, now: datetime) -> Scorecard:
    requests = rng.randint(0, 2000)
    cooldown = now + timedelta(seconds=rng.uniform(1, 30)) if rng.random() < 0.05 else None
    return Scorecard(
        model_id=model_id,
        updated_at=now,
        requests=requests,
        successes=int(requests * rng.uniform(0.8, 1.0)),
        latency_p50_ms=rng.uniform(100, 1500),
        latency_p95_ms=rng.uniform(1500, 6000),
        quality_mean=rng.uniform(0.5, 0.95),
        cost_mean=rng.uniform(0.0, 0.05),
        cooldown_until=cooldown,
        failure_streak=rng.choice([0, 0, 0, 1, 2, 6]),
        last_failure_at=now - timedelta(seconds=rng.uniform(0, 120)),
    )


def request(
    i: int, reply_to: str, specs: list[ModelSpec], rng: random.Random, explore_share: float = 0.0
) -> SelectionRequest:
    """A mix of what agents ask: plain, with constraints, with a base assignment, other strategies;
    `explore_share` of them exploring (Thompson sampling, a Monte Carlo propensity in the log)."""
    primary, fallback = rng.sample(specs, 2)
    constraints = None
    if rng.random() < 0.6:
        constraints = Constraints(
            required_capabilities=tuple(rng.sample(CAPABILITIES[1:], rng.randint(0, 2))),
            excluded_providers=tuple(rng.sample(PROVIDERS, rng.randint(0, 1))),
            max_cost_per_request=rng.choice([None, 0.02, 0.05]),
            max_latency_ms=rng.choice([None, 5000.0]),
            min_success_rate=rng.choice([None, 0.85]),
        )
    return SelectionRequest(
        request_id=f"bench-{i}-{uuid.uuid4().hex[:8]}",
        reply_to=reply_to,
        agent_type=rng.choice(AGENTS),
        task=TaskInfo(
            task_id=f"task-{i}",
            estimated_input_tokens=rng.randint(100, 4000),
            estimated_output_tokens=rng.randint(50, 1500),
        ),
        base_assignment=BaseAssignment(
            role_type="bench",
            model_tier=primary.tier,
            primary_model=primary.model_id,
            fallback_model=fallback.model_id,
        )
        if rng.random() < 0.8
        else None,
        constraints=constraints,
        strategy=rng.choice(["balanced", "balanced", "cost", "latency", "quality"]),
        explore=rng.random() < explore_share,
    )


def percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


def machine(bootstrap: str) -> str:
    cpu = "unknown cpu"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    jars = sorted((ROOT / "kafka" / "lib").glob("kafka-server-*.jar"))
    match = re.search(r"kafka-server-([\d.]+)\.jar", jars[0].name) if jars else None
    kafka = f"Apache Kafka {match.group(1)} (kafka/lib)" if match else "Kafka (version unknown)"
    return (
        f"machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()} "
        f"({platform.python_implementation()}), {kafka} at {bootstrap}, "
        f"{platform.system()} {platform.release()}"
    )


@dataclass
class Run:
    sent_at: dict[str, tuple[float, float]] = field(default_factory=dict)  # (perf_counter, wall clock)
    latencies_ms: list[float] = field(default_factory=list)
    # The two legs, split at the reply's decided_at (the worker's clock: same host, same clock).
    to_decision_ms: list[float] = field(default_factory=list)
    from_decision_ms: list[float] = field(default_factory=list)
    window_ms: list[float] = field(default_factory=list)
    expected: int = 0
    sent: int = 0
    answered: int = 0
    unexpected: int = 0
    error_replies: int = 0
    max_send_lag_ms: float = 0.0
    all_answered: asyncio.Event = field(default_factory=asyncio.Event)


async def send_requests(
    producer: AIOKafkaProducer,
    topic: str,
    reply_to: str,
    specs: list[ModelSpec],
    run: Run,
    args: argparse.Namespace,
) -> None:
    rng = random.Random(args.seed)
    # Built beforehand: the client's own pydantic work must not count as latency.
    total = int(args.rate * args.seconds)
    payloads = [
        (r.request_id, encode(r))
        for r in (request(i, reply_to, specs, rng, args.explore) for i in range(total))
    ]
    # The prepared payloads live for the whole run: out of the collector's way, so the
    # client's own full collections do not show up as latency.
    gc.collect()
    gc.freeze()
    loop = asyncio.get_running_loop()
    interval = 1.0 / args.rate
    start = loop.time()
    for i, (request_id, value) in enumerate(payloads):
        due = start + i * interval
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            run.max_send_lag_ms = max(run.max_send_lag_ms, -delay * 1000.0)
        run.sent_at[request_id] = (time.perf_counter(), time.time())
        await producer.send(topic, value, key=request_id.encode())
        run.sent += 1


async def read_replies(consumer: AIOKafkaConsumer, run: Run) -> None:
    while True:
        batches = await consumer.getmany(timeout_ms=100)
        now, wall = time.perf_counter(), time.time()
        for records in batches.values():
            for record in records:
                key = record.key.decode() if record.key else ""
                sent = run.sent_at.pop(key, None)
                if sent is None:
                    run.unexpected += 1
                    continue
                reply = orjson.loads(record.value or b"{}")
                if reply.get("kind") == "error":
                    run.error_replies += 1
                elif decided := reply.get("decided_at"):
                    at = datetime.fromisoformat(decided).timestamp()
                    run.to_decision_ms.append((at - sent[1]) * 1000.0)
                    run.from_decision_ms.append((wall - at) * 1000.0)
                ms = (now - sent[0]) * 1000.0
                run.latencies_ms.append(ms)
                run.window_ms.append(ms)
                run.answered += 1
                if run.answered == run.expected:
                    run.all_answered.set()


async def update_scorecards(settings: Settings, specs: list[ModelSpec], per_second: float) -> None:
    """Keeps the scorecards live: a few models get a fresh scorecard every 100 ms."""
    rng = random.Random(1)
    producer = AIOKafkaProducer(**settings.aiokafka_kwargs())
    await producer.start()
    try:
        per_tick = max(1, round(per_second / 10))
        while True:
            now = datetime.now(UTC)
            for spec in rng.sample(specs, per_tick):
                card = scorecard(spec.model_id, rng, now)
                await producer.send(
                    settings.topic(TopicName.SCORECARDS), encode(card), key=spec.model_id.encode()
                )
            await asyncio.sleep(0.1)
    finally:
        await producer.stop()


async def report(run: Run, started: float) -> None:
    last_sent = 0
    while True:
        await asyncio.sleep(1.0)
        window = sorted(run.window_ms)
        run.window_ms.clear()
        print(
            f"t={time.perf_counter() - started:5.1f}s sent {run.sent:6d} (+{run.sent - last_sent:4d}) "
            f"answered {run.answered:6d} in flight {len(run.sent_at):5d} | last 1 s: "
            f"p50 {percentile(window, 0.5):6.2f} ms p99 {percentile(window, 0.99):6.2f} ms "
            f"max {window[-1] if window else float('nan'):6.2f} ms",
            flush=True,
        )
        last_sent = run.sent


async def publish_setup(settings: Settings, specs: list[ModelSpec], rng: random.Random) -> None:
    producer = AIOKafkaProducer(**settings.aiokafka_kwargs())
    await producer.start()
    try:
        now = datetime.now(UTC)
        for spec in specs:
            await producer.send(settings.topic(TopicName.REGISTRY), encode(spec), key=spec.model_id.encode())
            card = scorecard(spec.model_id, rng, now)
            await producer.send(
                settings.topic(TopicName.SCORECARDS), encode(card), key=spec.model_id.encode()
            )
        await producer.flush()
    finally:
        await producer.stop()


async def delete_topics(settings: Settings) -> None:
    """Removes this run's topics: its fresh prefix and the worker's changelogs."""
    admin = AIOKafkaAdminClient(**settings.aiokafka_kwargs(), client_id="bench-select-cleanup")
    await admin.start()
    try:
        ours = [
            n for n in await admin.list_topics() if n.startswith((settings.topic_prefix, settings.worker_id))
        ]
        if ours:
            await admin.delete_topics(sorted(ours))
    finally:
        await admin.close()


def latency_figures(run: Run) -> tuple[float, float, float]:
    lat = sorted(run.latencies_ms)
    return percentile(lat, 0.50), percentile(lat, 0.99), (lat[-1] if lat else float("nan"))


async def bench(args: argparse.Namespace, settings: Settings, workdir: Path) -> dict[str, float | int]:
    rng = random.Random(args.seed)
    reply_to = settings.topic(f"bench-replies-{uuid.uuid4().hex[:8]}")
    requests_topic = settings.topic(TopicName.SELECTION_REQUESTS)
    run = Run(expected=int(args.rate * args.seconds))
    echo = Run(expected=int(args.rate * args.seconds))
    load: subprocess.Popen[str] | None = None
    try:
        await ensure_topics(settings)
        await ensure_topics(settings, [TopicSpec(reply_to, 1, False, 600_000)])
        specs = models(args.models, rng)
        await publish_setup(settings, specs, rng)
        print(f"registered {len(specs)} models and their scorecards on {settings.topic_prefix!r}", flush=True)
        if args.fold_load:
            load = start_fold_load(settings, specs, args.fold_load)
        log = "on" if settings.decisions_log else "off (MODELROUTER_DECISIONS_LOG=false)"
        print(f"-- selection: the worker's responder, decisions log {log}", flush=True)
        await measure(args, settings, workdir, specs, requests_topic, reply_to, run)
        if not args.no_echo:
            print("-- baseline: a bare echo (bench/echo.py), same rate, same client", flush=True)
            await measure_echo(args, settings, workdir, specs, echo)
    finally:
        load_rate = stop_fold_load(load) if load is not None else None
        if args.fresh_prefix and not args.keep_topics:
            await delete_topics(settings)

    legs = [sorted(run.to_decision_ms), sorted(run.from_decision_ms)]
    print(
        "legs: request sent -> decided p50 {:.2f} ms p99 {:.2f} ms; decided -> reply read p50 {:.2f} ms "
        "p99 {:.2f} ms".format(*(percentile(leg, q) for leg in legs for q in (0.5, 0.99))),
        flush=True,
    )
    lat = sorted(run.latencies_ms)
    print(
        f"done: sent {run.sent}, answered {run.answered}, unanswered {len(run.sent_at)}, "
        f"error replies {run.error_replies}, client send lag max {run.max_send_lag_ms:.1f} ms, "
        f"p90 {percentile(lat, 0.90):.2f} ms, p99.9 {percentile(lat, 0.999):.2f} ms",
        flush=True,
    )
    p50, p99, top = latency_figures(run)
    result: dict[str, float | int] = {
        "p50_ms": round(p50, 3),
        "p99_ms": round(p99, 3),
        "max_ms": round(top, 3),
        "rate": args.rate,
        "sent": run.sent,
        "answered": run.answered,
        "decisions_log": int(settings.decisions_log),
    }
    if load_rate is not None:
        print(f"fold load: {load_rate:,.0f} task-completed events/s through both legs", flush=True)
        result["fold_load_events_per_sec"] = load_rate
    if not args.no_echo:
        e50, e99, _ = latency_figures(echo)
        print(
            f"selection p50 {p50:.2f} ms p99 {p99:.2f} ms | echo p50 {e50:.2f} ms p99 {e99:.2f} ms "
            f"({echo.answered}/{echo.sent} answered) | ratio p50 {p50 / e50:.2f}, p99 {p99 / e99:.2f}",
            flush=True,
        )
        result |= {
            "echo_p50_ms": round(e50, 3),
            "echo_p99_ms": round(e99, 3),
            "echo_answered": echo.answered,
            "p50_ratio": round(p50 / e50, 3),
            "p99_ratio": round(p99 / e99, 3),
        }
    return result


def start_fold_load(settings: Settings, specs: list[ModelSpec], rate: float) -> subprocess.Popen[str]:
    """bench/load.py in a process of its own: `rate` task-completed events/s for the worker to
    fold, through the selection leg and the echo's (the same machine load for both)."""
    print(f"fold load: {rate:,.0f} task-completed events/s from bench/load.py", flush=True)
    return subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "load.py"),
            "--prefix",
            settings.topic_prefix,
            "--rate",
            str(rate),
            "--models",
            ",".join(s.model_id for s in specs),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )


def stop_fold_load(load: subprocess.Popen[str]) -> float:
    """Stops bench/load.py; the rate it reached (events/s)."""
    load.terminate()
    out, _ = load.communicate(timeout=60)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if not lines:
        return 0.0
    reached = orjson.loads(lines[-1])
    if reached["failed"]:
        print(
            f"fold load: {reached['failed']:,} of {reached['sent']:,} events were not delivered", flush=True
        )
    return float(reached["rate"])


async def timed_load(
    args: argparse.Namespace,
    settings: Settings,
    requests_topic: str,
    reply_to: str,
    specs: list[ModelSpec],
    run: Run,
    ready: Callable[[AIOKafkaProducer, AIOKafkaConsumer], Awaitable[float]],
    background: Sequence[Coroutine[Any, Any, None]] = (),
) -> None:
    """The timed load: `ready` waits until the answering side answers (its seconds are
    printed), then requests go out at --rate for --seconds while the replies are timed."""
    producer = AIOKafkaProducer(**settings.aiokafka_kwargs(), linger_ms=args.linger_ms, acks=1)
    consumer = AIOKafkaConsumer(**settings.aiokafka_kwargs(), enable_auto_commit=False, fetch_max_wait_ms=100)
    tasks: list[asyncio.Task[None]] = []
    try:
        await producer.start()
        await consumer.start()
        for _ in range(100):  # a topic created a moment ago reaches a client's metadata a bit later
            if reply_to in await consumer.topics():
                break
            await asyncio.sleep(0.1)
        tp = TopicPartition(reply_to, 0)
        consumer.assign([tp])
        await consumer.seek_to_end(tp)
        took = await ready(producer, consumer)
        print(f"answering after {took:.1f} s; sending {args.rate}/s for {args.seconds} s", flush=True)
        started = time.perf_counter()
        tasks = [
            asyncio.create_task(read_replies(consumer, run)),
            asyncio.create_task(report(run, started)),
            *(asyncio.create_task(job) for job in background),
        ]
        await send_requests(producer, requests_topic, reply_to, specs, run, args)
        await producer.flush()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(run.all_answered.wait(), timeout=args.drain_s)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for job in background:
            job.close()  # never started if the load did not get that far
        await producer.stop()
        await consumer.stop()


async def measure(
    args: argparse.Namespace,
    settings: Settings,
    workdir: Path,
    specs: list[ModelSpec],
    requests_topic: str,
    reply_to: str,
    run: Run,
) -> None:
    """Starts the worker (unless --no-worker), waits until it answers, then runs the timed load."""
    worker = None
    if not args.no_worker:
        worker = WorkerProcess(settings, workdir / "worker.log", loglevel="warning")
        worker.start()
        print(f"started a worker (pid {worker.pid}, log {worker.log_path})", flush=True)

    async def ready(producer: AIOKafkaProducer, consumer: AIOKafkaConsumer) -> float:
        async with SelectionClient(settings) as client:
            return await wait_until_answering(client, worker, args.startup_timeout)

    try:
        updates = update_scorecards(settings, specs, args.scorecard_updates)
        await timed_load(args, settings, requests_topic, reply_to, specs, run, ready, [updates])
    finally:
        if worker is not None:
            exited = worker.returncode
            worker.stop()
            if run.sent_at or exited is not None:
                print(f"worker (exit code {exited}) log tail:\n{worker.log_tail(40)}", flush=True)


async def measure_echo(
    args: argparse.Namespace, settings: Settings, workdir: Path, specs: list[ModelSpec], run: Run
) -> None:
    """The same load against bench/echo.py: a bare consumer answering each request at once."""
    requests_topic = settings.topic("echo-requests")
    reply_to = settings.topic(f"echo-replies-{uuid.uuid4().hex[:8]}")
    await ensure_topics(
        settings,
        [
            TopicSpec(requests_topic, settings.partitions, False, 600_000),
            TopicSpec(reply_to, 1, False, 600_000),
        ],
    )
    log_path = workdir / "echo.log"
    with log_path.open("ab") as log:
        echo = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).with_name("echo.py")),
                "--bootstrap-servers",
                settings.bootstrap_servers,
                "--topic",
                requests_topic,
                "--group",
                f"{settings.app_id}-echo",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    async def ready(producer: AIOKafkaProducer, consumer: AIOKafkaConsumer) -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        while loop.time() - start < args.startup_timeout:
            if echo.poll() is not None:
                raise RuntimeError(f"the echo exited with {echo.returncode}; see {log_path}")
            probe = f"echo-probe-{uuid.uuid4().hex[:8]}".encode()
            await producer.send(requests_topic, orjson.dumps({"reply_to": reply_to}), key=probe)
            deadline = loop.time() + 1.0
            while loop.time() < deadline:
                for records in (await consumer.getmany(timeout_ms=100)).values():
                    if any(r.key == probe for r in records):
                        return loop.time() - start
        raise TimeoutError(f"the echo did not answer within {args.startup_timeout:.0f} s")

    try:
        await timed_load(args, settings, requests_topic, reply_to, specs, run, ready)
    finally:
        echo.terminate()
        echo.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=500.0, help="requests per second (default 500)")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to send (default 20)")
    parser.add_argument("--models", type=int, default=50, help="models in the registry (default 50)")
    parser.add_argument(
        "--scorecard-updates", type=float, default=50.0, help="scorecards published per second during the run"
    )
    parser.add_argument("--prefix", help="topic prefix (default: a fresh bench.select.<id>. prefix)")
    parser.add_argument("--no-worker", action="store_true", help="use a worker already running on --prefix")
    parser.add_argument("--no-echo", action="store_true", help="skip the bare echo baseline")
    parser.add_argument(
        "--keep-topics", action="store_true", help="do not delete the bench topics afterwards"
    )
    parser.add_argument("--linger-ms", type=int, default=0, help="the client producer's linger")
    parser.add_argument("--drain-s", type=float, default=5.0, help="how long to wait for the last replies")
    parser.add_argument("--startup-timeout", type=float, default=90.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--explore",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share of requests that explore (default 0)",
    )
    parser.add_argument(
        "--fold-load",
        type=float,
        default=0.0,
        metavar="EVENTS_PER_S",
        help="task-completed events/s for the worker to fold meanwhile (bench/load.py; default none)",
    )
    args = parser.parse_args(argv)
    if args.no_worker and not args.prefix:
        parser.error("--no-worker needs --prefix (the running worker's MODELROUTER_TOPIC_PREFIX)")
    if args.rate <= 0 or args.seconds <= 0 or args.models < 2:
        parser.error("--rate and --seconds must be > 0 and --models >= 2")
    if not 0.0 <= args.explore <= 1.0:
        parser.error(f"--explore is a share of requests, from 0 to 1; got {args.explore}")

    tag = uuid.uuid4().hex[:8]
    args.fresh_prefix = not args.prefix
    with tempfile.TemporaryDirectory(prefix="bench-select-") as tmp:
        overrides: dict[str, object] = {"data_dir": Path(tmp) / "worker"}
        if not args.no_worker:
            overrides |= {
                "topic_prefix": args.prefix or f"bench.select.{tag}.",
                "app_id": f"bench-select-{tag}",
            }
        elif args.prefix:
            overrides["topic_prefix"] = args.prefix
        settings = Settings(**overrides)
        print(machine(settings.bootstrap_servers), flush=True)
        budget = 2 * (args.seconds + args.startup_timeout + args.drain_s) + 60
        result = asyncio.run(asyncio.wait_for(bench(args, settings, Path(tmp)), timeout=budget))
    print(orjson.dumps(result).decode(), flush=True)
    return 0 if result["answered"] == result["sent"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
