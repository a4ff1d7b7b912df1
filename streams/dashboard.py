"""DashboardFeed: what the dashboard page shows, as one JSON snapshot a tick: the per-model table
(the scorecards' window and each model's health) and per-bucket series of the last half hour
(success rate, p95 latency, spend per minute from the bucket summaries; the selection mix from
the responder's answers), and each budget's spend against its limit. Pure apart from reading the
responder it is given.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelrouter.schemas import Settings, WindowSummary

from .selection import SelectionResponder

__all__ = ["DashboardFeed"]

SERIES_BUCKETS = 30  # the charts' span, in buckets (half an hour of 1-minute buckets)


@dataclass(frozen=True, slots=True)
class _Point:
    requests: int
    successes: int
    cost: float
    p95_ms: float | None


class DashboardFeed:
    """Listens to the summaries view for the recent all-agents bucket rows, and counts the
    responder's selections per bucket of wall time; `snapshot(now)` builds the page's data."""

    def __init__(self, responder: SelectionResponder, settings: Settings) -> None:
        self._responder = responder
        self._bucket_s = settings.bucket_seconds
        self._window_s = settings.scorecard_window_s
        self._points: dict[tuple[str, int], _Point] = {}  # (model, bucket start) -> figures
        self._mix: dict[int, Counter[str]] = {}  # bucket start -> selections per model
        self._selected_seen: Counter[str] = Counter()
        responder.summaries.on_change(self.apply)

    def apply(self, key: str, summary: WindowSummary | None) -> None:
        if summary is None or summary.window != "bucket" or summary.agent_type is not None:
            return
        start = int(summary.window_start.timestamp())
        if start < time.time() - self._bucket_s * (SERIES_BUCKETS + 1):
            return  # older than the charts show (a restart reads the whole topic through here)
        self._points[(summary.model_id, start)] = _Point(
            summary.requests,
            min(summary.successes, summary.requests),
            summary.cost_total,
            summary.latency_ms.p95,
        )

    def _count_selections(self, bucket: int) -> None:
        selected = self._responder.stats.selected_by_model
        new = selected - self._selected_seen  # only what was selected since the last tick
        if new:
            self._mix.setdefault(bucket, Counter()).update(new)
            self._selected_seen = selected.copy()

    def snapshot(self, now: datetime) -> dict[str, Any]:
        """The page's data at `now`; also drops what has left the charts' span."""
        bs = self._bucket_s
        current = int(now.timestamp()) // bs * bs
        self._count_selections(current)
        starts = [current - bs * i for i in range(SERIES_BUCKETS - 1, -1, -1)]
        first = starts[0]
        for k in [k for k in self._points if k[1] < first]:
            del self._points[k]
        for b in [b for b in self._mix if b < first]:
            del self._mix[b]
        reports = self._responder.health(now)
        cards = self._responder.scorecards.items()
        models = sorted({m for m, _ in self._points} | {r.model_id for r in reports})
        per_minute = 60.0 / bs
        series: dict[str, dict[str, list[float | None]]] = {"success": {}, "p95": {}, "spend": {}, "mix": {}}
        for model in models:
            points = [self._points.get((model, b)) for b in starts]
            series["success"][model] = [
                p.successes / p.requests if p is not None and p.requests else None for p in points
            ]
            series["p95"][model] = [p.p95_ms if p is not None else None for p in points]
            series["spend"][model] = [p.cost * per_minute if p is not None else 0.0 for p in points]
            series["mix"][model] = [float(self._mix.get(b, Counter())[model]) for b in starts]
        table = []
        for r in reports:
            card = cards.get(r.model_id)
            requests = card.requests if card is not None else 0
            cost = (card.cost_mean or 0.0) * requests if card is not None else 0.0
            cooldown = r.cooldown_until
            table.append(
                {
                    "model": r.model_id,
                    "provider": r.provider,
                    "enabled": r.enabled,
                    "requests": requests,
                    "success_rate": r.success_rate,
                    "p50_ms": card.latency_p50_ms if card is not None else None,
                    "p95_ms": card.latency_p95_ms if card is not None else None,
                    "cost": cost,
                    "circuit": r.circuit,
                    "circuit_reason": r.circuit_reason,
                    "cooldown_until": cooldown.isoformat() if r.in_cooldown and cooldown else None,
                    "selected": self._selected_seen[r.model_id],
                }
            )
        budgets = [
            {
                "agent_type": b.agent_type,
                "window": b.window,
                "limit": b.limit,
                "spent": b.spent,
                "reserved": b.reserved,
                "reservations": b.reservations,
                "remaining": b.remaining,
            }
            for b in self._responder.budget_standings(now)
        ]
        return {
            "as_of": now.isoformat(),
            "budgets": budgets,
            "bucket_seconds": bs,
            "window_s": self._window_s,
            "starts": starts,
            "models": models,
            "series": series,
            "table": table,
        }
