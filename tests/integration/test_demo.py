"""The demo end to end on a short timeline: a real worker, the fleet, the outage, the report."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from modelrouter.cli.demo.run import run_demo
from modelrouter.cli.demo.timeline import Timeline
from modelrouter.schemas import Settings, loads

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(150)]


def saved(report_json: str, worker_log: str) -> tuple[dict[str, Any], int]:
    """The report file's content and the worker log's size (read off the event loop's hot path)."""
    return loads(Path(report_json).read_bytes()), Path(worker_log).stat().st_size


async def test_the_demo_reports_selection_against_a_fixed_assignment(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    # 20 s: warm-up 0-5, outage 5-10, recovery, storm 13.3-16.7, recovery.
    timeline = Timeline.scaled(20)
    out = io.StringIO()
    report = await run_demo(
        kafka_settings, seed=11, rate=30, timeline=timeline, view="plain", out=out, run_dir=tmp_path / "demo"
    )
    text = out.getvalue()

    selection, fixed, fallback = (report.policy(n) for n in ("selection", "fixed", "fixed+fallback"))
    # Both policies over the same tasks.
    assert 450 < report.tasks < 750
    assert selection.tasks == fixed.tasks == fallback.tasks == report.tasks
    assert selection.outage_tasks == fixed.outage_tasks > 100
    assert report.unfinished == 0
    # The outage hurt the fixed assignment, and selection kept more tasks succeeding through it.
    assert fixed.outage_success_rate is not None and fixed.outage_success_rate < 0.7
    assert selection.outage_success_rate is not None
    assert selection.outage_success_rate >= fixed.outage_success_rate
    assert selection.outage_success_rate > 0.9
    assert selection.success_rate > fixed.success_rate
    assert selection.cost > 0 and fixed.cost > 0 and fallback.cost > 0
    assert selection.p95_latency_ms is not None and selection.p95_latency_ms > 0

    # Every task asked the worker, and the worker answered (not the client's fallback).
    assert report.selections == report.tasks
    assert report.selection_fallbacks <= report.tasks * 0.02
    # Every call published a task-completed event, and the worker folded each one.
    assert report.events["task_completed"] == selection.calls
    assert report.events["failover"] > 0
    assert report.worker_counted == report.events["task_completed"]

    outage = report.shifts[0]
    assert outage.subject == "anthropic"
    assert outage.share_before is not None and outage.share_before > 0.2
    assert outage.left_at_s is not None and 5.0 <= outage.left_at_s < 10.0
    assert outage.share_during is not None and outage.share_during < outage.share_before / 2

    on_disk, log_size = saved(report.report_json, report.worker_log)
    assert on_disk["tasks"] == report.tasks
    assert [p["name"] for p in on_disk["policies"]] == ["selection", "fixed", "fixed+fallback"]
    assert log_size > 0
    assert "Same tasks, same simulated world" in text
    assert "OUTAGE anthropic" in text  # the progress lines name the phase
