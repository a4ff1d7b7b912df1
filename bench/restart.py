"""Restart benchmark: how soon a worker serves up-to-date summaries after a restart with history.

Builds history (default 1,000,000 events over the last 24 hours of event time, 50 models,
8 agent types) by running a worker until it has folded everything, stops it, then starts
it again on the same state folder and measures, from the new process's start: when it is
consuming again, and when a probe event published right after the restart shows up in a
provisional 5m summary on the summaries topic. With --cold the restart gets an empty state
folder, so it restores every table from its changelog. Last line: JSON.

    .venv/bin/python bench/restart.py [--events N] [--cold]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from ingest import committed, end_offsets, machine

from modelrouter.agents import EventPublisher
from modelrouter.agents.workload import Workload
from modelrouter.cli.worker_process import WorkerProcess
from modelrouter.schemas import EVENT_TOPICS, Settings, WindowSummary, decode

ROOT = Path(__file__).resolve().parent.parent


def memory_mb(pid: int) -> tuple[float, float]:
    """(resident, peak resident) memory of a process in MB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


async def wait_folded(
    settings: Settings, tps: list[TopicPartition], total: int, proc: WorkerProcess, timeout_s: float
) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        done = await committed(settings, tps)
        print(f"  folded (committed) {done:,} / {total:,}", flush=True)
        if done >= total:
            return time.monotonic() - started
        if not proc.alive:
            raise SystemExit(f"the worker exited with {proc.returncode}")
        await asyncio.sleep(5.0)
    raise SystemExit("timed out building history")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--hours", type=float, default=24.0, help="event time the history spans")
    parser.add_argument("--cold", action="store_true", help="restart with an empty state folder")
    parser.add_argument("--timeout", type=float, default=3600.0)
    args = parser.parse_args()

    stamp = time.strftime("%Y%m%d-%H%M%S")
    data = ROOT / ".modelrouter" / f"bench-restart-{stamp}"
    settings = Settings(
        topic_prefix=f"bench-restart-{stamp}.", app_id=f"bench-restart-{stamp}", data_dir=data
    )
    log_path = ROOT / ".modelrouter" / f"bench-restart-{stamp}-worker.log"
    print(f"machine: {machine()}")
    span = args.hours * 3600
    workload = Workload(
        models=args.models,
        agent_types=args.agents,
        seed=9,
        span_s=span,
        start=datetime.now(UTC) - timedelta(seconds=span + 60),
    )
    print(f"publishing {args.events:,} events of history over {args.hours:g} h of event time ...", flush=True)
    async with EventPublisher(settings, linger_ms=50) as pub:
        for i, ev in enumerate(workload.events(args.events), 1):
            await pub.publish(ev, wait=False)
            if i % 200_000 == 0:
                print(f"  published {i:,}", flush=True)
    ends = await end_offsets(settings, [settings.topic(t) for t in EVENT_TOPICS])
    total = sum(ends.values())
    proc = WorkerProcess(settings, log_path)
    proc.start()
    print(f"building history with one worker (log {log_path}) ...", flush=True)
    try:
        took = await wait_folded(settings, list(ends), total, proc, args.timeout)
        await asyncio.sleep(15)  # let the timer build the trailing windows over the whole history
        rss_mb, peak_mb = memory_mb(proc.pid or 0)
    finally:
        proc.stop(timeout_s=120)
    print(
        f"history folded in {took:.0f} s; worker RSS {rss_mb:.0f} MB (peak {peak_mb:.0f} MB); worker stopped"
    )
    if args.cold:
        shutil.rmtree(data, ignore_errors=True)
        print("state folder removed: the restart restores every table from its changelog")

    summaries = settings.topic("summaries")
    tail = AIOKafkaConsumer(**settings.aiokafka_kwargs(), enable_auto_commit=False, fetch_max_wait_ms=100)
    await tail.start()
    meta = await tail._client.fetch_all_metadata()
    tps = [TopicPartition(summaries, p) for p in sorted(meta.partitions_for_topic(summaries) or ())]
    tail.assign(tps)
    await tail.seek_to_end(*tps)

    restarted = time.monotonic()
    proc = WorkerProcess(settings, log_path)
    proc.start()
    probe_at = datetime.now(UTC)
    async with EventPublisher(settings) as pub:
        probe = await pub.task_completed(
            agent_type="PROBE",
            task_id="probe",
            model_id="probe-model",
            provider="bench",
            success=True,
            latency_ms=1.0,
            cost=0.0,
            input_tokens=1,
            output_tokens=1,
            occurred_at=probe_at,
        )
    first_summary = fresh = None
    try:
        while time.monotonic() - restarted < 600 and fresh is None:
            for records in (await tail.getmany(timeout_ms=500)).values():
                for r in records:
                    if r.value is None:
                        continue
                    s = decode(WindowSummary, r.value)
                    if first_summary is None and not s.final:
                        first_summary = time.monotonic() - restarted
                    if s.model_id == probe.model_id and s.window == "5m" and s.requests >= 1:
                        fresh = time.monotonic() - restarted
            if not proc.alive:
                raise SystemExit(f"the restarted worker exited with {proc.returncode}; see {log_path}")
    finally:
        await tail.stop()
        proc.stop(timeout_s=120)
    indexed = [line for line in log_path.read_text(errors="replace").splitlines() if "indexed" in line]
    print(indexed[-1] if indexed else "no index line in the log")
    nan = float("nan")
    print(
        f"restart ({'cold' if args.cold else 'warm'}): first provisional summary after "
        f"{first_summary or nan:.1f} s; probe event in a 5m summary after {fresh or nan:.1f} s"
    )
    print(
        json.dumps(
            {
                "history_events": total,
                "history_hours": args.hours,
                "worker_rss_mb": round(rss_mb),
                "worker_peak_rss_mb": round(peak_mb),
                "restart": "cold" if args.cold else "warm",
                "first_summary_s": round(first_summary, 2) if first_summary else None,
                "fresh_summary_s": round(fresh, 2) if fresh else None,
            }
        )
    )
    return 0 if fresh is not None else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
