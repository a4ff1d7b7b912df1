"""The stats a selection process hands its worker survive the line they travel on."""

from __future__ import annotations

from collections import Counter

from modelrouter.streams.decision_publisher import DecisionCounts
from modelrouter.streams.responder_process import stats_from_line, stats_line
from modelrouter.streams.selection import ResponderStats


def test_a_stats_snapshot_round_trips_through_its_line() -> None:
    stats = ResponderStats(requests=7, selections=5, fallbacks=1, summaries=1, error_replies=1)
    stats.budget_rejections, stats.reservations_failed, stats.late_unreserved = 4, 1, 2
    stats.selected_by_model = Counter({"gpt-4o": 3, "claude-3-haiku": 2})
    stats.decisions = DecisionCounts(published=5, dropped=2, failed=1)
    for seconds in (0.002, 0.004, 0.3):
        stats.timed(seconds, 0.0)

    line = stats_line(stats)
    back = stats_from_line(line)

    assert line.endswith(b"\n") and line.count(b"\n") == 1
    counts = (back.requests, back.selections, back.fallbacks, back.summaries, back.error_replies)
    assert counts == (7, 5, 1, 1, 1)
    assert (back.budget_rejections, back.reservations_failed, back.late_unreserved) == (4, 1, 2)
    assert back.decisions == DecisionCounts(published=5, dropped=2, failed=1)
    assert back.selected_by_model == Counter({"gpt-4o": 3, "claude-3-haiku": 2})
    assert back.latency.counts == stats.latency.counts
    assert back.latency.count == 3
    assert back.latency.total_s == stats.latency.total_s
    assert back.wait_ms == [] and back.handle_ms == []  # the log's timings stay in the child
