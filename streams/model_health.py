"""Per-model health state folded from events: failure streak, last failure, rate-limit cooldown,
and the agent types whose failovers away from the model lowered its standing.

Pure: plain data and functions, no faust. One value per model_id, with the same
last-applied-offset guard as the buckets, so a replay after a crash changes nothing.

A Failover event speaks for its original model (docs/design.md "Failover reports"):
`rate_limited` starts a cooldown (its retry_after_s, else the default cooldown), like a
RateLimited event; `unavailable`, `timeout` and `error` count as a failure for the circuit;
`quality` and `cost` lower the model's standing for that agent type for `demotion_s`;
`context_length` and `content_policy` say nothing about the model's health (they are about
the request). The FailoverManager publishes a failed TaskCompleted and a Failover for the same
call: the two are paired by task_id, so that call counts as one failure, not two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from modelrouter.schemas import Failover, FailoverReason, RateLimited, Scorecard, TaskCompleted, dumps, loads

from .buckets import BucketStats

__all__ = [
    "DEMOTION_S",
    "HealthEvent",
    "ModelHealth",
    "fold_health",
    "health_from_bytes",
    "health_to_bytes",
    "scorecard",
]

HealthEvent = TaskCompleted | RateLimited | Failover

# How long a failover away from a model for quality or cost lowers its standing for that agent
# type: an hour, long enough to steer the next tasks, short enough that a model gets another chance.
DEMOTION_S = 3600.0
# Bounds on what one model's state remembers (the oldest entries go first).
MAX_DEMOTED_AGENTS = 64
MAX_UNPAIRED_TASKS = 32

_CIRCUIT_FAILURES = frozenset({FailoverReason.UNAVAILABLE, FailoverReason.TIMEOUT, FailoverReason.ERROR})
_STANDING = frozenset({FailoverReason.QUALITY, FailoverReason.COST})


@dataclass(slots=True)
class ModelHealth:
    failure_streak: int = 0
    last_failure_at: float | None = None  # epoch seconds (event time)
    cooldown_until: float | None = None  # epoch seconds: latest occurred_at + retry_after
    applied_offsets: dict[str, int] = field(default_factory=dict)
    # agent type -> epoch seconds until which a quality/cost failover lowers the standing
    demoted_until: dict[str, float] = field(default_factory=dict)
    # task ids of failures counted from one side (TaskCompleted / Failover) not yet met on the other
    unpaired_failed_tasks: list[str] = field(default_factory=list)
    unpaired_failover_tasks: list[str] = field(default_factory=list)


def fold_health(
    h: ModelHealth,
    ev: HealthEvent,
    source: str,
    offset: int,
    default_cooldown_s: float,
    demotion_s: float = DEMOTION_S,
) -> bool:
    """Apply one event unless this source offset was applied before; True when applied.

    A Failover applies to its original model (the caller folds it into that model's state).
    """
    if offset <= h.applied_offsets.get(source, -1):
        return False
    h.applied_offsets[source] = offset
    t = ev.occurred_at.timestamp()
    if isinstance(ev, TaskCompleted):
        if ev.success:
            h.failure_streak = 0
        elif not _pair(h.unpaired_failover_tasks, h.unpaired_failed_tasks, ev.task_id):
            _failure(h, t)
    elif isinstance(ev, RateLimited) or ev.reason is FailoverReason.RATE_LIMITED:
        _cool_down(h, t, ev.retry_after_s, default_cooldown_s)
    elif ev.reason in _CIRCUIT_FAILURES:
        if not _pair(h.unpaired_failed_tasks, h.unpaired_failover_tasks, ev.task_id):
            _failure(h, t)
    elif ev.reason in _STANDING:
        _demote(h, ev.agent_type, t + demotion_s, t)
    return True


def _failure(h: ModelHealth, t: float) -> None:
    h.failure_streak += 1
    h.last_failure_at = t if h.last_failure_at is None else max(h.last_failure_at, t)


def _cool_down(h: ModelHealth, t: float, retry_after_s: float | None, default_cooldown_s: float) -> None:
    end = t + (retry_after_s if retry_after_s is not None else default_cooldown_s)
    h.cooldown_until = end if h.cooldown_until is None else max(h.cooldown_until, end)


def _pair(other_side: list[str], this_side: list[str], task_id: str) -> bool:
    """True when the other kind of event already counted this task's failure (and use it up);
    else remember the task on this side and return False (count it now)."""
    if task_id in other_side:
        other_side.remove(task_id)
        return True
    this_side.append(task_id)
    del this_side[:-MAX_UNPAIRED_TASKS]
    return False


def _demote(h: ModelHealth, agent_type: str, end: float, t: float) -> None:
    ends = h.demoted_until
    ends[agent_type] = max(ends.get(agent_type, end), end)
    for agent in [a for a, until in ends.items() if until <= t]:  # over by this event's time
        del ends[agent]
    while len(ends) > MAX_DEMOTED_AGENTS:
        del ends[min(ends, key=lambda a: (ends[a], a))]


def health_to_bytes(h: ModelHealth) -> bytes:
    """Format 1 while nothing of format 2 is set (the same bytes as before failovers counted)."""
    head = [h.failure_streak, h.last_failure_at, h.cooldown_until, h.applied_offsets]
    if not (h.demoted_until or h.unpaired_failed_tasks or h.unpaired_failover_tasks):
        return dumps([1, *head])
    return dumps([2, *head, h.demoted_until, h.unpaired_failed_tasks, h.unpaired_failover_tasks])


def health_from_bytes(raw: bytes) -> ModelHealth:
    """The inverse of health_to_bytes; ValueError (saying what) on bytes it could not have written."""
    data = loads(raw)
    if isinstance(data, list) and len(data) == 8 and data[0] == 2:
        demoted, failed, failovers = data[5:]
        if not (isinstance(demoted, dict) and all(type(v) in (int, float) for v in demoted.values())):
            raise ValueError("not a ModelHealth record: demoted_until must map strings to numbers")
        for name, ids in (("unpaired_failed_tasks", failed), ("unpaired_failover_tasks", failovers)):
            if not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
                raise ValueError(f"not a ModelHealth record: {name} must be a list of strings")
        h = health_from_bytes(dumps([1, *data[1:5]]))
        h.demoted_until, h.unpaired_failed_tasks, h.unpaired_failover_tasks = demoted, failed, failovers
        return h
    if not (isinstance(data, list) and len(data) == 5 and data[0] == 1):
        raise ValueError(
            "not a ModelHealth record: expected a 5-element array starting 1 or an 8-element one starting 2"
        )
    _, streak, last_failure, cooldown, offsets = data
    if type(streak) is not int or streak < 0:
        raise ValueError("not a ModelHealth record: failure_streak must be a non-negative int")
    for name, value in (("last_failure_at", last_failure), ("cooldown_until", cooldown)):
        if value is not None and type(value) not in (int, float):
            raise ValueError(f"not a ModelHealth record: {name} must be a number or null")
    if not (isinstance(offsets, dict) and all(type(n) is int for n in offsets.values())):
        raise ValueError("not a ModelHealth record: applied_offsets must map strings to ints")
    return ModelHealth(streak, last_failure, cooldown, offsets)


_LATEST_S = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()  # datetime.max, whole seconds


def _dt(epoch_s: float | None) -> datetime | None:
    return None if epoch_s is None else _clamped(epoch_s)


def _clamped(epoch_s: float) -> datetime:
    # An event of 9999-12-31 plus its retry_after (or demotion) would be past the last datetime.
    return datetime.fromtimestamp(min(epoch_s, _LATEST_S), UTC)


def scorecard(
    model_id: str, stats: BucketStats | None, health: ModelHealth | None, now: datetime
) -> Scorecard:
    """The compact record selection reads: recent stats plus cooldown and failure streak."""
    h = health or ModelHealth()
    wall = now.timestamp()
    demoted = {a: _clamped(e) for a, e in sorted(h.demoted_until.items()) if e > wall}
    if stats is None or stats.requests == 0:
        return Scorecard(
            model_id=model_id,
            updated_at=now,
            cooldown_until=_dt(h.cooldown_until),
            failure_streak=h.failure_streak,
            last_failure_at=_dt(h.last_failure_at),
            demoted_until=demoted,
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
        demoted_until=demoted,
        failures_by_error=dict(stats.failures),
    )
