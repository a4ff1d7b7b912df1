"""What the terminal shows while the demo runs: a live per-model table and the current selection
mix (rich, in a terminal), or a compact progress line every few seconds (anything else).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self, TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from modelrouter.agents.health import circuit_state, cooldown_remaining_s
from modelrouter.schemas import Scorecard, Settings

from .analysis import percentile
from .fleet import FleetRecords
from .timeline import Timeline

__all__ = ["MIX_WINDOW_S", "LiveView", "ModelRow", "PlainProgress", "RichView", "Snapshot", "snapshot"]

MIX_WINDOW_S = 5.0  # the selection mix covers the selections of the last 5 s


@dataclass(frozen=True, slots=True)
class ModelRow:
    model_id: str
    provider: str
    calls: int
    success_rate: float | None
    recent_calls: int  # in the last MIX_WINDOW_S
    recent_success_rate: float | None
    p95_ms: float | None
    cost: float
    state: str  # ok, rate-limited, failing, probing (from the worker's scorecards)


@dataclass(frozen=True, slots=True)
class Snapshot:
    t: float
    timeline: Timeline
    phase: str
    tasks_started: int
    tasks_done: int
    tasks_ok: int
    rows: tuple[ModelRow, ...]
    mix: tuple[tuple[str, float], ...]  # model, share of the last MIX_WINDOW_S of selections
    provider_mix: tuple[tuple[str, float], ...]
    selections: int
    fallbacks: int
    events: Mapping[str, int]


def _state(card: Scorecard | None, now: datetime, settings: Settings) -> str:
    if cooldown_remaining_s(card, now) is not None:
        return "rate-limited"
    circuit, _ = circuit_state(card, now, settings)
    return {"open": "failing", "half_open": "probing"}.get(circuit, "ok")


def snapshot(
    t: float,
    timeline: Timeline,
    records: FleetRecords,
    scorecards: Mapping[str, Scorecard],
    settings: Settings,
    now: datetime,
    events: Mapping[str, int],
) -> Snapshot:
    """The state of the run at `t` seconds, from what the fleet recorded and the worker's scorecards."""
    per_model: dict[str, list[float]] = {}
    ok: Counter[str] = Counter()
    cost: dict[str, float] = {}
    provider: dict[str, str] = {}
    recent_calls: Counter[str] = Counter()
    recent_ok: Counter[str] = Counter()
    for c in records.calls:
        o = c.outcome
        per_model.setdefault(o.model_id, []).append(o.latency_ms)
        provider[o.model_id] = o.provider
        if o.ok:
            ok[o.model_id] += 1
            cost[o.model_id] = cost.get(o.model_id, 0.0) + o.cost
        if c.at_s > t - MIX_WINDOW_S:
            recent_calls[o.model_id] += 1
            recent_ok[o.model_id] += o.ok
    rows = tuple(
        sorted(
            (
                ModelRow(
                    model_id=m,
                    provider=provider[m],
                    calls=len(lat),
                    success_rate=ok[m] / len(lat) if lat else None,
                    recent_calls=recent_calls[m],
                    recent_success_rate=recent_ok[m] / recent_calls[m] if recent_calls[m] else None,
                    p95_ms=percentile(lat, 0.95),
                    cost=cost.get(m, 0.0),
                    state=_state(scorecards.get(m), now, settings),
                )
                for m, lat in per_model.items()
            ),
            key=lambda r: (r.provider, -r.calls, r.model_id),
        )
    )
    recent = [s for s in records.selections if s.at_s > t - MIX_WINDOW_S]
    n = len(recent) or 1
    mix = tuple((m, k / n) for m, k in Counter(s.model_id for s in recent).most_common())
    provider_mix = tuple((p, k / n) for p, k in Counter(s.provider for s in recent).most_common())
    done = [r for r in records.results.values() if r.finished]
    return Snapshot(
        t=t,
        timeline=timeline,
        phase=timeline.phase(t) if t < timeline.seconds else "finishing the last tasks",
        tasks_started=records.started,
        tasks_done=len(done),
        tasks_ok=sum(r.success for r in done),
        rows=rows,
        mix=mix,
        provider_mix=provider_mix,
        selections=len(records.selections),
        fallbacks=sum(s.fallback_used for s in records.selections),
        events=dict(events),
    )


class LiveView(Protocol):
    def update(self, snap: Snapshot) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


class PlainProgress:
    """One compact line every `every_s` seconds, for logs and pipes."""

    def __init__(self, out: TextIO, every_s: float = 5.0) -> None:
        self._out = out
        self._every_s = every_s
        self._last: float | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def update(self, snap: Snapshot) -> None:
        wall = time.monotonic()
        if self._last is not None and wall - self._last < self._every_s:
            return
        if not snap.selections:
            return
        self._last = wall
        ok = snap.tasks_ok / snap.tasks_done if snap.tasks_done else None
        mix = " ".join(f"{m} {_pct(share)}" for m, share in snap.mix[:4])
        providers = " ".join(f"{p} {_pct(share)}" for p, share in snap.provider_mix)
        print(
            f"[{snap.t:5.1f}s] {snap.phase:<26} tasks {snap.tasks_done:>5} done, {_pct(ok)} ok | "
            f"selected (last {MIX_WINDOW_S:g}s): {mix} | {providers}",
            file=self._out,
            flush=True,
        )


_STATE_STYLE = {"ok": "green", "rate-limited": "yellow", "failing": "bold red", "probing": "magenta"}


def _phase_style(phase: str) -> str:
    if phase.startswith(("OUTAGE", "RATE-LIMIT")):
        return "bold white on red"
    return "bold green" if phase == "recovery" else "bold"


def _timeline_bar(snap: Snapshot, width: int = 60) -> Text:
    """The run as a bar, one cell per 1/width of it, coloured by phase; done cells are solid."""
    bar = Text("  ")
    for i in range(width):
        at = (i + 0.5) * snap.timeline.seconds / width
        phase = snap.timeline.phase(at)
        style = "red" if phase.startswith(("OUTAGE", "RATE-LIMIT")) else "green"
        bar.append("━" if at <= snap.t else "─", style=style if at <= snap.t else f"dim {style}")
    return bar


def render(snap: Snapshot) -> RenderableType:
    """The live screen: a header, the per-model table and the selection mix."""
    ok = snap.tasks_ok / snap.tasks_done if snap.tasks_done else None
    head = Text.assemble(
        ("modelrouter demo  ", "bold"),
        (f"{snap.t:5.1f} / {snap.timeline.seconds:g} s  ", ""),
        (f" {snap.phase} ", _phase_style(snap.phase)),
        f"   tasks {snap.tasks_done:,} done of {snap.tasks_started:,} started, {_pct(ok)} succeeded",
    )
    table = Table(title="models called", title_justify="left", expand=False)
    for name, justify in (
        ("model", "left"),
        ("provider", "left"),
        ("calls", "right"),
        ("success", "right"),
        (f"last {MIX_WINDOW_S:g} s", "right"),
        ("p95 latency", "right"),
        ("cost", "right"),
        ("state (worker's view)", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for r in snap.rows:
        table.add_row(
            r.model_id,
            r.provider,
            f"{r.calls:,}",
            _pct(r.success_rate),
            f"{r.recent_calls} calls, {_pct(r.recent_success_rate)} ok" if r.recent_calls else "",
            "-" if r.p95_ms is None else f"{r.p95_ms:,.0f} ms",
            f"${r.cost:.3f}",
            Text(r.state, style=_STATE_STYLE.get(r.state, "")),
        )
    mix = Table(title=f"selection mix (last {MIX_WINDOW_S:g} s)", title_justify="left", show_header=False)
    mix.add_column("model")
    mix.add_column("share", justify="right")
    mix.add_column("bar")
    for model, share in snap.mix[:8]:
        mix.add_row(model, _pct(share), Text("█" * round(share * 30), style="cyan"))
    providers = "  ".join(f"{p} {_pct(share)}" for p, share in snap.provider_mix)
    events = ", ".join(f"{n:,} {kind}" for kind, n in snap.events.items())
    foot = Text(
        f"by provider: {providers}\nselections {snap.selections:,} ({snap.fallbacks} fell back)   "
        f"events published: {events}",
        style="dim",
    )
    return Group(head, _timeline_bar(snap), Text(""), table, mix, foot)


class RichView:
    """rich's Live display, redrawn in place."""

    def __init__(self, console: Console) -> None:
        self._live = Live(console=console, refresh_per_second=4, transient=False)

    def __enter__(self) -> Self:
        self._live.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._live.__exit__(exc_type, exc, tb)

    def update(self, snap: Snapshot) -> None:
        self._live.update(render(snap))
