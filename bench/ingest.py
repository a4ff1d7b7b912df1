"""Ingest benchmark: how fast one worker folds events, next to a bare consumer's ceiling.

Publishes N events (default 500,000: ~90% task-completed over 50 models and 8 agent
types) to a fresh topic prefix on the real broker, measures a bare aiokafka consumer
reading and decoding the same topics (the ceiling), then starts one worker and measures
events folded per second from its first to its last table write (changelog record
timestamps). Prints the machine, progress, and a last line of JSON.

Beside the rates, the CPU time each side spent per event (the bare consumer's in this
process; the worker's from /proc, between the first progress poll that saw events committed
and the last): on a shared machine the rates move with the neighbours, CPU per event much less.

    .venv/bin/python bench/ingest.py [--events N] [--profile worker.prof]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from modelrouter.agents import EventPublisher
from modelrouter.agents.workload import Workload
from modelrouter.cli.worker_process import WorkerProcess
from modelrouter.schemas import EVENT_TOPICS, Settings, decode_event
from modelrouter.streams.checkpoint import progress_group

ROOT = Path(__file__).resolve().parent.parent


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    python = platform.python_version()
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {python}, {platform.system()}"


async def publish(settings: Settings, n: int, models: int, agents: int, span_s: float) -> float:
    workload = Workload(models=models, agent_types=agents, seed=3, span_s=span_s)
    started = time.perf_counter()
    async with EventPublisher(settings, linger_ms=50) as pub:
        for i, ev in enumerate(workload.events(n), 1):
            await pub.publish(ev, wait=False)
            if i % 100_000 == 0:
                print(f"  published {i:,} events", flush=True)
    return time.perf_counter() - started


async def end_offsets(settings: Settings, topics: list[str]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(**settings.aiokafka_kwargs())
    await consumer.start()
    try:
        meta = await consumer._client.fetch_all_metadata()
        tps = [TopicPartition(t, p) for t in topics for p in sorted(meta.partitions_for_topic(t) or ())]
        return dict(await consumer.end_offsets(tps))
    finally:
        await consumer.stop()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process `pid` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def ceiling(settings: Settings, topics: list[str], total: int) -> tuple[float, float]:
    """Events/s a bare consumer reads and decodes (with the same codec) from the same topics,
    and the CPU seconds it spent per event."""
    consumer = AIOKafkaConsumer(
        *topics,
        **settings.aiokafka_kwargs(),
        group_id=f"{settings.worker_id}-ceiling",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 2**20,
    )
    await consumer.start()
    seen = 0
    started: float | None = None
    cpu_started = 0.0
    try:
        while seen < total:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            if started is None and batches:
                started, cpu_started = time.perf_counter(), time.process_time()
            for records in batches.values():
                for r in records:
                    decode_event(r.value)
                seen += len(records)
    finally:
        await consumer.stop()
    assert started is not None
    return total / (time.perf_counter() - started), (time.process_time() - cpu_started) / total


async def committed(settings: Settings, tps: list[TopicPartition]) -> int:
    admin = AIOKafkaAdminClient(**settings.aiokafka_kwargs())
    await admin.start()
    try:
        # The event readers commit their progress to this group (streams/event_reader.py).
        offsets = await admin.list_consumer_group_offsets(progress_group(settings))
        return sum(offsets[tp].offset for tp in tps if tp in offsets and offsets[tp].offset > 0)
    finally:
        await admin.close()


async def changelog_span(settings: Settings) -> tuple[float, float, int]:
    """(first, last) producer timestamps of the bucket-table changelog, in seconds, and its size."""
    topic = f"{settings.worker_id}-buckets-changelog"
    consumer = AIOKafkaConsumer(**settings.aiokafka_kwargs(), enable_auto_commit=False)
    await consumer.start()
    try:
        meta = await consumer._client.fetch_all_metadata()
        tps = [TopicPartition(topic, p) for p in sorted(meta.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        first, last, count = float("inf"), 0.0, 0
        remaining = {tp for tp in tps if ends[tp] > 0}
        while remaining:
            for tp, records in (await consumer.getmany(timeout_ms=1000, max_records=10_000)).items():
                for r in records:
                    first, last, count = min(first, r.timestamp), max(last, r.timestamp), count + 1
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return first / 1000, last / 1000, count
    finally:
        await consumer.stop()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument(
        "--span",
        type=float,
        default=600.0,
        help="seconds of event time the events spread over (default 600: a live fleet)",
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="give up after this many seconds")
    parser.add_argument("--profile", type=Path, help="run the worker under cProfile, writing stats here")
    parser.add_argument(
        "--keep", action="store_true", help="keep the run's topics and worker state (default: delete them)"
    )
    args = parser.parse_args()

    stamp = time.strftime("%Y%m%d-%H%M%S")
    settings = Settings(
        topic_prefix=f"bench-ingest-{stamp}.",
        app_id=f"bench-ingest-{stamp}",
        data_dir=ROOT / ".modelrouter" / f"bench-ingest-{stamp}",
        partitions=args.partitions,
    )
    try:
        return await run(args, settings, stamp)
    finally:
        if not args.keep:
            # A broker that keeps every run's topics gets slower to serve them all.
            await delete_topics(settings)
            shutil.rmtree(settings.data_dir, ignore_errors=True)
            print(f"deleted the run's topics ({settings.topic_prefix}*) and worker state; --keep keeps them")


async def delete_topics(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(**settings.aiokafka_kwargs(), client_id="bench-ingest-cleanup")
    await admin.start()
    try:
        ours = [n for n in await admin.list_topics() if n.startswith(settings.topic_prefix)]
        if ours:
            await admin.delete_topics(sorted(ours))
    finally:
        await admin.close()


async def run(args: argparse.Namespace, settings: Settings, stamp: str) -> int:
    print(f"machine: {machine()}")
    print(
        f"broker: {settings.bootstrap_servers}; topics {settings.topic_prefix}*; {args.partitions} partitions"
    )
    print(f"publishing {args.events:,} events ...", flush=True)
    took = await publish(settings, args.events, args.models, args.agents, args.span)
    print(f"published in {took:.1f} s ({args.events / took:,.0f} events/s)")
    topics = [settings.topic(t) for t in EVENT_TOPICS]
    ends = await end_offsets(settings, topics)
    total = sum(ends.values())
    ceiling_rate, ceiling_cpu = await ceiling(settings, topics, total)
    print(
        f"ceiling: a bare aiokafka consumer decoding the same records: {ceiling_rate:,.0f} events/s",
        flush=True,
    )

    profile = ("-m", "cProfile", "-o", str(args.profile)) if args.profile else ()
    log_path = ROOT / ".modelrouter" / f"bench-ingest-{stamp}-worker.log"
    worker = WorkerProcess(settings, log_path, loglevel="warning", python_options=profile)
    worker.start()
    print(f"worker started (log {log_path}); waiting until it has committed all {total:,} offsets ...")
    deadline = time.monotonic() + args.timeout
    done = 0
    first_seen: tuple[int, float] | None = None  # (events committed, worker CPU s) at the first progress
    worker_cpu = float("nan")
    try:
        while time.monotonic() < deadline:
            await asyncio.sleep(2.0)
            done = await committed(settings, list(ends))
            cpu = cpu_seconds(worker.pid) if worker.alive and worker.pid is not None else float("nan")
            print(f"  committed {done:,} / {total:,}", flush=True)
            if first_seen is None and done > 0:
                first_seen = (done, cpu)
            if done >= total:
                if first_seen is not None and done > first_seen[0]:
                    worker_cpu = (cpu - first_seen[1]) / (done - first_seen[0])
                break
            if not worker.alive:
                print(f"the worker exited with {worker.returncode}; see {log_path}")
                return 1
    finally:
        worker.stop(timeout_s=60)
    if done < total:
        print("timed out")
        return 1
    first, last, writes = await changelog_span(settings)
    rate = total / (last - first) if last > first else float("nan")
    print(
        f"worker: folded {total:,} events between its first and last table write: {last - first:.1f} s, "
        f"{rate:,.0f} events/s; {writes:,} changelog records"
    )
    print(
        f"CPU per event: worker {worker_cpu * 1e6:.1f} us, bare consumer {ceiling_cpu * 1e6:.1f} us "
        f"(ratio {ceiling_cpu / worker_cpu:.3f})"
    )
    print(
        json.dumps(
            {
                "events_per_sec": round(rate),
                "ceiling_events_per_sec": round(ceiling_rate),
                "ratio": round(rate / ceiling_rate, 4),
                "worker_cpu_us_per_event": round(worker_cpu * 1e6, 1),
                "ceiling_cpu_us_per_event": round(ceiling_cpu * 1e6, 1),
                "cpu_ratio": round(ceiling_cpu / worker_cpu, 4),
                "events": total,
                "workers": 1,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
