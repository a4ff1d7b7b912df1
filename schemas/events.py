"""The three events agents publish, and the discriminated union of them."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from .base import (
    CostUsd,
    Id,
    LatencyMs,
    Name,
    Record,
    RetryAfterSeconds,
    Score01,
    Timestamp,
    TokenCount,
    utc_now,
)

__all__ = [
    "Event",
    "EventType",
    "Failover",
    "FailoverReason",
    "LimitKind",
    "QualityReported",
    "RateLimited",
    "TaskCompleted",
    "new_event_id",
]


def new_event_id() -> str:
    return uuid.uuid4().hex


class EventType(StrEnum):
    TASK_COMPLETED = "task_completed"
    RATE_LIMITED = "rate_limited"
    FAILOVER = "failover"
    QUALITY_REPORTED = "quality_reported"


class FailoverReason(StrEnum):
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    ERROR = "error"
    UNAVAILABLE = "unavailable"
    QUALITY = "quality"
    COST = "cost"
    CONTEXT_LENGTH = "context_length"
    CONTENT_POLICY = "content_policy"


class LimitKind(StrEnum):
    REQUESTS = "requests"
    TOKENS = "tokens"
    UNKNOWN = "unknown"


class _Event(Record):
    event_id: Id = Field(default_factory=new_event_id)
    occurred_at: Timestamp = Field(default_factory=utc_now)
    agent_type: Name


class TaskCompleted(_Event):
    """An agent finished (or failed) one call to a model. Key: model_id."""

    type: Literal["task_completed"] = "task_completed"
    task_id: Id
    model_id: Id
    provider: Name
    success: bool
    latency_ms: LatencyMs
    quality_score: Score01 | None = None
    cost: CostUsd
    input_tokens: TokenCount
    output_tokens: TokenCount
    error_type: Annotated[str, Field(max_length=128)] | None = None

    @property
    def key(self) -> str:
        return self.model_id


class RateLimited(_Event):
    """A provider refused a call for a rate limit. Key: model_id."""

    type: Literal["rate_limited"] = "rate_limited"
    model_id: Id
    provider: Name
    task_id: Id | None = None
    retry_after_s: RetryAfterSeconds | None = None
    limit_kind: Annotated[LimitKind, Field(strict=False)] = LimitKind.UNKNOWN

    @property
    def key(self) -> str:
        return self.model_id


class Failover(_Event):
    """An agent moved a task from one model to another. Key: original_model."""

    type: Literal["failover"] = "failover"
    task_id: Id
    original_model: Id
    alternative_model: Id
    # Lax for enums only: a plain string value is accepted from Python callers too.
    reason: Annotated[FailoverReason, Field(strict=False)]
    # Addition to the v1 contract (docs/design.md): the provider's retry-after, for reason
    # rate_limited; the original model's cooldown lasts this long (default_cooldown_s without it).
    retry_after_s: RetryAfterSeconds | None = None

    @property
    def key(self) -> str:
        return self.original_model


class QualityReported(_Event):
    """The quality of a task judged after its TaskCompleted was published (e.g. by an
    evaluator, for calls made through LiteLLM, which cannot know it). Carried on the
    task-completed topic. Key: model_id.

    Folded as the quality of one more task of `model_id` in the bucket of `occurred_at` (the
    report's time): it adds to the quality mean and counts no request. Report it only for a
    task whose TaskCompleted had no quality_score, or the task's quality counts twice.
    """

    type: Literal["quality_reported"] = "quality_reported"
    task_id: Id
    model_id: Id
    quality_score: Score01

    @property
    def key(self) -> str:
        return self.model_id


Event = Annotated[TaskCompleted | RateLimited | Failover | QualityReported, Field(discriminator="type")]
