"""WindowSummary (the compacted `summaries` topic) and the per-model Scorecard."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from .base import Id, Name, NonNegFloat, NonNegInt, Record, Score01, Timestamp

__all__ = ["LatencySummary", "Scorecard", "WindowKind", "WindowSummary", "summary_key"]

WindowKind = Literal["bucket", "5m", "1h", "24h"]


def summary_key(model_id: str, agent_type: str | None, window: WindowKind, window_start: datetime) -> str:
    """The Kafka key of a summary, so compaction keeps the latest record of each window.

    A bucket is one window per start (`model|agent|bucket|start`); a trailing window is one
    per model and length (`model|*|5m`), so the topic holds its latest value, not its history.
    """
    agent = agent_type if agent_type is not None else "*"
    if window == "bucket":
        return f"{model_id}|{agent}|bucket|{window_start.isoformat()}"
    return f"{model_id}|{agent}|{window}"


class LatencySummary(Record):
    p50: NonNegFloat | None = None
    p95: NonNegFloat | None = None
    p99: NonNegFloat | None = None
    mean: NonNegFloat | None = None


class WindowSummary(Record):
    model_id: Id
    agent_type: Name | None
    window: WindowKind
    window_start: Timestamp
    window_end: Timestamp
    final: bool
    requests: NonNegInt
    successes: NonNegInt
    success_rate: Score01 | None
    latency_ms: LatencySummary
    quality_mean: Score01 | None
    cost_total: NonNegFloat
    input_tokens: NonNegInt
    output_tokens: NonNegInt
    rate_limited: NonNegInt
    failovers_out: NonNegInt
    failovers_in: NonNegInt
    # Addition to v1: the stream time (latest event time folded) of the window's partition when
    # the summary was built, so a reader can say how old the newest data is.
    data_through: Timestamp | None = None

    @property
    def key(self) -> str:
        return summary_key(self.model_id, self.agent_type, self.window, self.window_start)


class Scorecard(Record):
    """What selection needs to know of one model, held in full by every responder."""

    model_id: Id
    updated_at: Timestamp
    requests: NonNegInt = 0
    successes: NonNegInt = 0
    success_rate: Score01 | None = None
    latency_p50_ms: NonNegFloat | None = None
    latency_p95_ms: NonNegFloat | None = None
    quality_mean: Score01 | None = None
    cost_mean: NonNegFloat | None = None
    cooldown_until: Timestamp | None = None
    failure_streak: NonNegInt = 0
    last_failure_at: Timestamp | None = None
    # Addition to the v1 contract (docs/design.md): agent type -> until when this model's
    # standing is lowered for it, after a failover away from it for quality or cost.
    demoted_until: dict[Name, Timestamp] = Field(default_factory=dict)
    # Addition to v1: the window's failures by error_type, for the health query's "why".
    failures_by_error: dict[str, int] = Field(default_factory=dict)
