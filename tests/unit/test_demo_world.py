"""The demo's simulated world, the fixed-policy replay, the report and the live view's numbers:
all without a broker."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from modelrouter.agents import ModelOptimizer, ModelRegistry, classify_failure, retry_after_seconds
from modelrouter.cli.demo.analysis import (
    CallRecord,
    RejectionRecord,
    SelectionRecord,
    policy_stats,
    selection_shift,
)
from modelrouter.cli.demo.baseline import fixed_plan, replay_fixed
from modelrouter.cli.demo.fleet import FleetRecords, provider_error
from modelrouter.cli.demo.live import snapshot
from modelrouter.cli.demo.report import DemoReport, render_report, sparkline
from modelrouter.cli.demo.timeline import Timeline, Window
from modelrouter.cli.demo.world import (
    AGENTS,
    CallOutcome,
    Failure,
    ModelProfile,
    SimTask,
    World,
    fleet_agents,
    task_stream,
)
from modelrouter.schemas import ConfigurationError, FailoverReason, ModelSpec, Scorecard, Settings, loads


@pytest.fixture(scope="module")
def registry() -> dict[str, ModelSpec]:
    return dict(ModelRegistry().models)


@pytest.fixture(scope="module")
def world(registry: dict[str, ModelSpec]) -> World:
    return World(7, Timeline.scaled(60), registry)


def task(index: int, at_s: float = 0.0, output_tokens: int = 400) -> SimTask:
    return SimTask(index, at_s, "SA", "system-design", 3000, output_tokens, "quality")


# --- the timeline -------------------------------------------------------------------------


def test_the_default_timeline_scales_with_the_run() -> None:
    tl = Timeline.scaled(60)
    assert (tl.outage, tl.storm) == (Window(15, 30), Window(40, 50))
    assert tl.warm_up == Window(0, 15)
    assert tl.late_warm_up == Window(7.5, 15)
    assert tl.recovery_after(tl.outage) == Window(30, 40)
    assert tl.recovery_after(tl.storm) == Window(50, 60)
    assert Timeline.scaled(20).outage == Window(5, 10)
    assert [tl.phase(t) for t in (0, 14.9, 15, 29.9, 30, 40, 49.9, 50, 59)] == [
        "warm-up",
        "warm-up",
        "OUTAGE anthropic",
        "OUTAGE anthropic",
        "recovery",
        "RATE-LIMIT storm gpt-4o",
        "RATE-LIMIT storm gpt-4o",
        "recovery",
        "recovery",
    ]
    assert tl.describe() == (
        "warm-up 0-15 s · OUTAGE anthropic 15-30 s · recovery 30-40 s · RATE-LIMIT storm gpt-4o 40-50 s"
        " · recovery 50-60 s"
    )


def test_overlapping_trouble_is_named_as_both() -> None:
    tl = Timeline.scaled(60, outage_at=10, outage_for=20, storm_at=20, storm_for=5)
    assert tl.phase(22) == "OUTAGE anthropic + RATE-LIMIT storm gpt-4o"


@pytest.mark.parametrize(
    "kwargs",
    [{"outage_at": 50, "outage_for": 20}, {"storm_for": 0}, {"storm_at": -1}, {"outage_for": -5}],
)
def test_a_timeline_outside_the_run_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError, match="must lie within the 60 s run"):
        Timeline.scaled(60, **kwargs)


# --- traffic ------------------------------------------------------------------------------


def test_the_task_stream_is_a_function_of_the_seed() -> None:
    a, b = task_stream(7, 30, 30), task_stream(7, 30, 30)
    assert a == b
    assert task_stream(8, 30, 30) != a
    assert 700 < len(a) < 1100  # Poisson at 30/s over 30 s
    assert all(0 < t.at_s < 30 for t in a)
    assert [t.at_s for t in a] == sorted(t.at_s for t in a)
    assert {t.agent_type for t in a} == {p.agent_type for p in AGENTS}
    assert [t.index for t in a] == list(range(len(a)))


def test_the_fleet_has_every_configured_agent_type() -> None:
    agents = fleet_agents(ModelOptimizer().agent_types)
    assert {a.agent_type for a in agents} == {"SA", "PM", "BA", "RESEARCH", "QUALITY_JUDGE", "IMPLEMENTATION"}
    unknown = fleet_agents(["SA", "LEGAL"])[1]
    assert (unknown.agent_type, unknown.strategy) == ("LEGAL", "balanced")


# --- calls --------------------------------------------------------------------------------


def test_a_call_is_a_function_of_seed_model_task_and_time(world: World) -> None:
    t = task(3)
    first = world.call("gpt-4o", t, 5.0)
    world.call("claude-3-opus", t, 5.0)  # other calls in between change nothing
    world.call("gpt-4o", task(4), 5.0)
    assert world.call("gpt-4o", t, 5.0) == first
    assert World(7, Timeline.scaled(60), world.registry).call("gpt-4o", t, 5.0) == first
    assert World(8, Timeline.scaled(60), world.registry).call("gpt-4o", t, 5.0) != first
    # Outside any trouble, the moment does not matter.
    assert world.call("gpt-4o", t, 58.0) == first


def test_a_healthy_call_costs_the_registry_price(world: World, registry: dict[str, ModelSpec]) -> None:
    outcomes = [world.call("gpt-4o", task(i), 1.0) for i in range(200)]
    ok = [o for o in outcomes if o.ok]
    assert len(ok) >= 190  # about 1% baseline failures
    o = ok[0]
    assert o.cost == pytest.approx(registry["gpt-4o"].expected_cost(3000, 400))
    assert 0.0 <= (o.quality or 0.0) <= 1.0
    latencies = sorted(x.latency_ms for x in ok)
    median = latencies[len(latencies) // 2]
    assert 1000 < median < 2000  # 0.45 s + 400 tokens at 400/s, lognormal around it
    assert latencies[-1] > 1.5 * median  # a spread, not a constant


def test_the_outage_fails_every_call_of_the_provider(world: World) -> None:
    outage = world.timeline.outage
    for i in range(100):
        for model in ("claude-3-opus", "claude-3.5-sonnet", "claude-3-haiku"):
            o = world.call(model, task(i), outage.start_s + 1.0)
            assert o.failure in (Failure.OVERLOADED, Failure.SERVER_ERROR)
            assert o.cost == 0.0
            assert o.latency_ms < 700  # fails fast
        assert world.call("gpt-4-turbo", task(i), outage.start_s + 1.0) == world.call(
            "gpt-4-turbo", task(i), 1.0
        )
    kinds = {world.call("claude-3-opus", task(i), 20.0).failure for i in range(100)}
    assert kinds == {Failure.OVERLOADED, Failure.SERVER_ERROR}


def test_a_call_in_flight_when_the_outage_begins_fails_then(world: World) -> None:
    start = world.timeline.outage.start_s
    long = task(1, output_tokens=900)  # ~6 s on claude-3-opus
    healthy = world.call("claude-3-opus", long, 1.0)
    assert healthy.ok and healthy.latency_ms > 2000
    dropped = world.call("claude-3-opus", long, start - 1.0)
    assert dropped.failure in (Failure.OVERLOADED, Failure.SERVER_ERROR)
    assert dropped.latency_ms == pytest.approx(1000.0)
    # One that ends before the outage is untouched.
    assert world.call("claude-3-opus", long, start - healthy.latency_ms / 1000 - 0.01) == healthy
    # After the outage, the provider is healthy again.
    assert world.call("claude-3-opus", long, world.timeline.outage.end_s) == healthy


def test_the_storm_rate_limits_its_model_with_a_retry_after(world: World) -> None:
    storm = world.timeline.storm
    outcomes = [world.call("gpt-4o", task(i), storm.start_s + 2.0) for i in range(300)]
    limited = [o for o in outcomes if o.failure is Failure.RATE_LIMITED]
    assert 0.8 < len(limited) / len(outcomes) < 0.97  # storm_share 0.9
    assert {o.retry_after_s for o in limited} <= {1.0, 2.0, 3.0, 4.0}
    others = [world.call("gpt-4o-mini", task(i), storm.start_s + 2.0) for i in range(300)]
    assert sum(o.failure is Failure.RATE_LIMITED for o in others) < 5


def test_failures_raise_exceptions_that_classify_as_the_sdks_would() -> None:
    def outcome(failure: Failure, retry_after: float | None = None) -> CallOutcome:
        return CallOutcome("gpt-4o", "openai", 300.0, failure, 100, 0, 0.0, None, retry_after)

    limited = provider_error(outcome(Failure.RATE_LIMITED, 3.0))
    assert classify_failure(limited) is FailoverReason.RATE_LIMITED
    assert retry_after_seconds(limited) == 3.0
    assert getattr(limited, "status_code", None) == 429
    assert classify_failure(provider_error(outcome(Failure.OVERLOADED))) is FailoverReason.UNAVAILABLE
    assert classify_failure(provider_error(outcome(Failure.SERVER_ERROR))) is FailoverReason.ERROR
    timed_out = provider_error(outcome(Failure.TIMEOUT))
    assert classify_failure(timed_out) is FailoverReason.TIMEOUT
    assert isinstance(timed_out, TimeoutError)


# --- the fixed policy ------------------------------------------------------------------------


def tiny_world() -> World:
    """Two models without randomness: a primary that has an outage from 10 s to 20 s, a backup."""
    specs = {
        "primary": ModelSpec(
            model_id="primary",
            provider="anthropic",
            tier="standard",
            context_window=100_000,
            input_cost_per_1k=0.01,
            output_cost_per_1k=0.02,
        ),
        "backup": ModelSpec(
            model_id="backup",
            provider="openai",
            tier="standard",
            context_window=100_000,
            input_cost_per_1k=0.001,
            output_cost_per_1k=0.002,
        ),
    }
    exact = ModelProfile(1.0, 100, 0.9, error_rate=0, timeout_rate=0, rate_limit_rate=0, latency_sigma=0)
    timeline = Timeline(30, outage=Window(10, 20), storm=Window(25, 26), storm_model="nobody")
    return World(1, timeline, specs, profiles={"primary": exact, "backup": replace(exact, first_token_s=0.5)})


def test_the_fixed_policy_replay_gives_known_numbers() -> None:
    world = tiny_world()
    # Ten tasks, one every 3 s: 0, 3, ..., 27; those at 12, 15 and 18 start in the outage, and
    # the one at 9 is still running when it begins (2 s each: 1 s + 100 tokens at 100/s).
    tasks = [SimTask(i, 3.0 * i, "SA", "t", 1000, 100, "quality") for i in range(10)]
    plan = lambda _: ("primary", "backup")  # noqa: E731

    fixed = replay_fixed(world, tasks, plan, with_fallback=False)
    assert [r.success for r in fixed] == [True, True, True, False, False, False, False, True, True, True]
    assert fixed[3].latency_ms == pytest.approx(1000.0)  # dropped when the outage began at 10 s
    stats = policy_stats("fixed", "fixed", fixed, world.timeline)
    assert (stats.tasks, stats.successes, stats.calls) == (10, 6, 10)
    assert stats.outage_tasks == 3
    assert stats.outage_success_rate == 0.0
    assert stats.cost == pytest.approx(6 * (0.01 + 0.002))  # 1000 in, 100 out at the primary's prices
    assert stats.p95_latency_ms == pytest.approx(2000.0)

    with_fallback = replay_fixed(world, tasks, plan, with_fallback=True)
    assert all(r.success for r in with_fallback)
    assert [r.models for r in with_fallback][3:7] == [("primary", "backup")] * 4
    stats = policy_stats("fixed+fallback", "fixed + fallback", with_fallback, world.timeline)
    assert (stats.successes, stats.calls, stats.outage_success_rate) == (10, 14, 1.0)
    assert stats.cost == pytest.approx(6 * 0.012 + 4 * (0.001 + 0.0002))
    # The fallback starts when the primary's error came back: its latency adds to the task's.
    assert with_fallback[3].latency_ms == pytest.approx(1000.0 + 1500.0)

    assert replay_fixed(world, tasks, plan, with_fallback=True) == with_fallback  # deterministic


def test_the_fixed_plan_is_the_optimizers_assignment(registry: dict[str, ModelSpec]) -> None:
    plan = fixed_plan(ModelOptimizer(registry=registry))
    assert plan(task(0)) == ("claude-3-opus", "gpt-4-turbo")  # SA: architect, premium tier
    assert plan(replace(task(0), agent_type="BA")) == ("claude-3.5-sonnet", "gpt-4o")
    assert plan(replace(task(0), agent_type="IMPLEMENTATION")) == ("gpt-4o-mini", "claude-3-haiku")


def test_the_outage_hurts_the_fixed_policy_on_the_default_world(
    world: World, registry: dict[str, ModelSpec]
) -> None:
    tasks = task_stream(7, 60, 30, fleet_agents(ModelOptimizer(registry=registry).agent_types))
    plan = fixed_plan(ModelOptimizer(registry=registry))
    fixed = policy_stats(
        "fixed", "fixed", replay_fixed(world, tasks, plan, with_fallback=False), world.timeline
    )
    assert fixed.outage_success_rate is not None and fixed.outage_success_rate < 0.6
    assert fixed.storm_success_rate is not None and fixed.storm_success_rate < 0.85
    assert fixed.success_rate > 0.7


# --- the report's arithmetic ---------------------------------------------------------------------


def test_selection_shift_finds_when_selection_left_and_came_back() -> None:
    # 10 selections a second for 30 s: half go to "a" (provider down 10-20 s), none while
    # it is down from 11.5 s on, half again from 23 s.
    selections = []
    for i in range(300):
        t = i / 10
        down = 11.5 <= t < 23
        model = "b" if down or i % 2 else "a"
        selections.append(SelectionRecord(t, "SA", model, "x", False, 3.0))
    calls = [
        CallRecord(10.0 + i / 10, CallOutcome("a", "x", 200.0, Failure.OVERLOADED, 1, 0, 0.0, None))
        for i in range(8)
    ]
    rejections = [RejectionRecord(11.0, "a", "circuit open after 5 consecutive failures")]
    shift = selection_shift(
        "x", "outage", {"a"}, Window(10, 20), Window(5, 10), Window(20, 30), selections, calls, rejections
    )
    assert shift.share_before == pytest.approx(0.5)
    assert shift.threshold == pytest.approx(0.1)
    assert not shift.low_at_start
    assert 11.5 < (shift.left_at_s or 0) <= 12.5
    assert shift.failed_calls_before_leaving == 8
    assert shift.reason == "a: circuit open after 5 consecutive failures"
    assert shift.took_over[0][0] == "b"
    assert shift.again_at_s == pytest.approx(23.0)
    assert shift.back_at_s == pytest.approx(23.0)
    assert shift.share_after == pytest.approx(0.35)  # 20-23 s none, 23-30 s half


def test_sparkline() -> None:
    assert sparkline([None, 0.0, 0.01, 0.5, 1.0]) == " ·▁▄█"


def test_the_report_reads_as_a_comparison_and_saves_as_json(tmp_path: Path) -> None:
    world = tiny_world()
    tasks = [SimTask(i, 3.0 * i, "SA", "t", 1000, 100, "quality") for i in range(10)]
    plan = lambda _: ("primary", "backup")  # noqa: E731
    tl = world.timeline
    policies = (
        policy_stats("selection", "selection", replay_fixed(world, tasks, plan, with_fallback=True), tl),
        policy_stats("fixed", "fixed primary", replay_fixed(world, tasks, plan, with_fallback=False), tl),
    )
    shift = selection_shift(
        "anthropic", "outage", {"primary"}, tl.outage, Window(0, 10), Window(20, 30), [], [], []
    )
    report = DemoReport(
        seed=1,
        seconds=30,
        rate=1 / 3,
        timeline=tl,
        agent_types=("SA",),
        tasks=10,
        policies=policies,
        shifts=(shift,),
        selections=10,
        selection_fallbacks=0,
        round_trip_p50_ms=3.0,
        round_trip_p95_ms=9.0,
        unfinished=0,
        events={"task_completed": 14, "rate_limited": 0, "failover": 4},
        worker_counted=14,
        topic_prefix="demo-x.",
        broker_stop_command=None,
        run_dir=str(tmp_path),
        worker_log=str(tmp_path / "worker.log"),
        demo_log=str(tmp_path / "demo.log"),
        report_json=str(tmp_path / "report.json"),
    )
    text = render_report(report)
    assert re.search(r"selection +fixed primary\n", text)
    assert "success rate" in text and "100.0%" in text and "60.0%" in text
    assert "tasks started in the outage (3)" in text
    assert re.search(r"mean quality of successful tasks +0\.\d{3} +0\.\d{3}\n", text)
    assert "worker folded 14 of 14 task-completed events" in text
    assert "selection was not sending it traffic before" in text  # no selections given
    saved = loads(report.write_json().read_bytes())
    assert saved["policies"][1]["successes"] == 6
    assert saved["timeline"]["outage"] == {"start_s": 10, "end_s": 20}


def test_the_live_snapshot_shows_the_workers_view_of_each_model() -> None:
    tl = Timeline.scaled(60)
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    records = FleetRecords()
    for i in range(10):
        ok = CallOutcome("gpt-4o", "openai", 1000.0 + i, None, 10, 10, 0.01, 0.9)
        down = CallOutcome("claude-3-opus", "anthropic", 300.0, Failure.OVERLOADED, 10, 0, 0.0, None)
        records.calls += [CallRecord(16.0 + i / 10, ok), CallRecord(16.0 + i / 10, down)]
        records.selections.append(SelectionRecord(16.0 + i / 10, "SA", "gpt-4o", "openai", False, 3.0))
    cards = {
        "claude-3-opus": Scorecard(
            model_id="claude-3-opus",
            updated_at=now,
            failure_streak=6,
            last_failure_at=now - timedelta(seconds=1),
        ),
        "gpt-4o": Scorecard(model_id="gpt-4o", updated_at=now, cooldown_until=now + timedelta(seconds=2)),
    }
    snap = snapshot(17.5, tl, records, cards, Settings(_env_file=None), now, {"task_completed": 20})  # type: ignore[call-arg]
    rows = {r.model_id: r for r in snap.rows}
    assert (rows["claude-3-opus"].state, rows["claude-3-opus"].success_rate) == ("failing", 0.0)
    assert (rows["gpt-4o"].state, rows["gpt-4o"].calls, rows["gpt-4o"].recent_calls) == (
        "rate-limited",
        10,
        10,
    )
    assert rows["gpt-4o"].cost == pytest.approx(0.1)
    assert snap.phase == "OUTAGE anthropic"
    assert snap.mix == (("gpt-4o", 1.0),)
