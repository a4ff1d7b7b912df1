"""Budgets, pure (streams/budgets.py, streams/scoring.py's budget, BucketIndex.spend): near the
limit selection prefers cheaper models, at the limit it rejects with the reason and falls back,
and reservations hold a selection's expected cost until its task's cost is in the tables."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from modelrouter.schemas import (
    APIModelError,
    BaseAssignment,
    Budget,
    BudgetReservation,
    LatencySummary,
    ModelSpec,
    Scorecard,
    SelectionRequest,
    TaskCompleted,
    TaskInfo,
    WindowSummary,
    encode,
)
from modelrouter.streams.budgets import (
    BudgetCheck,
    BudgetStanding,
    Completion,
    Reservations,
    active_budgets,
    budget_standing,
    completion_of,
    tightest,
    usd,
    withdrawal,
)
from modelrouter.streams.propensity import logged_propensities
from modelrouter.streams.scoring import DEFAULT_PARAMS, decide
from modelrouter.streams.summary_queries import BucketIndex

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def spec(model_id: str, per_1k_in: float, per_1k_out: float, tier: str = "standard") -> ModelSpec:
    return ModelSpec(
        model_id=model_id,
        provider="p",
        tier=tier,
        context_window=128_000,
        input_cost_per_1k=per_1k_in,
        output_cost_per_1k=per_1k_out,
    )


# Default estimates (1000 in, 500 out): pricey costs $0.025 a task, cheap $0.00125.
REGISTRY = {"pricey": spec("pricey", 0.01, 0.03), "cheap": spec("cheap", 0.0005, 0.0015)}
CARDS = {
    m: Scorecard(model_id=m, updated_at=NOW, requests=100, successes=100, quality_mean=q)
    for m, q in (("pricey", 0.95), ("cheap", 0.75))
}


def request(task_id: str = "t-1", base: BaseAssignment | None = None) -> SelectionRequest:
    return SelectionRequest(
        request_id=f"r-{task_id}",
        reply_to="replies",
        agent_type="SA",
        task=TaskInfo(task_id=task_id),
        base_assignment=base,
        strategy="quality",
    )


def check(limit: float, spent: float, reserved: float = 0.0, near: float = 0.2) -> BudgetCheck:
    return BudgetCheck(BudgetStanding("SA", "per-hour", limit, spent, reserved, 0), near)


def test_without_budget_quality_picks_the_pricey_model() -> None:
    d = decide(request(), REGISTRY, CARDS, NOW)
    assert d.reply.selected_model_id == "pricey"


def test_far_from_the_limit_nothing_changes() -> None:
    plain = decide(request(), REGISTRY, CARDS, NOW).reply
    budgeted = decide(request(), REGISTRY, CARDS, NOW, budget=check(10.0, 1.0)).reply
    assert budgeted.selected_model_id == "pricey"
    assert budgeted.score == pytest.approx(plain.score)
    assert budgeted.rejected == ()
    assert "budget: $9.00 of SA's per-hour $10.00 left" in budgeted.reasoning


def test_near_the_limit_prefers_the_cheaper_model() -> None:
    # 10% left with near_fraction 0.2: weights half way to the cost strategy's; both still fit.
    b = check(10.0, 9.0)
    assert b.cost_pull == pytest.approx(0.5)
    reply = decide(request(), REGISTRY, CARDS, NOW, budget=b).reply
    assert reply.selected_model_id == "cheap"
    assert reply.rejected == ()
    assert "cost weighted up (0.50 toward the cost strategy)" in reply.reasoning


def test_reservations_count_against_what_is_left() -> None:
    assert check(10.0, 5.0, reserved=4.0).remaining == pytest.approx(1.0)
    assert check(10.0, 5.0, reserved=6.0).remaining == 0.0
    assert (
        decide(request(), REGISTRY, CARDS, NOW, budget=check(10.0, 5.0, 4.0)).reply.selected_model_id
        == "cheap"
    )


def test_at_the_limit_rejects_what_does_not_fit_with_the_reason() -> None:
    reply = decide(request(), REGISTRY, CARDS, NOW, budget=check(5.0, 4.996)).reply
    assert reply.selected_model_id == "cheap"
    assert not reply.fallback_used
    assert [(r.model_id, r.reason) for r in reply.rejected] == [
        ("pricey", "budget: expected $0.025 exceeds remaining $0.004 of SA's per-hour $5.00")
    ]


def test_nothing_fits_falls_back_as_for_other_impossible_constraints() -> None:
    base = BaseAssignment(
        role_type="architect", model_tier="standard", primary_model="pricey", fallback_model="cheap"
    )
    reply = decide(request(base=base), REGISTRY, CARDS, NOW, budget=check(5.0, 5.0)).reply
    assert reply.fallback_used
    assert reply.selected_model_id == "cheap"
    assert {r.model_id for r in reply.rejected} == {"pricey", "cheap"}
    assert all(r.reason.startswith("budget: expected $") for r in reply.rejected)
    assert "remaining $0.00 of SA's per-hour $5.00" in reply.rejected[0].reason
    with pytest.raises(APIModelError, match="budget: expected"):
        decide(request(), REGISTRY, CARDS, NOW, budget=check(5.0, 5.0))


def test_a_free_model_always_fits() -> None:
    registry = {**REGISTRY, "local": spec("local", 0.0, 0.0, tier="local")}
    reply = decide(request(), registry, CARDS, NOW, budget=check(5.0, 5.0)).reply
    assert reply.selected_model_id == "local"
    assert not reply.fallback_used


def test_a_spent_out_check_fits_only_what_is_free() -> None:
    spent_out = check(limit=5.0, spent=1.0, reserved=0.5).spent_out()
    assert spent_out.remaining == 0.0
    assert (spent_out.fits(0.0), spent_out.fits(0.001)) == (True, False)
    assert not spent_out.standing.overdrawn  # nothing left, nothing over
    assert check(limit=5.0, spent=4.0, reserved=1.01).standing.overdrawn


def test_usd_formats() -> None:
    assert [usd(x) for x in (5.0, 0.0, 0.012, 0.004, 0.00042, 1234.5)] == [
        "$5.00",
        "$0.00",
        "$0.012",
        "$0.004",
        "$0.00042",
        "$1,234.50",
    ]


def reservation(
    task_id: str, cost: float, at: datetime = NOW, request_id: str | None = None
) -> BudgetReservation:
    return BudgetReservation(
        agent_type="SA",
        task_id=task_id,
        request_id=request_id or f"r-{task_id}",
        model_id="pricey",
        expected_cost=cost,
        reserved_at=at,
        expires_at=at + timedelta(seconds=600),
    )


def done(task_id: str, cost: float = 0.01, agent: str = "SA") -> Completion:
    return Completion(task_id, agent, "pricey", NOW + timedelta(seconds=1), cost)


def never(c: Completion) -> bool:
    return False


def always(c: Completion) -> bool:
    return True


def test_a_reservation_holds_until_its_task_is_counted() -> None:
    r = Reservations()
    r.reserve(reservation("t-1", 0.025))
    r.reserve(reservation("t-2", 0.025))
    assert r.held("SA", NOW, always) == (pytest.approx(0.05), 2)  # no completion seen: held
    r.complete(done("t-1"))
    assert r.held("SA", NOW, never) == (pytest.approx(0.05), 2)  # seen, not yet in the tables
    assert r.held("SA", NOW, lambda c: c.task_id == "t-1") == (pytest.approx(0.025), 1)
    assert r.held("SA", NOW, always) == (pytest.approx(0.025), 1)
    assert r.held("PM", NOW, always) == (0.0, 0)


def test_a_reservation_expires() -> None:
    r = Reservations()
    r.reserve(reservation("t-1", 0.025))
    assert r.held("SA", NOW + timedelta(seconds=599), never)[1] == 1
    assert r.held("SA", NOW + timedelta(seconds=600), never) == (0.0, 0)


def test_a_retry_holds_its_latest_selection_and_a_read_back_keeps_the_completion() -> None:
    r = Reservations()
    first = reservation("t-1", 0.025)
    r.reserve(first)
    r.reserve(reservation("t-1", 0.001, NOW + timedelta(seconds=1), request_id="r-retry"))
    assert r.held("SA", NOW, never) == (pytest.approx(0.001), 1)
    r.reserve(first)  # the older selection, read late: ignored
    assert r.held("SA", NOW, never) == (pytest.approx(0.001), 1)
    r.complete(done("t-1"))
    r.reserve(reservation("t-1", 0.001, NOW + timedelta(seconds=1), request_id="r-retry"))  # read back
    assert r.held("SA", NOW, always) == (0.0, 0)


def test_a_withdrawal_replaces_its_reservation_wherever_it_is_read() -> None:
    # What SelectionResponder._settle writes when the log put another worker's reservation first:
    # the same task, a microsecond later, reserving nothing.
    kept, withdrawn = reservation("t-1", 0.05), reservation("t-2", 0.05)
    out = withdrawal(withdrawn, "withdrawn-1")
    for order in ([kept, withdrawn, out], [withdrawn, kept, out, withdrawn]):
        r = Reservations()
        for record in order:  # the last `withdrawn`: this worker's own, read back late
            r.reserve(record)
        assert r.held("SA", NOW, never) == (pytest.approx(0.05), 2)


def test_a_completion_read_before_its_reservation_is_kept_for_it() -> None:
    r = Reservations()
    r.complete(done("t-9"))  # another worker's selection: its reservation is on its way
    r.reserve(reservation("t-9", 0.025))
    assert r.held("SA", NOW, always) == (0.0, 0)
    r.complete(done("t-10"))
    r.expire(NOW + timedelta(seconds=700), timedelta(seconds=600))  # unmatched and old: forgotten
    r.reserve(reservation("t-10", 0.025, NOW + timedelta(seconds=700)))
    assert r.held("SA", NOW + timedelta(seconds=700), always) == (pytest.approx(0.025), 1)


def test_a_flood_of_selections_ends_within_one_task_of_the_limit() -> None:
    """Selections answered faster than their tasks complete: reservations stop the flood at the
    limit; as tasks complete and are counted, the spend replaces what was reserved."""
    limit, r = 1.0, Reservations()
    spent, in_tables, chosen = 0.0, set[str](), 0
    budget = Budget(agent_type="SA", per_hour=limit, updated_at=NOW)
    base = BaseAssignment(
        role_type="architect", model_tier="standard", primary_model="pricey", fallback_model="cheap"
    )
    for i in range(200):
        held = r.held("SA", NOW, lambda c: c.task_id in in_tables)
        b = tightest(budget_standing(budget, lambda a, s, spent=spent: spent, held, NOW), 0.2)
        assert b is not None
        reply = decide(request(f"t-{i}", base), REGISTRY, CARDS, NOW, budget=b).reply
        if not reply.fallback_used:  # a fallback is not run: the budget refused the task
            cost = reply.factors["expected_cost_usd"]
            r.reserve(reservation(f"t-{i}", cost))
            chosen += 1
            if i % 3 == 0:  # a third of the tasks complete and are counted at once
                r.complete(done(f"t-{i}", cost))
                in_tables.add(f"t-{i}")
                spent += cost
    held = r.held("SA", NOW, lambda c: c.task_id in in_tables)
    assert chosen < 200
    assert limit - 0.025 < spent + held[0] <= limit


def test_standing_and_the_tightest_window() -> None:
    budget = Budget(agent_type="SA", per_hour=5.0, per_day=50.0, updated_at=NOW)
    spend = {1.0: 1.0, 24.0: 49.0}
    got = budget_standing(
        budget, lambda a, since: spend[round((NOW - since).total_seconds() / 3600)], (0.5, 2), NOW
    )
    assert [(s.window, s.limit, s.spent, s.remaining) for s in got] == [
        ("per-hour", 5.0, 1.0, 3.5),
        ("per-day", 50.0, 49.0, 0.5),
    ]
    tight = tightest(got, 0.2)
    assert tight is not None and tight.standing.window == "per-day"
    assert tightest([], 0.2) is None


def test_a_budget_without_limits_clears_and_limits_are_positive() -> None:
    cleared = Budget(agent_type="SA", updated_at=NOW)
    assert cleared.limits() == {}
    assert active_budgets(
        {"SA": cleared, "PM": Budget(agent_type="PM", per_day=3.0, updated_at=NOW)}
    ).keys() == {"PM"}
    for bad in (0.0, -1.0, float("inf")):
        with pytest.raises(ValidationError):
            Budget(agent_type="SA", per_hour=bad, updated_at=NOW)


def summary(
    model: str, agent: str | None, start: datetime, cost: float, final: bool = False, **kw: Any
) -> WindowSummary:
    return WindowSummary(
        model_id=model,
        agent_type=agent,
        window="bucket",
        window_start=start,
        window_end=start + timedelta(minutes=1),
        final=final,
        requests=1,
        successes=1,
        success_rate=1.0,
        cost_total=cost,
        latency_ms=LatencySummary(),
        quality_mean=None,
        input_tokens=0,
        output_tokens=0,
        rate_limited=0,
        failovers_out=0,
        failovers_in=0,
        data_through=kw.get("through", start + timedelta(seconds=30)),
    )


def test_bucket_index_spend_per_agent_type_and_window() -> None:
    index = BucketIndex()
    recent, old = NOW - timedelta(minutes=10), NOW - timedelta(hours=3)
    for s in (
        summary("pricey", "SA", recent, 0.5),
        summary("cheap", "SA", recent, 0.25),
        summary("pricey", "SA", old, 2.0, final=True),
        summary("pricey", "PM", recent, 7.0),
        summary("pricey", None, recent, 7.75),  # all agents: not an agent type's spend
    ):
        index.apply(s.key, s)
    hour, day = NOW - timedelta(hours=1), NOW - timedelta(hours=24)
    assert index.spend("SA", hour) == pytest.approx(0.75)
    assert index.spend("SA", day) == pytest.approx(2.75)
    assert index.spend("PM", hour) == pytest.approx(7.0)
    update = summary("pricey", "SA", recent, 0.9, final=True)  # the open bucket's final replaces it
    index.apply(update.key, update)
    assert index.spend("SA", hour) == pytest.approx(1.15)
    index.apply(update.key, None)  # expired: a tombstone
    assert index.spend("SA", hour) == pytest.approx(0.25)
    row = index.row("cheap", "SA", recent)
    assert row is not None and row.cost_total == 0.25
    assert index.row("cheap", "PM", recent) is None


def test_completion_of_reads_a_task_completed_record() -> None:
    event = TaskCompleted(
        event_id="e-1",
        occurred_at=NOW,
        agent_type="SA",
        task_id="t-1",
        model_id="pricey",
        provider="p",
        success=True,
        latency_ms=10.0,
        cost=0.02,
        input_tokens=1000,
        output_tokens=500,
    )
    assert completion_of(encode(event)) == Completion("t-1", "SA", "pricey", NOW, 0.02)
    assert completion_of(b'{"type": "quality_reported", "task_id": "t"}') is None
    assert completion_of(b"not json") is None
    assert completion_of(b'{"type": "task_completed", "task_id": 5}') is None


def test_a_decision_keeps_the_weights_a_budget_moved() -> None:
    """The decisions log estimates an exploring choice's propensity under the weights it was made with."""
    explore = request().model_copy(update={"explore": True})
    near = decide(explore, REGISTRY, CARDS, NOW, random.Random(1), budget=check(10.0, 9.0))
    assert near.weights is not None and near.weights.cost == pytest.approx((0.05 + 0.6) / 2)
    assert decide(explore, REGISTRY, CARDS, NOW, random.Random(1), budget=check(10.0, 1.0)).weights is None
    probs, _ = logged_propensities(near, DEFAULT_PARAMS, samples=2000)
    assert sum(probs) == pytest.approx(1.0)
