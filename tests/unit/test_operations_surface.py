"""The pure parts of the operations surface: fleet health reports, the latency histogram,
dead-letter reasons, the `modelrouter health` table and the dashboard's series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console

from modelrouter.cli.health import health_view
from modelrouter.schemas import (
    HealthReply,
    InvalidEventError,
    LatencySummary,
    ModelSpec,
    Scorecard,
    Settings,
    TopicName,
    WindowSummary,
    decode_request,
)
from modelrouter.schemas.health import HealthParams
from modelrouter.streams.dashboard import SERIES_BUCKETS, DashboardFeed
from modelrouter.streams.fleet_health import health_reports
from modelrouter.streams.histogram import LatencyHistogram
from modelrouter.streams.selection import SelectionResponder
from modelrouter.streams.validation import dead_letter_reason, parse_event

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def spec(model_id: str, enabled: bool = True) -> ModelSpec:
    return ModelSpec(
        model_id=model_id, provider="p", capabilities=("chat",), tier="standard", context_window=8000,
        input_cost_per_1k=0.001, output_cost_per_1k=0.002, enabled=enabled,
    )  # fmt: skip


def test_health_reports_judge_circuits_and_cooldowns_as_selection_does() -> None:
    cards = {
        "broken": Scorecard(
            model_id="broken",
            updated_at=NOW,
            requests=7,
            successes=1,
            failure_streak=6,
            last_failure_at=NOW - timedelta(seconds=10),
            failures_by_error={"timeout": 6},
        ),
        "cooled": Scorecard(
            model_id="broken2",
            updated_at=NOW,
            requests=2,
            successes=2,
            failure_streak=5,
            last_failure_at=NOW - timedelta(seconds=40),
        ),
        "limited": Scorecard(model_id="limited", updated_at=NOW, cooldown_until=NOW + timedelta(seconds=90)),
        "gone": Scorecard(model_id="gone", updated_at=NOW),
    }
    registry = {m: spec(m) for m in ("broken", "cooled", "limited", "steady")}
    reports = {r.model_id: r for r in health_reports(registry, cards, NOW, HealthParams(circuit_open_s=30))}
    assert list(reports) == ["broken", "cooled", "gone", "limited", "steady"]
    broken = reports["broken"]
    assert (broken.circuit, broken.circuit_reason) == ("open", "after 6 consecutive failures")
    assert broken.circuit_open_until == NOW + timedelta(seconds=20)
    assert (broken.recent_failures, broken.requests, broken.success_rate) == ({"timeout": 6}, 7, 1 / 7)
    assert reports["cooled"].circuit == "half_open"  # tripped, but its open time is over
    assert reports["limited"].in_cooldown and reports["limited"].cooldown_until == NOW + timedelta(seconds=90)
    assert (reports["steady"].circuit, reports["steady"].scorecard_at) == ("closed", None)
    assert (reports["gone"].provider, reports["gone"].enabled) == (None, False)  # not in the registry

    console = Console(width=200, record=True)
    console.print(health_view(HealthReply(request_id="r", as_of=NOW, models=tuple(reports.values()))))
    text = console.export_text()
    assert "3 of 5 models avoided or probed now" in text
    assert "open after 6 consecutive failures" in text and "timeout x6" in text
    assert "12:01:30 (in 90 s)" in text


def test_a_health_request_decodes_from_the_wire() -> None:
    request = decode_request(b'{"kind": "health", "request_id": "h1", "reply_to": "replies"}')
    assert (request.kind, request.request_id, request.reply_to) == ("health", "h1", "replies")


def test_latency_histogram_counts_cumulatively_up_to_inf() -> None:
    h = LatencyHistogram(bounds=(0.01, 0.1))
    for seconds in (0.005, 0.01, 0.05, 3.0):
        h.observe(seconds)
    assert h.cumulative() == [("0.01", 2), ("0.1", 3), ("+Inf", 4)]
    assert (h.count, h.total_s) == (4, pytest.approx(3.065))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "json_invalid"),
        (None, "null_value"),
        (
            b'{"type": "rate_limited", "event_id": "e", "occurred_at": "2026-03-01T12:00:00Z",'
            b' "agent_type": "SA", "model_id": "m", "provider": "p"}',
            "wrong_topic",
        ),
        (b'{"type": "task_completed"}', "missing"),
    ],
)
def test_dead_letter_reasons_are_short_labels(raw: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidEventError) as caught:
        parse_event(raw, TopicName.TASK_COMPLETED)
    assert dead_letter_reason(caught.value) == reason


def test_dashboard_series_come_from_bucket_summaries_and_selections() -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    responder = SelectionResponder(Settings(_env_file=None))  # type: ignore[call-arg]  # not started
    feed = DashboardFeed(responder, Settings(_env_file=None))  # type: ignore[call-arg]
    minute = int(now.timestamp()) // 60 * 60

    def bucket(model: str, ago: int, requests: int, ok: int, cost: float, agent: str | None = None) -> None:
        start = datetime.fromtimestamp(minute - 60 * ago, UTC)
        s = WindowSummary(
            model_id=model, agent_type=agent, window="bucket", window_start=start,
            window_end=start + timedelta(minutes=1), final=ago > 0, requests=requests, successes=ok,
            success_rate=None, latency_ms=LatencySummary(p95=250.0), quality_mean=None, cost_total=cost,
            input_tokens=0, output_tokens=0, rate_limited=0, failovers_out=0, failovers_in=0,
        )  # fmt: skip
        feed.apply(s.key, s)

    bucket("a", 1, 10, 9, 0.5)
    bucket("a", 0, 4, 2, 0.25)
    bucket("a", 0, 99, 0, 9.0, agent="SA")  # per agent type: not charted
    bucket("b", 2, 5, 5, 0.1)
    bucket("b", SERIES_BUCKETS + 5, 5, 5, 0.1)  # older than the charts
    responder.stats.selected_by_model.update({"a": 3, "b": 1})
    snap = feed.snapshot(now)
    assert snap["models"] == ["a", "b"] and len(snap["starts"]) == SERIES_BUCKETS
    assert snap["starts"][-1] == minute
    assert snap["series"]["success"]["a"][-2:] == [0.9, 0.5]
    assert snap["series"]["spend"]["a"][-2:] == [0.5, 0.25]
    assert snap["series"]["p95"]["b"][-3:] == [250.0, None, None]
    assert sum(v or 0 for v in snap["series"]["spend"]["b"]) == pytest.approx(0.1)
    assert (snap["series"]["mix"]["a"][-1], snap["series"]["mix"]["b"][-1]) == (3.0, 1.0)
    responder.stats.selected_by_model.update({"a": 2})
    assert feed.snapshot(now)["series"]["mix"]["a"][-1] == 5.0  # counted once, plus what is new
