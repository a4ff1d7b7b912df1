"""Every event that passes validation folds, encodes, decodes and summarises without an error.

Issue 16: one valid record (cost=2e7, tokens >= 2**64, latency 1e17, cost=1e300) once crashed
the worker on every restart. The contract now bounds those fields; inside the bounds the
fold must hold any value, alone or summed over many events into one bucket.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelrouter.schemas import (
    Failover,
    FailoverReason,
    InvalidEventError,
    QualityReported,
    RateLimited,
    TaskCompleted,
    WindowSummary,
    decode,
    decode_event,
    dumps,
    encode,
)
from modelrouter.schemas.base import MAX_COST_USD, MAX_LATENCY_MS, MAX_RETRY_AFTER_S, MAX_TOKENS
from modelrouter.streams.buckets import BucketStats, fold_batch, from_bytes, summarize, to_bytes
from modelrouter.streams.model_health import (
    ModelHealth,
    fold_health,
    health_from_bytes,
    health_to_bytes,
    scorecard,
)

# hypothesis takes naive bounds and attaches the zone itself.
_times = st.datetimes(
    min_value=datetime(1, 1, 2),  # noqa: DTZ001
    max_value=datetime(9999, 12, 31, 23, 59),  # noqa: DTZ001
    timezones=st.just(UTC),
)
_ids = st.sampled_from(["gpt-4o", "claude-3", "m"])
_agents = st.sampled_from(["SA", "PM"])


def _bounded(upper: float) -> st.SearchStrategy[float]:
    # The extremes first: hypothesis tries them, but they are the point of this test.
    return st.one_of(st.sampled_from([0.0, 5e-324, upper]), st.floats(0, upper))


_task_completed = st.builds(
    TaskCompleted,
    occurred_at=_times,
    agent_type=_agents,
    task_id=st.just("t"),
    model_id=_ids,
    provider=st.just("p"),
    success=st.booleans(),
    latency_ms=_bounded(MAX_LATENCY_MS),
    quality_score=st.none() | _bounded(1.0),
    cost=_bounded(MAX_COST_USD),
    input_tokens=st.sampled_from([0, MAX_TOKENS]) | st.integers(0, MAX_TOKENS),
    output_tokens=st.sampled_from([0, MAX_TOKENS]) | st.integers(0, MAX_TOKENS),
    error_type=st.none() | st.text(max_size=128),
)
_rate_limited = st.builds(
    RateLimited,
    occurred_at=_times,
    agent_type=_agents,
    model_id=_ids,
    provider=st.just("p"),
    retry_after_s=st.none() | _bounded(MAX_RETRY_AFTER_S),
)
_failover = st.builds(
    Failover,
    occurred_at=_times,
    agent_type=_agents,
    task_id=st.just("t"),
    original_model=_ids,
    alternative_model=_ids,
    reason=st.sampled_from(FailoverReason),
    retry_after_s=st.none() | _bounded(MAX_RETRY_AFTER_S),
)
_quality_reported = st.builds(
    QualityReported,
    occurred_at=_times,
    agent_type=_agents,
    task_id=st.just("t"),
    model_id=_ids,
    quality_score=_bounded(1.0),
)
_events = st.lists(
    st.one_of(_task_completed, _rate_limited, _failover, _quality_reported), min_size=1, max_size=40
)


@settings(max_examples=150, deadline=None)
@given(events=_events, copies=st.sampled_from([1, 30]))
def test_any_valid_events_fold_encode_and_summarise(
    events: list[TaskCompleted | RateLimited | Failover | QualityReported], copies: int
) -> None:
    # `copies` repeats the batch so sums of maximal values pass 2**64 inside one bucket.
    items = [("t:0", i, ev) for i, ev in enumerate(events * copies)]
    for side in ("out", "in"):
        changed = fold_batch(items, 60, failover_side=side)
        for key, stats in changed.items():
            restored = from_bytes(to_bytes(stats))
            assert restored == stats
            summary = summarize(
                stats,
                model_id=key.model_id,
                agent_type=key.agent_type,
                window="bucket",
                window_start=float(key.bucket_start),
                window_end=float(key.bucket_start + 60),
                final=True,
            )
            assert decode(WindowSummary, encode(summary)) == summary
            assert summary.requests == stats.requests
    health = ModelHealth()
    for i, ev in enumerate(events * copies):
        if isinstance(ev, TaskCompleted | RateLimited | Failover):
            fold_health(health, ev, "t:0", i, 30.0)
    assert health_from_bytes(health_to_bytes(health)) == health
    card = scorecard("gpt-4o", BucketStats(), health, datetime.now(UTC))
    assert card.failure_streak == health.failure_streak


def test_health_at_the_end_of_time_makes_a_scorecard() -> None:
    last = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)
    health = ModelHealth()
    events: list[RateLimited | Failover] = [
        RateLimited(
            occurred_at=last, agent_type="SA", model_id="m", provider="p", retry_after_s=MAX_RETRY_AFTER_S
        ),
        Failover(
            occurred_at=last, agent_type="SA", task_id="t", original_model="m", alternative_model="n",
            reason=FailoverReason.QUALITY,
        ),
    ]  # fmt: skip
    for i, ev in enumerate(events):
        assert fold_health(health, ev, "t:0", i, 30.0)
    card = scorecard("m", BucketStats(), health, datetime.now(UTC))
    assert card.cooldown_until == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert card.demoted_until == {"SA": datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)}


def test_sums_beyond_64_bits_survive_encoding_exactly() -> None:
    ev = TaskCompleted(
        agent_type="SA", task_id="t", model_id="m", provider="p", success=True,
        latency_ms=MAX_LATENCY_MS, cost=MAX_COST_USD, input_tokens=MAX_TOKENS, output_tokens=MAX_TOKENS,
    )  # fmt: skip
    n = 20_000_000 // 1_000  # enough max-cost events to pass 2**64 picodollars ($18.4M)
    (stats,) = fold_batch([("t:0", i, ev) for i in range(n)], 60).values()
    assert stats.cost_sum_pico == n * 10**18 > 2**64
    assert from_bytes(to_bytes(stats)).cost_sum_pico == n * 10**18
    assert stats.cost_total == n * MAX_COST_USD


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cost", 2e7),
        ("cost", 1e300),
        ("input_tokens", 2**64),
        ("output_tokens", MAX_TOKENS + 1),
        ("latency_ms", 1e17),
    ],
)
def test_values_beyond_the_documented_maximum_are_invalid(field: str, value: float) -> None:
    fields: dict[str, object] = {
        "type": "task_completed", "occurred_at": "2026-01-01T00:00:00Z", "agent_type": "SA",
        "task_id": "t", "model_id": "m", "provider": "p", "success": True, "latency_ms": 1.0,
        "cost": 0.1, "input_tokens": 1, "output_tokens": 1,
    }  # fmt: skip
    del fields[field]
    # Spliced in as text: orjson cannot write 2**64, which is the point.
    raw = dumps(fields)[:-1] + f', "{field}": {value!r}}}'.encode()
    with pytest.raises(InvalidEventError, match=field):
        decode_event(raw)


def test_retry_after_beyond_a_year_is_invalid() -> None:
    with pytest.raises(ValueError, match="retry_after_s"):
        RateLimited(agent_type="SA", model_id="m", provider="p", retry_after_s=MAX_RETRY_AFTER_S * 2)
