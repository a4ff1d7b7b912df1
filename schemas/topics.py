"""The topics of the wire contract: name, key, cleanup policy, partitions and retention."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .settings import Settings

__all__ = ["TopicName", "TopicSpec", "topic_specs"]


class TopicName(StrEnum):
    TASK_COMPLETED = "task-completed"
    RATE_LIMITED = "rate-limited"
    FAILOVER = "failover"
    REGISTRY = "registry"
    SELECTION_REQUESTS = "selection-requests"
    SELECTION_REPLIES = "selection-replies"
    SUMMARIES = "summaries"
    DEAD_LETTER = "dead-letter"
    # Added to the v1 contract: per-model Scorecards (key model_id, compacted), read in full
    # by every selection responder and by HealthChecker/RateLimiter.
    SCORECARDS = "scorecards"
    # Added: one DecisionRecord per selection reply (key request_id), kept as long as the
    # events, so a policy can be evaluated on the logged traffic (docs/evaluation.md).
    DECISIONS = "decisions"
    # Added: spend limits per agent type (key agent_type, compacted; a tombstone clears), and
    # the expected cost of each selection answered under one (key agent_type), held by every
    # worker until the task's cost is in the tables (docs/operations.md, Budgets).
    BUDGETS = "budgets"
    BUDGET_RESERVATIONS = "budget-reservations"


EVENT_TOPICS = (TopicName.TASK_COMPLETED, TopicName.RATE_LIMITED, TopicName.FAILOVER)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    compact: bool
    retention_ms: int | None
    segment_ms: int | None = None  # a short-lived topic rolls segments often, so retention bites

    def configs(self) -> dict[str, str]:
        out = {"cleanup.policy": "compact" if self.compact else "delete"}
        if self.retention_ms is not None:
            out["retention.ms"] = str(self.retention_ms)
        if self.segment_ms is not None:
            out["segment.ms"] = str(self.segment_ms)
        return out


def topic_specs(settings: Settings) -> dict[TopicName, TopicSpec]:
    """Every contract topic for these settings. The three event topics share a partition
    count and the default partitioner, so one model's events land on the same partition
    number in each (the folds rely on it)."""
    p = settings.partitions
    hour_ms = 3_600_000
    event_retention = int((settings.retention_hours + 1) * hour_ms)
    short = int(settings.request_retention_minutes * 60_000)

    def spec(name: TopicName, partitions: int, compact: bool, retention_ms: int | None) -> TopicSpec:
        return TopicSpec(settings.topic(name), partitions, compact, retention_ms)

    # Reservations live at most budget_reservation_timeout_s; kept twice that, in short segments.
    held_ms = int(settings.budget_reservation_timeout_s * 1000)

    return {
        TopicName.TASK_COMPLETED: spec(TopicName.TASK_COMPLETED, p, False, event_retention),
        TopicName.RATE_LIMITED: spec(TopicName.RATE_LIMITED, p, False, event_retention),
        TopicName.FAILOVER: spec(TopicName.FAILOVER, p, False, event_retention),
        TopicName.REGISTRY: spec(TopicName.REGISTRY, 1, True, None),
        TopicName.SELECTION_REQUESTS: spec(TopicName.SELECTION_REQUESTS, p, False, short),
        TopicName.SELECTION_REPLIES: spec(TopicName.SELECTION_REPLIES, p, False, short),
        TopicName.SUMMARIES: spec(TopicName.SUMMARIES, p, True, None),
        TopicName.SCORECARDS: spec(TopicName.SCORECARDS, 1, True, None),
        TopicName.DECISIONS: spec(TopicName.DECISIONS, p, False, event_retention),
        TopicName.BUDGETS: spec(TopicName.BUDGETS, 1, True, None),
        TopicName.BUDGET_RESERVATIONS: TopicSpec(
            settings.topic(TopicName.BUDGET_RESERVATIONS), p, False, 2 * held_ms, max(60_000, held_ms // 2)
        ),
        TopicName.DEAD_LETTER: spec(
            TopicName.DEAD_LETTER, p, False, int(settings.dead_letter_retention_hours * hour_ms)
        ),
    }
