"""Selection answered in a process of its own (MODELROUTER_SELECTION_PROCESS=true).

The responder needs none of the worker's tables: it reads the registry, scorecards and
summaries topics itself. In the worker's event loop it shares one core with the folds, and a
worker folding thousands of events a second holds each request back behind a fold batch
(docs/benchmarks.md, selection with fold load). Here the worker starts this module as a child
(`python -m modelrouter.streams.responder_process`, configured by the same MODELROUTER_*
variables), restarts it if it dies, and stops it with itself. The child writes a snapshot of
its ResponderStats as one JSON line a second on its stdout; the worker adopts each one, so its
metrics and dashboard count the child's answers. The child ends when its stdin closes: a
worker killed with SIGKILL leaves no responder behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import threading
from collections import Counter
from dataclasses import asdict
from typing import Any

import faust

from modelrouter.schemas import Settings, dumps, loads

from .decision_publisher import DecisionCounts
from .histogram import LatencyHistogram
from .selection import ResponderStats, SelectionResponder, report_stats

__all__ = ["register_selection_process", "stats_from_line", "stats_line"]

log = logging.getLogger("modelrouter.streams.responder_process")

_SNAPSHOT_EVERY_S = 1.0
_REPORT_EVERY_S = 10.0
_RESTART_AFTER_S = 1.0
_LOGLEVEL = "MODELROUTER_RESPONDER_LOGLEVEL"  # the worker's, handed on (not a Settings field)
_STOP_WITHIN_S = 10.0
_COUNTS = (
    "requests",
    "selections",
    "fallbacks",
    "summaries",
    "health_queries",
    "error_replies",
    "dead_lettered",
    "failed_sends",
    "budget_rejections",
    "reservations_failed",
    "reservations_withdrawn",
    "late_unreserved",
)


def stats_line(stats: ResponderStats) -> bytes:
    """The counters of `stats` as one JSON line (the timings of the log report stay in the child)."""
    data: dict[str, Any] = {name: getattr(stats, name) for name in _COUNTS}
    data["selected_by_model"] = dict(stats.selected_by_model)
    data["decisions"] = asdict(stats.decisions)
    data["latency"] = {"counts": stats.latency.counts, "total_s": stats.latency.total_s}
    return dumps(data) + b"\n"


def stats_from_line(line: bytes) -> ResponderStats:
    """The ResponderStats that `stats_line` wrote."""
    data = loads(line)
    stats = ResponderStats(
        selected_by_model=Counter({str(k): int(v) for k, v in data["selected_by_model"].items()}),
        decisions=DecisionCounts(**{k: int(v) for k, v in data["decisions"].items()}),
        latency=LatencyHistogram(
            counts=[int(n) for n in data["latency"]["counts"]], total_s=float(data["latency"]["total_s"])
        ),
    )
    for name in _COUNTS:
        setattr(stats, name, int(data[name]))
    return stats


def register_selection_process(app: faust.App, settings: Settings) -> SelectionResponder:
    """Answer selection requests from a child process. Returns the worker's own responder: its
    views serve the health query, metrics and dashboard, and it carries the child's stats."""
    responder = SelectionResponder(settings)

    @app.task  # type: ignore[untyped-decorator]  # faust's decorator is untyped
    async def answer_in_a_process() -> None:
        await responder.start()
        try:
            while True:
                code = await _run_child(settings, responder)
                log.error(
                    "the selection process exited (code %s); starting another in %.0f s",
                    code,
                    _RESTART_AFTER_S,
                )
                await asyncio.sleep(_RESTART_AFTER_S)
        finally:
            await responder.stop()

    return responder


async def _run_child(settings: Settings, responder: SelectionResponder) -> int | None:
    """One child, from start to exit; its stats snapshots go into `responder.stats`."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "modelrouter.streams.responder_process",
        env={**os.environ, **settings.to_env(), _LOGLEVEL: logging.getLevelName(log.getEffectiveLevel())},
        stdin=asyncio.subprocess.PIPE,  # closed when this process ends, however it ends
        stdout=asyncio.subprocess.PIPE,
        # stderr inherited: the child logs where the worker logs
    )
    log.info("selection answered by process %d", proc.pid)
    assert proc.stdout is not None  # asked for above
    try:
        while line := await proc.stdout.readline():
            try:
                responder.stats = stats_from_line(line)
            except (ValueError, KeyError, TypeError):
                log.warning("unreadable stats line from the selection process: %r", line[:200])
        return await proc.wait()
    finally:
        if proc.returncode is None:  # the worker is stopping: so does the child
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), _STOP_WITHIN_S)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _serve(settings: Settings) -> None:
    """The child: answer until SIGTERM, SIGINT or the end of stdin."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def watch_stdin() -> None:  # EOF: the worker is gone
        with contextlib.suppress(OSError, ValueError):
            sys.stdin.buffer.read()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch_stdin, name="parent-watch", daemon=True).start()
    responder = SelectionResponder(settings)
    await responder.start()
    gc.collect()  # as in the worker (selection.py): start-up's objects out of the collector's way
    gc.freeze()
    tasks = [
        asyncio.create_task(responder.serve()),
        asyncio.create_task(_snapshots(responder)),
        asyncio.create_task(_reports(responder)),
    ]
    try:
        waiting = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([*tasks, waiting], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not waiting:
                task.result()  # serve() ends only by raising: raise it here
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await responder.stop()
        sys.stdout.buffer.write(stats_line(responder.stats))
        sys.stdout.buffer.flush()


async def _snapshots(responder: SelectionResponder) -> None:
    out = sys.stdout.buffer
    while True:
        await asyncio.sleep(_SNAPSHOT_EVERY_S)
        out.write(stats_line(responder.stats))
        out.flush()


async def _reports(responder: SelectionResponder) -> None:
    while True:
        await asyncio.sleep(_REPORT_EVERY_S)
        report_stats(responder)


def main() -> int:
    logging.basicConfig(level=os.environ.get(_LOGLEVEL, "INFO").upper())
    asyncio.run(_serve(Settings()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
