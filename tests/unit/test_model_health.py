"""ModelHealth: failure streak, cooldown, the replay guard, bytes, and the Scorecard it feeds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from modelrouter.schemas import Failover, FailoverReason, RateLimited, Scorecard, TaskCompleted
from modelrouter.streams.buckets import BucketStats, fold_rate_limited, fold_task_completed
from modelrouter.streams.model_health import (
    DEMOTION_S,
    ModelHealth,
    fold_health,
    health_from_bytes,
    health_to_bytes,
    scorecard,
)
from modelrouter.streams.sketch import RELATIVE_ACCURACY

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
E0 = T0.timestamp()
TC, RL = "task-completed:0", "rate-limited:0"
DEFAULT_COOLDOWN = 60.0


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def task(
    t: float = 0.0,
    *,
    success: bool = True,
    latency: float = 100.0,
    quality: float | None = None,
    cost: float = 0.01,
) -> TaskCompleted:
    return TaskCompleted(
        occurred_at=at(t), agent_type="SA", task_id="t-1", model_id="m", provider="p", success=success,
        latency_ms=latency, quality_score=quality, cost=cost, input_tokens=10, output_tokens=5,
        error_type=None if success else "timeout",
    )  # fmt: skip


def limited(t: float = 0.0, *, retry: float | None = None) -> RateLimited:
    return RateLimited(occurred_at=at(t), agent_type="SA", model_id="m", provider="p", retry_after_s=retry)


def fold(h: ModelHealth, ev: TaskCompleted | RateLimited, offset: int, source: str | None = None) -> bool:
    if source is None:
        source = TC if isinstance(ev, TaskCompleted) else RL
    return fold_health(h, ev, source, offset, DEFAULT_COOLDOWN)


# --- failure streak -----------------------------------------------------------------------


def test_failure_streak_counts_consecutive_failures_and_resets_on_success() -> None:
    h = ModelHealth()
    streaks = []
    for i, ok in enumerate([False, False, False, True, False, True, True, False, False]):
        assert fold(h, task(float(i), success=ok), i)
        streaks.append(h.failure_streak)
    assert streaks == [1, 2, 3, 0, 1, 0, 0, 1, 2]
    assert h.last_failure_at == E0 + 8.0
    assert h.cooldown_until is None  # task events never set a cooldown
    assert h.applied_offsets == {TC: 8}


def test_last_failure_is_the_latest_event_time_not_the_latest_arrival() -> None:
    h = ModelHealth()
    assert fold(h, task(50.0, success=False), 0)
    assert fold(h, task(20.0, success=False), 1)  # out of order: earlier
    assert (h.failure_streak, h.last_failure_at) == (2, E0 + 50.0)
    assert fold(h, task(60.0), 2)  # a success resets the streak but keeps the last failure
    assert (h.failure_streak, h.last_failure_at) == (0, E0 + 50.0)


# --- cooldown -----------------------------------------------------------------------------


def test_cooldown_keeps_the_latest_end() -> None:
    h = ModelHealth()
    assert fold(h, limited(10.0, retry=30.0), 0)
    assert h.cooldown_until == E0 + 40.0
    assert fold(h, limited(20.0, retry=5.0), 1)  # ends at +25: earlier, ignored
    assert h.cooldown_until == E0 + 40.0
    assert fold(h, limited(35.0, retry=10.0), 2)
    assert h.cooldown_until == E0 + 45.0
    assert (h.failure_streak, h.last_failure_at) == (0, None)  # rate limits are not failures


def test_cooldown_without_retry_after_uses_the_default() -> None:
    h = ModelHealth()
    assert fold(h, limited(100.0, retry=None), 0)
    assert h.cooldown_until == E0 + 100.0 + DEFAULT_COOLDOWN
    assert fold(h, limited(110.0, retry=0.0), 1)  # an explicit zero is not "no value"
    assert h.cooldown_until == E0 + 160.0
    other = ModelHealth()
    assert fold_health(other, limited(100.0), RL, 0, default_cooldown_s=0.0)
    assert other.cooldown_until == E0 + 100.0


def test_health_cooldown_matches_the_bucket_cooldown_when_retry_after_is_given() -> None:
    h, s = ModelHealth(), BucketStats()
    for i, (t, retry) in enumerate([(0.0, 12.5), (3.0, 2.0), (40.0, 1.0), (41.0, 0.25)]):
        assert fold(h, limited(t, retry=retry), i)
        assert fold_rate_limited(s, limited(t, retry=retry), RL, i)
        assert h.cooldown_until == s.cooldown_until
    assert h.cooldown_until == E0 + 41.25


# --- replay guard -------------------------------------------------------------------------


def test_a_replayed_offset_returns_false_and_changes_nothing() -> None:
    h = ModelHealth()
    assert fold(h, task(0.0, success=False), 5)
    assert fold(h, limited(1.0, retry=30.0), 9)
    snapshot = health_from_bytes(health_to_bytes(h))
    assert not fold(h, task(2.0), 5)  # same offset: would have reset the streak
    assert not fold(h, task(3.0, success=False), 4)  # older offset
    assert not fold(h, limited(4.0, retry=600.0), 9)
    assert h == snapshot
    assert (h.failure_streak, h.cooldown_until) == (1, E0 + 31.0)
    assert fold(h, task(5.0, success=False), 5, source="task-completed:1")  # another partition
    assert h.failure_streak == 2
    assert h.applied_offsets == {TC: 5, RL: 9, "task-completed:1": 5}


# --- bytes ----------------------------------------------------------------------------------


def test_bytes_layout_and_round_trip() -> None:
    assert health_to_bytes(ModelHealth()) == b"[1,0,null,null,{}]"
    assert health_from_bytes(b"[1,0,null,null,{}]") == ModelHealth()
    h = ModelHealth(
        failure_streak=3,
        last_failure_at=E0 + 0.125,
        cooldown_until=E0 + 90.5,
        applied_offsets={TC: 41, RL: 7, "task-completed:3": 0},
    )
    raw = health_to_bytes(h)
    assert raw == (
        b'[1,3,1740830400.125,1740830490.5,{"task-completed:0":41,"rate-limited:0":7,"task-completed:3":0}]'
    )
    back = health_from_bytes(raw)
    assert back == h
    assert back.applied_offsets is not h.applied_offsets


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1,0,null,null,{}"])
def test_bytes_that_are_not_json_raise_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the JSON parser's message; ValueError is the contract
        health_from_bytes(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"failure_streak": 0}',
        b"[2,0,null,null,{}]",  # unknown format
        b"[1,0,null,null]",
        b"[1,0,null,null,{},0]",
        b'[1,"3",null,null,{}]',
        b"[1,null,null,null,{}]",
        b"[1,-1,null,null,{}]",
        b"[1,1.5,null,null,{}]",
        b'[1,0,"yesterday",null,{}]',
        b"[1,0,null,true,{}]",
        b"[1,0,null,null,[]]",
        b'[1,0,null,null,{"task-completed:0":"7"}]',
    ],
)
def test_records_it_could_not_have_written_raise_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError, match=r"^not a ModelHealth record"):
        health_from_bytes(raw)


# --- scorecard ------------------------------------------------------------------------------


def test_scorecard_without_stats_carries_only_health() -> None:
    now = at(500.0)
    h = ModelHealth(failure_streak=4, last_failure_at=E0 + 10.0, cooldown_until=E0 + 600.0)
    card = scorecard("m", None, h, now)
    assert card == Scorecard(
        model_id="m",
        updated_at=now,
        cooldown_until=at(600.0),
        failure_streak=4,
        last_failure_at=at(10.0),
    )
    assert (card.requests, card.success_rate, card.latency_p50_ms, card.cost_mean) == (0, None, None, None)
    # Rate limits alone are no requests: still no stats.
    only_limits = BucketStats(rate_limited=3, cooldown_until=E0 + 999.0)
    assert scorecard("m", only_limits, h, now) == card
    assert scorecard("m", None, None, now) == Scorecard(model_id="m", updated_at=now)


def test_scorecard_fields_from_stats_and_health() -> None:
    rng = np.random.default_rng(5)
    latencies = [float(x) for x in rng.lognormal(6, 0.8, 200)]
    s, h = BucketStats(), ModelHealth()
    for i, latency in enumerate(latencies):
        ok = i % 10 != 0  # 20 failures in 200
        quality = 0.8 if i % 2 else None
        ev = task(float(i), success=ok, latency=latency, quality=quality, cost=0.002 if ok else 0.0005)
        assert fold_task_completed(s, ev, TC, i)
        assert fold(h, ev, i)
    assert fold(h, limited(300.0, retry=None), 0)
    now = at(400.0)
    card = scorecard("m", s, h, now)
    assert (card.model_id, card.updated_at) == ("m", now)
    assert (card.requests, card.successes) == (200, 180)
    assert card.success_rate == pytest.approx(0.9)
    assert card.quality_mean == pytest.approx(0.8)
    assert card.cost_mean == pytest.approx((180 * 0.002 + 20 * 0.0005) / 200)
    assert [card.latency_p50_ms, card.latency_p95_ms] == s.latency.quantiles((0.5, 0.95))
    exact = np.quantile(latencies, [0.5, 0.95], method="lower")
    assert card.latency_p50_ms == pytest.approx(exact[0], rel=RELATIVE_ACCURACY)
    assert card.latency_p95_ms == pytest.approx(exact[1], rel=RELATIVE_ACCURACY)
    # The last event (i=199) succeeded; i=190 was the last failure.
    assert (card.failure_streak, card.last_failure_at) == (0, at(190.0))
    assert card.cooldown_until == at(300.0 + DEFAULT_COOLDOWN)


def test_scorecard_without_health_has_no_streak_or_cooldown() -> None:
    s = BucketStats()
    assert fold_task_completed(s, task(latency=250.0, cost=0.04), TC, 0)
    card = scorecard("m", s, None, T0)
    assert (card.requests, card.success_rate) == (1, 1.0)
    assert card.cost_mean == pytest.approx(0.04)
    assert card.latency_p50_ms == card.latency_p95_ms == pytest.approx(250.0, rel=RELATIVE_ACCURACY)
    assert (card.failure_streak, card.cooldown_until, card.last_failure_at) == (0, None, None)


# --- failover reports ---------------------------------------------------------------------

FO = "failover:0"


def failover(
    reason: FailoverReason,
    t: float = 0.0,
    *,
    task_id: str = "t-1",
    agent: str = "SA",
    retry: float | None = None,
) -> Failover:
    return Failover(
        occurred_at=at(t), agent_type=agent, task_id=task_id, original_model="m", alternative_model="n",
        reason=reason, retry_after_s=retry,
    )  # fmt: skip


def test_a_rate_limited_failover_starts_a_cooldown() -> None:
    h = ModelHealth()
    assert fold_health(h, failover(FailoverReason.RATE_LIMITED, 10.0, retry=30.0), FO, 0, DEFAULT_COOLDOWN)
    assert h.cooldown_until == E0 + 40.0
    other = ModelHealth()
    assert fold_health(other, failover(FailoverReason.RATE_LIMITED, 10.0), FO, 0, DEFAULT_COOLDOWN)
    assert other.cooldown_until == E0 + 10.0 + DEFAULT_COOLDOWN
    assert (other.failure_streak, other.demoted_until) == (0, {})


@pytest.mark.parametrize("reason", [FailoverReason.UNAVAILABLE, FailoverReason.TIMEOUT, FailoverReason.ERROR])
def test_unavailable_timeout_and_error_failovers_count_as_failures(reason: FailoverReason) -> None:
    h = ModelHealth()
    for i in range(3):
        assert fold_health(h, failover(reason, float(i), task_id=f"t-{i}"), FO, i, DEFAULT_COOLDOWN)
    assert (h.failure_streak, h.last_failure_at, h.cooldown_until) == (3, E0 + 2.0, None)


def test_a_failed_call_reported_twice_counts_once_whichever_comes_first() -> None:
    # The FailoverManager publishes a failed TaskCompleted and a Failover for the same call.
    h = ModelHealth()
    assert fold(h, task(0.0, success=False), 0)  # task t-1
    assert fold_health(h, failover(FailoverReason.TIMEOUT, 0.0), FO, 0, DEFAULT_COOLDOWN)
    assert h.failure_streak == 1
    assert fold_health(h, failover(FailoverReason.TIMEOUT, 1.0, task_id="t-2"), FO, 1, DEFAULT_COOLDOWN)
    failed_t2 = task(1.0, success=False).model_copy(update={"task_id": "t-2"})
    assert fold(h, failed_t2, 1)
    assert h.failure_streak == 2
    assert (h.unpaired_failed_tasks, h.unpaired_failover_tasks) == ([], [])
    # A second failed call of the same task is a second failure.
    assert fold(h, task(2.0, success=False), 2)
    assert h.failure_streak == 3


@pytest.mark.parametrize("reason", [FailoverReason.QUALITY, FailoverReason.COST])
def test_quality_and_cost_failovers_demote_the_model_for_that_agent_type(reason: FailoverReason) -> None:
    h = ModelHealth()
    assert fold_health(h, failover(reason, 0.0), FO, 0, DEFAULT_COOLDOWN, demotion_s=600.0)
    assert fold_health(h, failover(reason, 100.0, agent="PM"), FO, 1, DEFAULT_COOLDOWN, demotion_s=600.0)
    assert h.demoted_until == {"SA": E0 + 600.0, "PM": E0 + 700.0}
    assert (h.failure_streak, h.cooldown_until) == (0, None)
    # An event after SA's demotion ended drops it.
    assert fold_health(h, failover(reason, 650.0, agent="PM"), FO, 2, DEFAULT_COOLDOWN, demotion_s=600.0)
    assert h.demoted_until == {"PM": E0 + 1250.0}
    card = scorecard("m", None, h, at(1000.0))
    assert card.demoted_until == {"PM": at(1250.0)}
    assert scorecard("m", None, h, at(1250.0)).demoted_until == {}


def test_the_default_demotion_lasts_an_hour() -> None:
    h = ModelHealth()
    assert fold_health(h, failover(FailoverReason.QUALITY), FO, 0, DEFAULT_COOLDOWN)
    assert DEMOTION_S == 3600.0
    assert h.demoted_until == {"SA": E0 + 3600.0}


@pytest.mark.parametrize("reason", [FailoverReason.CONTEXT_LENGTH, FailoverReason.CONTENT_POLICY])
def test_request_specific_failovers_change_nothing(reason: FailoverReason) -> None:
    h = ModelHealth()
    assert fold_health(h, failover(reason), FO, 0, DEFAULT_COOLDOWN)
    assert h == ModelHealth(applied_offsets={FO: 0})


def test_failover_state_round_trips_through_bytes_of_format_2() -> None:
    h = ModelHealth()
    assert fold_health(h, failover(FailoverReason.QUALITY), FO, 0, DEFAULT_COOLDOWN)
    assert fold_health(h, failover(FailoverReason.ERROR, task_id="t-9"), FO, 1, DEFAULT_COOLDOWN)
    raw = health_to_bytes(h)
    assert raw.startswith(b"[2,1,")
    assert health_from_bytes(raw) == h
    with pytest.raises(ValueError, match="demoted_until"):
        health_from_bytes(b'[2,0,null,null,{},{"SA":"x"},[],[]]')
    with pytest.raises(ValueError, match="unpaired_failed_tasks"):
        health_from_bytes(b"[2,0,null,null,{},{},[1],[]]")
