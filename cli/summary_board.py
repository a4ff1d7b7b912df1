"""The live tail's state and table: the latest summary per model, agent type and window. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import get_args

from rich import box
from rich.table import Table

from modelrouter.schemas import WindowKind, WindowSummary, utc_now

from .output import ms, number, percent, usd

__all__ = ["ALL", "WINDOWS", "SummaryBoard", "TailFilter"]

ALL = "*"  # --agent-type value for every row, per agent type and over all agents
WINDOWS: tuple[WindowKind, ...] = get_args(WindowKind)
RowKey = tuple[str, str | None, WindowKind]


@dataclass(frozen=True)
class TailFilter:
    model: str | None = None
    agent_type: str | None = None  # None: the rows over all agents; ALL: every row
    window: str | None = None

    def accepts(self, s: WindowSummary) -> bool:
        return (
            (self.model is None or s.model_id == self.model)
            and (self.agent_type == ALL or s.agent_type == self.agent_type)
            and (self.window is None or s.window == self.window)
        )


@dataclass
class SummaryBoard:
    """The latest summary per (model, agent type, window) that the live table shows."""

    rows: dict[RowKey, WindowSummary] = field(default_factory=dict)
    received: int = 0
    skipped: int = 0
    last_at: datetime | None = None
    data_through: datetime | None = None  # the newest stream time any summary said

    def apply(self, s: WindowSummary) -> None:
        self.received += 1
        self.last_at = utc_now()
        if s.data_through is not None and (self.data_through is None or s.data_through > self.data_through):
            self.data_through = s.data_through
        key = (s.model_id, s.agent_type, s.window)
        seen = self.rows.get(key)
        # A late final of an older bucket must not replace the newer bucket's row.
        if seen is None or s.window_start >= seen.window_start:
            self.rows[key] = s

    def remove(self, summary_key: str) -> None:
        """A tombstone (an expired window): drop the row if it shows that window."""
        for key, s in list(self.rows.items()):
            if s.key == summary_key:
                del self.rows[key]

    def table(self, title: str, width: int | None = None) -> Table:
        """The rows as a table; on a narrow terminal the least needed columns go first."""
        order = {w: i for i, w in enumerate(WINDOWS)}
        keys = sorted(self.rows, key=lambda k: (k[0], k[1] or "", order[k[2]]))
        rows = [_cells(self.rows[k]) for k in keys]
        columns = [c for c in _COLUMNS if c[0] != "agent" or any(k[1] is not None for k in keys)]
        while width is not None and len(columns) > 4 and _width(columns, rows) > width:
            columns.remove(min(columns, key=lambda c: c[2]))
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
        for name, right, _ in columns:
            table.add_column(name, justify="right" if right else "left", no_wrap=True)
        for cells in rows:
            table.add_row(*(cells[name] for name, _, _ in columns))
        skipped = f", {self.skipped} invalid skipped" if self.skipped else ""
        table.caption = (
            f"{self.received} summaries received{skipped}, the latest at {self.last_at:%H:%M:%S}"
            f"{self._age()}; (open) buckets are provisional; times UTC"
            if self.last_at is not None
            else f"waiting for summaries{skipped}: they come while a worker folds events"
        )
        return table

    def _age(self) -> str:
        if self.data_through is None:
            return ""
        age = max(0.0, (utc_now() - self.data_through).total_seconds())
        return f"; newest data {self.data_through:%H:%M:%S} ({age:,.0f} s old)"


# (header, right-aligned, priority): on a narrow terminal the lowest priority is dropped first.
_COLUMNS = (
    ("model", False, 99),
    ("agent", False, 90),
    ("window", False, 98),
    ("requests", True, 97),
    ("success", True, 96),
    ("p50 ms", True, 3),
    ("p95 ms", True, 95),
    ("quality", True, 4),
    ("cost", True, 94),
    ("rate-limited", True, 5),
    ("failovers out/in", True, 2),
)


def _cells(s: WindowSummary) -> dict[str, str]:
    window = s.window if s.window != "bucket" else f"bucket {s.window_start:%H:%M:%S}"
    return {
        "model": s.model_id,
        "agent": s.agent_type or "all",
        "window": window if s.final or s.window != "bucket" else f"{window} (open)",
        "requests": f"{s.requests:,}",
        "success": percent(s.success_rate),
        "p50 ms": ms(s.latency_ms.p50),
        "p95 ms": ms(s.latency_ms.p95),
        "quality": number(s.quality_mean, 3),
        "cost": usd(s.cost_total),
        "rate-limited": str(s.rate_limited),
        "failovers out/in": f"{s.failovers_out}/{s.failovers_in}",
    }


def _width(columns: list[tuple[str, bool, int]], rows: list[dict[str, str]]) -> int:
    """Characters the table needs: each column's widest cell, its padding and separator, the edges."""
    return 2 + sum(max([len(name), *(len(r[name]) for r in rows)]) + 3 for name, _, _ in columns)
