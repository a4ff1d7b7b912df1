"""The demo report's mean quality: of the successful tasks only, the answer of their last call."""

from __future__ import annotations

import pytest

from modelrouter.cli.demo.analysis import mean_quality, policy_stats
from modelrouter.cli.demo.timeline import Timeline
from modelrouter.cli.demo.world import CallOutcome, Failure, TaskResult


def ok(quality: float) -> CallOutcome:
    return CallOutcome("m", "p", 100.0, None, 10, 10, 0.01, quality)


FAILED = CallOutcome("m", "p", 50.0, Failure.SERVER_ERROR, 10, 0, 0.0, None)


def test_mean_quality_counts_successful_tasks_by_their_last_call() -> None:
    results = [
        TaskResult(0, 1.0, "SA", (ok(0.9),)),
        TaskResult(1, 2.0, "SA", (FAILED, ok(0.7))),  # failed over: the answer is the second call's
        TaskResult(2, 3.0, "SA", (FAILED,)),  # failed: no quality
        TaskResult(3, 4.0, "SA", (ok(0.1),), finished=False),  # unfinished counts as failed
    ]
    assert mean_quality(results) == pytest.approx(0.8)
    assert policy_stats("p", "p", results, Timeline.scaled(60)).mean_quality == pytest.approx(0.8)
    assert mean_quality([TaskResult(0, 1.0, "SA", (FAILED,))]) is None
