"""Per-model health state folded from events: failure streak, last failure, rate-limit cooldown.

Pure: plain data and functions, no faust. One value per model_id, with the same
last-applied-offset guard as the buckets, so a replay after a crash changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from modelrouter.schemas import RateLimited, Scorecard, TaskCompleted, dumps, loads

from .buckets import BucketStats

__all__ = ["ModelHealth", "fold_health", "health_from_bytes", "health_to_bytes", "scorecard"]


@dataclass(slots=True)
class ModelHealth:
    failure_streak: int = 0
    last_failure_at: float | None = None  # epoch seconds (event time)
    cooldown_until: float | None = None  # epoch seconds: latest occurred_at + retry_after
    applied_offsets: dict[str, int] = field(default_factory=dict)


def fold_health(
    h: ModelHealth, ev: TaskCompleted | RateLimited, source: str, offset: int, default_cooldown_s: float
) -> bool:
    """Apply one event unless this source offset was applied before; True when applied."""
    if offset <= h.applied_offsets.get(source, -1):
        return False
    h.applied_offsets[source] = offset
    t = ev.occurred_at.timestamp()
    if isinstance(ev, TaskCompleted):
        if ev.success:
            h.failure_streak = 0
        else:
            h.failure_streak += 1
            h.last_failure_at = t if h.last_failure_at is None else max(h.last_failure_at, t)
    else:
        wait = ev.retry_after_s if ev.retry_after_s is not None else default_cooldown_s
        end = t + wait
        h.cooldown_until = end if h.cooldown_until is None else max(h.cooldown_until, end)
    return True


def health_to_bytes(h: ModelHealth) -> bytes:
    return dumps([1, h.failure_streak, h.last_failure_at, h.cooldown_until, h.applied_offsets])


def health_from_bytes(raw: bytes) -> ModelHealth:
    """The inverse of health_to_bytes; ValueError (saying what) on bytes it could not have written."""
    data = loads(raw)
    if not (isinstance(data, list) and len(data) == 5 and data[0] == 1):
        raise ValueError("not a ModelHealth record of format 1: expected a 5-element array starting 1")
    _, streak, last_failure, cooldown, offsets = data
    if type(streak) is not int or streak < 0:
        raise ValueError("not a ModelHealth record: failure_streak must be a non-negative int")
    for name, value in (("last_failure_at", last_failure), ("cooldown_until", cooldown)):
        if value is not None and type(value) not in (int, float):
            raise ValueError(f"not a ModelHealth record: {name} must be a number or null")
    if not (isinstance(offsets, dict) and all(type(n) is int for n in offsets.values())):
        raise ValueError("not a ModelHealth record: applied_offsets must map strings to ints")
    return ModelHealth(streak, last_failure, cooldown, offsets)


def _dt(epoch_s: float | None) -> datetime | None:
    return None if epoch_s is None else datetime.fromtimestamp(epoch_s, UTC)


def scorecard(
    model_id: str, stats: BucketStats | None, health: ModelHealth | None, now: datetime
) -> Scorecard:
    """The compact record selection reads: recent stats plus cooldown and failure streak."""
    h = health or ModelHealth()
    if stats is None or stats.requests == 0:
        return Scorecard(
            model_id=model_id,
            updated_at=now,
            cooldown_until=_dt(h.cooldown_until),
            failure_streak=h.failure_streak,
            last_failure_at=_dt(h.last_failure_at),
        )
    p50, p95 = stats.latency.quantiles((0.5, 0.95))
    return Scorecard(
        model_id=model_id,
        updated_at=now,
        requests=stats.requests,
        successes=stats.successes,
        success_rate=stats.success_rate,
        latency_p50_ms=p50,
        latency_p95_ms=p95,
        quality_mean=stats.quality_mean,
        cost_mean=stats.cost_total / stats.requests,
        cooldown_until=_dt(h.cooldown_until),
        failure_streak=h.failure_streak,
        last_failure_at=_dt(h.last_failure_at),
    )
