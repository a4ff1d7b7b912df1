"""run_demo: the broker, a worker on a fresh topic prefix, the registry, the fleet under the live
view, and the report that sets selection beside the fixed assignment over the same tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal, TextIO

from aiokafka.errors import KafkaConnectionError
from rich.console import Console

from modelrouter.agents import (
    FailoverManager,
    HealthChecker,
    ModelOptimizer,
    ModelRegistry,
    ModelSelector,
    PerformanceMonitor,
    RateLimiter,
    ScorecardBoard,
)
from modelrouter.agents.kafka import ensure_topics
from modelrouter.agents.selection_client import SelectionClient, Strategy
from modelrouter.schemas import ConfigurationError, Settings, utc_now
from modelrouter.streams.table_totals import bucket_totals

from ..worker_process import WorkerProcess, wait_until_answering
from .analysis import percentile, policy_stats, selection_shift, share_per_second
from .baseline import fixed_plan, replay_fixed
from .fleet import CountingPublisher, Fleet
from .live import LiveView, PlainProgress, RichView, snapshot
from .processes import DemoError, ensure_broker
from .report import DemoReport, render_report
from .timeline import Timeline
from .world import SimTask, TaskResult, World, fleet_agents, task_stream

__all__ = ["View", "demo_settings", "run_demo"]

log = logging.getLogger("modelrouter.demo")

View = Literal["auto", "rich", "plain", "none"]

# Short buckets and circuits, so a one-minute run shows summaries closing and selection recovering.
BUCKET_SECONDS = 10
GRACE_SECONDS = 2
CIRCUIT_OPEN_S = 5.0
# A reply takes a few ms; a generous deadline keeps fallbacks for a worker that is really gone.
SELECTION_DEADLINE_MS = 1000
WORKER_READY_TIMEOUT_S = 120.0
MAX_RETRIES = 3
MAX_RATE = 100.0


class _Silent:
    """The view for runs that show nothing while they go (tests)."""

    def __enter__(self) -> _Silent:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, snap: object) -> None:
        return None


def demo_settings(settings: Settings, run_dir: Path, tag: str) -> Settings:
    """The demo's settings: the caller's connection, with its own topics, group and state folder,
    and windows short enough to move within a minute."""
    return settings.model_copy(
        update={
            "topic_prefix": f"demo-{tag}.",
            "app_id": f"demo-{tag}",
            "data_dir": run_dir / "worker",
            "bucket_seconds": BUCKET_SECONDS,
            "grace_seconds": GRACE_SECONDS,
            "circuit_open_s": CIRCUIT_OPEN_S,
            "selection_deadline_ms": SELECTION_DEADLINE_MS,
            # A minute-long demo needs scorecards that forget an outage within seconds.
            "scorecard_window_s": 30,
            # The worker's dashboard and metrics: the caller's port, or a free one.
            "metrics_port": settings.metrics_port or _free_port(settings.metrics_host),
        }
    )


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _log_to(path: Path) -> Iterator[None]:
    """modelrouter's and aiokafka's log records go to `path` while the demo runs, not to the
    terminal the live view draws on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    saved = []
    for name, level in (("modelrouter", logging.INFO), ("aiokafka", logging.WARNING)):
        logger = logging.getLogger(name)
        saved.append((logger, logger.level, logger.propagate))
        logger.setLevel(level)
        logger.propagate = False
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger, level, propagate in saved:
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate
        handler.close()


def _view(view: View, out: TextIO) -> LiveView | _Silent:
    if view == "none":
        return _Silent()
    if view == "rich" or (view == "auto" and out.isatty()):
        return RichView(Console(file=out))
    return PlainProgress(out)


async def _worker_counted(settings: Settings, published: int, timeout_s: float = 15.0) -> int | None:
    """Task-completed events the worker folded (its bucket table), once it has them all or at the timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    counted: int | None = None
    while True:
        try:
            counted = sum(t["requests"] for t in (await bucket_totals(settings)).values())
        except Exception as exc:  # a tally for the report, not the demo's result: say so and go on
            log.warning("could not read the worker's bucket table: %s", exc)
        if (counted is not None and counted >= published) or loop.time() >= deadline:
            return counted
        await asyncio.sleep(0.5)


async def run_demo(
    settings: Settings,
    seconds: float = 60.0,
    seed: int = 7,
    *,
    rate: float = 30.0,
    timeline: Timeline | None = None,
    view: View = "auto",
    out: TextIO | None = None,
    run_dir: Path | None = None,
    start_broker: bool = True,
    strategy: Strategy | None = None,
) -> DemoReport:
    """Run the demo and return its report (also printed to `out`, and written as JSON to the run folder).

    `settings` give the connection (bootstrap servers, security); the demo picks its own topic
    prefix, group id and worker state under `run_dir` (default .modelrouter/demo-<time>/).
    `timeline` defaults to Timeline.scaled(seconds). `strategy`, when given, is the one every
    agent asks for (else each its own, world.AGENTS). Stops the worker it started, never the broker.
    """
    out = out if out is not None else sys.stdout
    if timeline is None:
        timeline = Timeline.scaled(seconds)
    seconds = timeline.seconds
    if not 0 < rate <= MAX_RATE:
        raise ConfigurationError(f"the task rate must be in (0, {MAX_RATE:g}] tasks/s, got {rate:g}")
    tag = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    run_dir = (run_dir if run_dir is not None else Path(".modelrouter") / f"demo-{tag}").resolve()
    cfg = demo_settings(settings, run_dir, tag)

    registry = ModelRegistry(settings=cfg)  # the sample registry, config/model_registry.json
    models = dict(registry.models)
    if not any(m.provider == timeline.outage_provider for m in models.values()):
        raise ConfigurationError(
            f"no model of provider {timeline.outage_provider!r} in {registry.config_path}"
        )
    if timeline.storm_model not in models:
        raise ConfigurationError(f"storm model {timeline.storm_model!r} is not in {registry.config_path}")
    optimizer = ModelOptimizer(registry=models)
    world = World(seed, timeline, models)
    agents = fleet_agents(optimizer.agent_types)
    if strategy is not None:
        agents = tuple(dataclasses.replace(a, strategy=strategy) for a in agents)
    tasks = task_stream(seed, seconds, rate, agents)

    demo_log, worker_log = run_dir / "demo.log", run_dir / "worker.log"
    with _log_to(demo_log):
        broker_stop = await ensure_broker(cfg, out) if start_broker else None
        try:
            await ensure_topics(cfg)
        except KafkaConnectionError as exc:
            raise DemoError(
                f"cannot reach Kafka at {cfg.bootstrap_servers} ({exc}); check "
                "MODELROUTER_BOOTSTRAP_SERVERS, or unset it to let the demo start a local broker"
            ) from exc
        print(
            f"modelrouter demo: {len(tasks):,} tasks over {seconds:g} s from {len(agents)} agent types; "
            f"topics {cfg.topic_prefix}*\n"
            f"  timeline: {timeline.describe()}\n"
            f"  watch the summaries in another terminal: modelrouter tail --topic-prefix {cfg.topic_prefix}\n"
            f"  dashboard: http://{cfg.metrics_host}:{cfg.metrics_port}/ (Prometheus metrics at /metrics)\n"
            f"  worker log: {worker_log}",
            file=out,
            flush=True,
        )
        update = await registry.publish()
        print(f"registry: {len(update.published)} models published to {registry.topic}", file=out, flush=True)
        worker = WorkerProcess(cfg, worker_log)
        worker.start()
        print(
            f"worker started (pid {worker.pid}); waiting until it answers selections ...",
            file=out,
            flush=True,
        )
        try:
            fleet, published, counted = await _run_fleet(
                cfg, registry, optimizer, world, tasks, worker, view, out
            )
        finally:
            code = await asyncio.to_thread(worker.stop)
            log.info("worker %s stopped with code %s", worker.pid, code)

    results = [
        fleet.records.results.get(t.index) or TaskResult(t.index, t.at_s, t.agent_type, (), False)
        for t in tasks
    ]
    plan = fixed_plan(optimizer)
    policies = (
        policy_stats("selection", "selection", results, timeline),
        policy_stats(
            "fixed", "fixed primary", replay_fixed(world, tasks, plan, with_fallback=False), timeline
        ),
        policy_stats(
            "fixed+fallback",
            "fixed + fallback",
            replay_fixed(world, tasks, plan, with_fallback=True),
            timeline,
        ),
    )
    records = fleet.records
    outage_models = {m for m, spec in models.items() if spec.provider == timeline.outage_provider}
    storm_models = {timeline.storm_model}
    shifts = (
        selection_shift(
            timeline.outage_provider,
            "outage",
            outage_models,
            timeline.outage,
            timeline.late_warm_up,
            timeline.recovery_after(timeline.outage),
            records.selections,
            records.calls,
            records.rejections,
        ),
        selection_shift(
            timeline.storm_model,
            "rate-limit storm",
            storm_models,
            timeline.storm,
            timeline.late_warm_up,
            timeline.recovery_after(timeline.storm),
            records.selections,
            records.calls,
            records.rejections,
        ),
    )
    trips = [s.round_trip_ms for s in records.selections if not s.fallback_used]
    report = DemoReport(
        seed=seed,
        seconds=seconds,
        rate=rate,
        timeline=timeline,
        agent_types=tuple(a.agent_type for a in agents),
        tasks=len(tasks),
        policies=policies,
        shifts=shifts,
        selections=len(records.selections),
        selection_fallbacks=sum(s.fallback_used for s in records.selections),
        round_trip_p50_ms=percentile(trips, 0.5),
        round_trip_p95_ms=percentile(trips, 0.95),
        unfinished=sum(not r.finished for r in results),
        events=published,
        worker_counted=counted,
        topic_prefix=cfg.topic_prefix,
        broker_stop_command=broker_stop,
        run_dir=str(run_dir),
        worker_log=str(worker_log),
        demo_log=str(demo_log),
        report_json=str(run_dir / "report.json"),
        share_series={
            timeline.outage_provider: share_per_second(records.selections, outage_models, seconds),
            timeline.storm_model: share_per_second(records.selections, storm_models, seconds),
        },
    )
    report.write_json()
    print("\n" + render_report(report), file=out, flush=True)
    return report


async def _run_fleet(
    cfg: Settings,
    registry: ModelRegistry,
    optimizer: ModelOptimizer,
    world: World,
    tasks: Sequence[SimTask],
    worker: WorkerProcess,
    view: View,
    out: TextIO,
) -> tuple[Fleet, dict[str, int], int | None]:
    """Connect the agents' side, wait for the worker, run the fleet under the live view."""
    base = optimizer.assignment_for("SA").to_base_assignment()
    board = ScorecardBoard(cfg)
    async with (
        CountingPublisher(cfg, client_id="modelrouter-demo") as publisher,
        SelectionClient(cfg, lookup=registry.get) as client,
    ):
        ready_s = await wait_until_answering(
            client, worker, WORKER_READY_TIMEOUT_S, base=base, agent_type="demo"
        )
        print(
            f"worker answering selections after {ready_s:.1f} s; starting the fleet\n", file=out, flush=True
        )
        await board.start()
        monitor = PerformanceMonitor(cfg, registry=registry, publisher=publisher, client=client)
        selector = ModelSelector(
            registry,
            HealthChecker(registry, cfg, scorecards=board),
            RateLimiter(registry, cfg, scorecards=board),
            monitor,
            settings=cfg,
            client=client,
        )
        failover = FailoverManager(selector, max_retries=MAX_RETRIES, publisher=publisher)
        fleet = Fleet(
            world,
            tasks,
            optimizer,
            client,
            failover,
            deadline_ms=cfg.selection_deadline_ms,
            lookup=dict(registry.models),
        )
        try:
            with _view(view, out) as live:

                def refresh() -> None:
                    live.update(
                        snapshot(
                            fleet.elapsed(),
                            world.timeline,
                            fleet.records,
                            board.snapshot(),
                            cfg,
                            utc_now(),
                            publisher.published,
                        )
                    )

                async def refresher() -> None:
                    while True:
                        refresh()
                        await asyncio.sleep(0.25)

                painter = asyncio.create_task(refresher(), name="demo-live-view")
                try:
                    await fleet.run()
                finally:
                    painter.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await painter
                refresh()
            await publisher.flush()
            counted = await _worker_counted(cfg, publisher.published["task_completed"])
        finally:
            await failover.close()
            await selector.close()
            await monitor.close()
            await board.close()
    return fleet, dict(publisher.published), counted
