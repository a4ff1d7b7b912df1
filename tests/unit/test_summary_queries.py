"""SummaryRequest answers from WindowSummary rows: which rows count, and the totals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from modelrouter.schemas import LatencySummary, SummaryRequest, WindowSummary
from modelrouter.streams.summary_queries import BucketIndex, BucketRow, summary_reply

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def row(
    model: str,
    agent: str | None,
    minutes_ago: float,
    requests: int,
    successes: int,
    cost: float,
    window: str = "bucket",
    p50: float | None = None,
    quality: float | None = None,
    final: bool = True,
    through_minutes_ago: float | None = None,
) -> WindowSummary:
    start = NOW - timedelta(minutes=minutes_ago)
    return WindowSummary(
        model_id=model,
        agent_type=agent,
        window=window,  # type: ignore[arg-type]
        window_start=start,
        window_end=start + timedelta(minutes=1),
        final=final,
        requests=requests,
        successes=successes,
        success_rate=successes / requests if requests else None,
        latency_ms=LatencySummary(p50=p50, p95=None if p50 is None else 2 * p50),
        quality_mean=quality,
        cost_total=cost,
        input_tokens=0,
        output_tokens=0,
        rate_limited=1,
        failovers_out=2,
        failovers_in=3,
        data_through=None if through_minutes_ago is None else NOW - timedelta(minutes=through_minutes_ago),
    )


def ask(agent: str | None = None, hours: float = 24.0) -> SummaryRequest:
    return SummaryRequest(request_id="r", reply_to="replies", agent_type=agent, window_hours=hours)


def test_sums_bucket_rows_of_the_agent_type_within_the_window() -> None:
    rows = [
        row("a", None, 10, 10, 8, 0.10),
        row("a", None, 120, 30, 30, 0.30),
        row("a", None, 25 * 60, 1000, 0, 9.0),  # older than 24 h
        row("a", "SA", 10, 7, 7, 0.07),  # another agent type
        row("b", None, 5, 20, 10, 0.02),
        row("b", None, 10, 50, 50, 1.0, window="1h"),  # a trailing window, not a bucket
    ]
    reply = summary_reply(ask(), rows, [], NOW)
    assert reply.request_id == "r"
    assert reply.total_requests == 60
    assert reply.total_cost == pytest.approx(0.42)
    assert reply.average_success_rate == pytest.approx(48 / 60)
    assert reply.requests_by_model == {"a": 40, "b": 20}
    assert reply.cost_by_model == pytest.approx({"a": 0.40, "b": 0.02})
    a, b = reply.models
    assert (a.model_id, a.requests, a.successes, a.success_rate) == ("a", 40, 38, pytest.approx(0.95))
    assert (a.rate_limited, a.failovers_out, a.failovers_in) == (2, 4, 6)
    assert (b.model_id, b.success_rate) == ("b", 0.5)

    one_hour = summary_reply(ask(hours=1), rows, [], NOW)
    assert one_hour.requests_by_model == {"a": 10, "b": 20}
    sa = summary_reply(ask("SA"), rows, [], NOW)
    assert (sa.total_requests, sa.average_success_rate) == (7, 1.0)


def test_models_without_requests_stay_out_of_cost_and_requests_by_model() -> None:
    # A model named only by a failover (or a rate limit) has a bucket row with no requests.
    rows = [row("used", None, 5, 4, 4, 0.08), row("failed-over-to", None, 5, 0, 0, 0.0)]
    reply = summary_reply(ask(), rows, [], NOW)
    assert reply.cost_by_model == pytest.approx({"used": 0.08})
    assert reply.requests_by_model == {"used": 4}
    assert [(m.model_id, m.requests, m.failovers_in) for m in reply.models] == [
        ("failed-over-to", 0, 3),
        ("used", 4, 3),
    ]


def test_no_rows_is_all_zero() -> None:
    reply = summary_reply(ask("QA"), [row("a", None, 1, 5, 5, 0.1)], [], NOW)
    assert (reply.total_requests, reply.total_cost, reply.average_success_rate, reply.models) == (0, 0, 0, ())


def test_latency_and_quality_come_from_the_latest_matching_trailing_window() -> None:
    buckets = [row("a", None, 10, 10, 10, 0.1)]
    trailing = [
        row("a", None, 70, 10, 10, 0.1, window="1h", p50=100.0, quality=0.5),
        row("a", None, 60, 10, 10, 0.1, window="1h", p50=200.0, quality=0.8),  # the latest
        row("a", None, 60, 10, 10, 0.1, window="24h", p50=999.0),
    ]
    (hour,) = summary_reply(ask(hours=1), buckets, trailing, NOW).models
    assert (hour.latency_p50_ms, hour.latency_p95_ms, hour.quality_mean) == (200.0, 400.0, 0.8)
    (two,) = summary_reply(ask(hours=2), buckets, trailing, NOW).models
    assert (two.latency_p50_ms, two.quality_mean) == (None, None)  # no 2 h window to read them from
    (sa,) = summary_reply(ask("SA", hours=1), [row("a", "SA", 10, 1, 1, 0.0)], trailing, NOW).models
    assert sa.latency_p50_ms is None  # trailing windows are for all agents only


def test_index_keeps_the_latest_row_per_key_and_drops_tombstones() -> None:
    index = BucketIndex()
    first, second = row("a", None, 10, 1, 1, 0.01), row("a", None, 10, 5, 4, 0.05)
    index.apply(first.key, first)
    index.apply(second.key, second)  # same key: replaces
    other = row("b", "SA", 10, 3, 3, 0.03)
    index.apply(other.key, other)
    trailing = row("a", None, 60, 9, 9, 0.09, window="1h", p50=50.0)
    index.apply(trailing.key, trailing)
    assert len(index) == 3
    (kept,) = index.buckets(None)
    assert kept == BucketRow.of(second)
    assert (kept.model_id, kept.agent_type, kept.window_start) == ("a", None, second.window_start)
    assert (kept.requests, kept.successes, kept.cost_total) == (5, 4, 0.05)
    assert (kept.rate_limited, kept.failovers_out, kept.failovers_in) == (1, 2, 3)
    reply = index.reply(ask(hours=1), NOW)
    assert reply.requests_by_model == {"a": 5}
    assert reply.models[0].latency_p50_ms == 50.0
    index.apply(second.key, None)
    index.apply(trailing.key, None)
    assert index.reply(ask(hours=1), NOW).models == ()
    assert index.reply(ask("SA", hours=1), NOW).requests_by_model == {"b": 3}


def test_open_buckets_count_as_provisional_with_the_newest_data_age() -> None:
    rows = [
        row("a", None, 3, 10, 9, 0.10, through_minutes_ago=1.5),
        row("a", None, 1, 4, 4, 0.04, final=False, through_minutes_ago=0.5),
        row("b", None, 0.5, 6, 3, 0.06, final=False, through_minutes_ago=0.5),
    ]
    reply = summary_reply(ask(), rows, [], NOW)
    assert (reply.total_requests, reply.provisional_requests) == (20, 10)
    assert reply.provisional_cost == pytest.approx(0.10)
    rows = [(m.model_id, m.requests, m.provisional_requests) for m in reply.models]
    assert rows == [("a", 14, 4), ("b", 6, 6)]
    assert reply.data_through == NOW - timedelta(seconds=30)
    assert reply.data_age_s == pytest.approx(30.0)


def test_the_index_keeps_whether_a_bucket_is_final_and_its_data_time() -> None:
    index = BucketIndex()
    open_row = row("a", None, 1, 4, 4, 0.04, final=False, through_minutes_ago=0.25)
    index.apply(open_row.key, open_row)
    (kept,) = index.buckets(None)
    assert (kept.final, kept.data_through, kept.requests) == (False, NOW - timedelta(seconds=15), 4)
    final_row = open_row.model_copy(update={"final": True, "requests": 5, "data_through": None})
    index.apply(final_row.key, final_row)  # the final replaces the open bucket's row
    (kept,) = index.buckets(None)
    assert (kept.final, kept.data_through, kept.requests) == (True, None, 5)
    reply = index.reply(ask(), NOW)
    assert (reply.total_requests, reply.provisional_requests) == (5, 0)
    assert reply.data_through == final_row.window_start  # a row without a data time: its start


def test_no_rows_no_data_age() -> None:
    reply = summary_reply(ask(), [], [], NOW)
    assert (reply.data_through, reply.data_age_s, reply.provisional_requests) == (None, None, 0)
