"""The demo's report: the numbers of one run (DemoReport), as the text people read at the end
and as JSON in the run folder.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from modelrouter.schemas import dumps

from .analysis import PolicyStats, Shift
from .timeline import Timeline, seconds_text

__all__ = ["DemoReport", "render_report", "sparkline"]


@dataclass(frozen=True)
class DemoReport:
    seed: int
    seconds: float
    rate: float
    timeline: Timeline
    agent_types: tuple[str, ...]
    tasks: int
    policies: tuple[PolicyStats, ...]  # selection first, then the fixed baselines
    shifts: tuple[Shift, ...]
    selections: int
    selection_fallbacks: int
    round_trip_p50_ms: float | None
    round_trip_p95_ms: float | None
    unfinished: int
    events: dict[str, int]  # published by the fleet, by event type
    worker_counted: int | None  # task-completed events the worker folded, read from its table
    topic_prefix: str
    broker_stop_command: str | None  # set when the demo started the broker
    run_dir: str
    worker_log: str
    demo_log: str
    report_json: str
    share_series: dict[str, list[float | None]] = field(default_factory=dict)  # per second

    def policy(self, name: str) -> PolicyStats:
        for p in self.policies:
            if p.name == name:
                return p
        raise KeyError(f"no policy {name!r}; have {[p.name for p in self.policies]}")

    def to_json(self) -> bytes:
        return dumps(asdict(self))

    def write_json(self, path: Path | None = None) -> Path:
        target = Path(path if path is not None else self.report_json)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.to_json())
        return target


_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float | None]) -> str:
    """One character per value in 0..1: a dot for 0, blank for None (no selections)."""
    return "".join(
        " " if v is None else "·" if v <= 0 else _BARS[min(7, max(0, math.ceil(v * 8) - 1))] for v in values
    )


# --- text --------------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _usd(x: float | None) -> str:
    if x is None:
        return "-"
    return f"${x:,.2f}" if x >= 1 else f"${x:.4f}"


def _quality(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f} ms"


def _at(t: float | None, since: float, what: str) -> str:
    return "not within the run" if t is None else f"at {t:.1f} s ({t - since:+.1f} s after {what})"


def _shift_lines(s: Shift) -> list[str]:
    w = s.window
    b = s.before
    during = f"{seconds_text(w.start_s)}-{seconds_text(w.end_s)} s"
    lines = [
        f"  {s.subject} {s.what} ({during}): {_pct(s.share_before)} of selections "
        f"before it ({seconds_text(b.start_s)}-{seconds_text(b.end_s)} s)"
    ]
    left = _at(s.left_at_s, w.start_s, "it began")
    failed = s.failed_calls_before_leaving
    if not s.share_before:
        lines.append("    selection was not sending it traffic before, so there was nothing to move away")
    elif s.low_at_start:
        lines.append(
            f"    its share was already below {_pct(s.threshold)} when it began (see the share by second)"
        )
    else:
        lines.append(
            f"    moved away: share below {_pct(s.threshold)} {left}, "
            f"after {failed} failed call{'s' if failed != 1 else ''} to it"
        )
    if s.reason:
        lines.append(f"    why: the service rejected {s.reason}")
    if s.took_over:
        went = ", ".join(f"{m} {_pct(share)}" for m, share in s.took_over)
        lines.append(
            f"    during it: {s.subject} {_pct(s.share_during)} of selections; traffic went to {went}"
        )
    a = s.after
    after = f"{seconds_text(a.start_s)}-{seconds_text(a.end_s)} s"
    if not s.share_before:
        lines.append(f"    after it: {_pct(s.share_after)} of selections {after}")
        return lines
    lines += [
        f"    came back: chosen again {_at(s.again_at_s, w.end_s, 'it ended')}; "
        f"half its former share {_at(s.back_at_s, w.end_s, 'it ended')}",
        f"    after it: {_pct(s.share_after)} of selections {after}",
    ]
    return lines


def render_report(r: DemoReport) -> str:
    """The report people read at the end of the demo."""
    lines = [
        f"modelrouter demo: {r.seconds:g} s, seed {r.seed}, {r.tasks:,} tasks at ~{r.rate:g}/s "
        f"from {len(r.agent_types)} agent types ({', '.join(r.agent_types)})",
        f"timeline: {r.timeline.describe()}",
        "",
        "How selection reacted",
    ]
    for s in r.shifts:
        lines += _shift_lines(s)
    for subject, series in r.share_series.items():
        lines.append(f"  {subject + ' share by second':<28} |{sparkline(series)}|")
    lines += ["", "Same tasks, same simulated world"]
    cols = [p.label for p in r.policies]
    width = max(12, *(len(c) for c in cols)) + 3
    rows: list[tuple[str, list[str]]] = [
        ("tasks", [f"{p.tasks:,}" for p in r.policies]),
        ("success rate", [_pct(p.success_rate) for p in r.policies]),
        (
            f"  tasks started in the outage ({r.policies[0].outage_tasks:,})",
            [_pct(p.outage_success_rate) for p in r.policies],
        ),
        (
            f"  tasks started in the storm ({r.policies[0].storm_tasks:,})",
            [_pct(p.storm_success_rate) for p in r.policies],
        ),
        ("mean quality of successful tasks", [_quality(p.mean_quality) for p in r.policies]),
        ("total cost", [_usd(p.cost) for p in r.policies]),
        ("cost per successful task", [_usd(p.cost_per_success) for p in r.policies]),
        ("p95 task latency", [_ms(p.p95_latency_ms) for p in r.policies]),
        ("model calls", [f"{p.calls:,}" for p in r.policies]),
    ]
    head = max(len(name) for name, _ in rows) + 2
    lines.append(" " * head + "".join(c.rjust(width) for c in cols))
    for name, values in rows:
        lines.append(name.ljust(head) + "".join(v.rjust(width) for v in values))
    lines += [
        "",
        "fixed = always the ModelOptimizer's primary model, no failover; fixed + fallback = the primary, "
        "then the assignment's fallback model once. Task latency: its model calls end to end, failed "
        "ones included (selection's round trip is below).",
        f"selection: {r.selections:,} replies from the worker, {r.selection_fallbacks} fell back to the base "
        f"assignment; round trip p50 {_ms(r.round_trip_p50_ms)}, p95 {_ms(r.round_trip_p95_ms)}",
    ]
    events = ", ".join(f"{n:,} {kind}" for kind, n in r.events.items())
    lines.append(f"events published: {events}")
    if r.worker_counted is not None:
        lines.append(
            f"worker folded {r.worker_counted:,} of {r.events.get('task_completed', 0):,} task-completed "
            "events into its tables"
        )
    if r.unfinished:
        lines.append(f"{r.unfinished} tasks were still running when the demo stopped (counted as failed)")
    lines += [
        "",
        f"topics: {r.topic_prefix}*  (watch them: modelrouter tail --topic-prefix {r.topic_prefix})",
        f"logs: worker {r.worker_log}",
        f"      demo   {r.demo_log}",
        f"report (JSON): {r.report_json}",
    ]
    if r.broker_stop_command:
        lines.append(f"Kafka was started for the demo and keeps running: `{r.broker_stop_command}` stops it")
    return "\n".join(lines)
