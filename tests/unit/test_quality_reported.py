"""QualityReported: a task's quality after the fact, on the task-completed topic, folded into
the bucket's quality mean without counting a request, and ignored by model health."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from modelrouter.schemas import (
    InvalidEventError,
    QualityReported,
    TaskCompleted,
    TopicName,
    decode_event,
    encode,
)
from modelrouter.streams.buckets import BucketKey, BucketStats, FoldTally, fold_batch, fold_quality_reported
from modelrouter.streams.validation import parse_event

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
E0 = int(T0.timestamp())
TC = "task-completed:0"


def completed(t: float, quality: float | None = None) -> TaskCompleted:
    return TaskCompleted(
        occurred_at=T0 + timedelta(seconds=t), agent_type="SA", task_id=f"t{t}", model_id="m",
        provider="p", success=True, latency_ms=100.0, quality_score=quality, cost=0.01,
        input_tokens=10, output_tokens=5,
    )  # fmt: skip


def quality(t: float, score: float, task_id: str = "t1") -> QualityReported:
    return QualityReported(
        occurred_at=T0 + timedelta(seconds=t), agent_type="SA", task_id=task_id, model_id="m",
        quality_score=score,
    )  # fmt: skip


def test_round_trip_and_key() -> None:
    ev = quality(1, 0.75)
    assert decode_event(encode(ev)) == ev
    assert ev.key == "m"
    assert ev.type == "quality_reported"


def test_score_outside_0_1_is_refused() -> None:
    with pytest.raises(ValueError, match="quality_score"):
        quality(1, 1.5)


def test_it_belongs_on_the_task_completed_topic_only() -> None:
    raw = encode(quality(1, 0.5))
    assert parse_event(raw, TopicName.TASK_COMPLETED) == quality(1, 0.5).model_copy(
        update={"event_id": decode_event(raw).event_id}
    )
    with pytest.raises(InvalidEventError, match="does not belong on topic"):
        parse_event(raw, TopicName.RATE_LIMITED)


def test_fold_adds_quality_but_no_request() -> None:
    tally = FoldTally()
    items = [(TC, 0, completed(1)), (TC, 1, completed(2)), (TC, 2, quality(3, 0.9)), (TC, 3, quality(4, 0.5))]
    changed = fold_batch(items, 60, tally=tally)
    stats = changed[BucketKey("m", "SA", E0)]
    assert (stats.requests, stats.successes, stats.quality_count) == (2, 2, 2)
    assert stats.quality_mean == pytest.approx(0.7)
    assert (tally.applied, tally.duplicates) == (4, 0)


def test_fold_skips_a_replayed_quality_report() -> None:
    stats = BucketStats()
    assert fold_quality_reported(stats, quality(1, 0.9), TC, 5)
    assert not fold_quality_reported(stats, quality(1, 0.9), TC, 5)
    assert (stats.quality_count, stats.quality_sum_nano) == (1, 900_000_000)
