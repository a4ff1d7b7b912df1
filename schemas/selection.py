"""Selection and summary requests, and their replies, on the request/reply topics."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import Id, Name, NonNegFloat, NonNegInt, Record, Score01, Text, Timestamp, utc_now

__all__ = [
    "Alternative",
    "BaseAssignment",
    "Constraints",
    "ErrorDetail",
    "ErrorReply",
    "HealthReply",
    "HealthRequest",
    "ModelHealthReport",
    "Rejection",
    "Reply",
    "Request",
    "SelectionReply",
    "SelectionRequest",
    "SummaryReply",
    "SummaryRequest",
    "SummaryRow",
    "TaskInfo",
]

TopicStr = Annotated[str, Field(min_length=1, max_length=249, pattern=r"^[A-Za-z0-9._-]+$")]


class TaskInfo(Record):
    task_id: Id
    task_type: Name | None = None
    estimated_input_tokens: NonNegInt | None = None
    estimated_output_tokens: NonNegInt | None = None


class BaseAssignment(Record):
    """What the hierarchical ModelOptimizer would pick without live evidence."""

    role_type: Name
    model_tier: Name
    primary_model: Id
    fallback_model: Id


class Constraints(Record):
    required_capabilities: tuple[Name, ...] = ()
    max_cost_per_request: NonNegFloat | None = None
    excluded_providers: tuple[Name, ...] = ()
    excluded_models: tuple[Id, ...] = ()
    max_latency_ms: NonNegFloat | None = None
    min_success_rate: Score01 | None = None


class SelectionRequest(Record):
    kind: Literal["select"] = "select"
    request_id: Id
    reply_to: TopicStr
    agent_type: Name
    task: TaskInfo
    base_assignment: BaseAssignment | None = None
    constraints: Constraints | None = None
    deadline_ms: Annotated[int, Field(gt=0, le=600_000)] | None = None
    # Additions to the v1 contract (docs/design.md): how to rank, and whether to explore.
    strategy: Literal["balanced", "cost", "latency", "quality"] = "balanced"
    explore: bool = False


class SummaryRequest(Record):
    kind: Literal["summary"] = "summary"
    request_id: Id
    reply_to: TopicStr
    agent_type: Name | None = None
    window_hours: Annotated[float, Field(gt=0, le=24 * 30, allow_inf_nan=False)] = 24.0


class HealthRequest(Record):
    """Addition to v1: every model's health as the selection service sees it (`modelrouter health`)."""

    kind: Literal["health"] = "health"
    request_id: Id
    reply_to: TopicStr


Request = Annotated[SelectionRequest | SummaryRequest | HealthRequest, Field(discriminator="kind")]


class Alternative(Record):
    model_id: Id
    score: float


class Rejection(Record):
    model_id: Id
    reason: Text


class SelectionReply(Record):
    kind: Literal["selection"] = "selection"
    request_id: Id
    selected_model_id: Id
    provider: Name
    endpoint: str | None = None
    score: float
    reasoning: Text
    factors: dict[str, float] = Field(default_factory=dict)
    alternatives: tuple[Alternative, ...] = ()
    rejected: tuple[Rejection, ...] = ()
    fallback_used: bool = False
    stats_age_ms: NonNegFloat | None = None
    decided_at: Timestamp = Field(default_factory=utc_now)


class SummaryRow(Record):
    model_id: Id
    requests: NonNegInt
    successes: NonNegInt
    success_rate: Score01
    cost_total: NonNegFloat
    latency_p50_ms: NonNegFloat | None = None
    latency_p95_ms: NonNegFloat | None = None
    quality_mean: Score01 | None = None
    rate_limited: NonNegInt = 0
    failovers_out: NonNegInt = 0
    failovers_in: NonNegInt = 0
    # Addition to v1: of `requests`, those in buckets still open (their counts may still grow).
    provisional_requests: NonNegInt = 0


class SummaryReply(Record):
    kind: Literal["summary"] = "summary"
    request_id: Id
    total_requests: NonNegInt
    total_cost: NonNegFloat
    average_success_rate: Score01
    cost_by_model: dict[str, float] = Field(default_factory=dict)
    requests_by_model: dict[str, int] = Field(default_factory=dict)
    models: tuple[SummaryRow, ...] = ()
    # Additions to v1: the totals include the buckets still open; these say how much of them is
    # provisional and how old the newest data counted is, so a total is never silently short.
    provisional_requests: NonNegInt = 0
    provisional_cost: NonNegFloat = 0.0
    data_through: Timestamp | None = None
    data_age_s: NonNegFloat | None = None


class ModelHealthReport(Record):
    """One model's health as selection judges it now: its circuit (schemas/health.py's rule),
    its rate-limit cooldown, and its recent failures (the scorecard's trailing window)."""

    model_id: Id
    provider: Name | None = None  # None: a scorecard for a model the registry no longer has
    enabled: bool = True
    circuit: Literal["closed", "open", "half_open"]
    circuit_reason: Text | None = None  # why it tripped: "after 5 consecutive failures"
    circuit_open_until: Timestamp | None = None
    cooldown_until: Timestamp | None = None
    in_cooldown: bool = False
    failure_streak: NonNegInt = 0
    last_failure_at: Timestamp | None = None
    requests: NonNegInt = 0
    success_rate: Score01 | None = None
    recent_failures: dict[str, int] = Field(default_factory=dict)  # error_type -> count
    scorecard_at: Timestamp | None = None  # when the scorecard was built; None: no scorecard yet


class HealthReply(Record):
    kind: Literal["health"] = "health"
    request_id: Id
    as_of: Timestamp
    models: tuple[ModelHealthReport, ...] = ()


class ErrorDetail(Record):
    code: Name
    message: Text


class ErrorReply(Record):
    kind: Literal["error"] = "error"
    request_id: Id
    error: ErrorDetail


Reply = Annotated[SelectionReply | SummaryReply | HealthReply | ErrorReply, Field(discriminator="kind")]
