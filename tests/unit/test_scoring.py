"""Selection (streams/scoring.py, schemas/health.py): every filter, the ranking, fallback and exploration."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any, get_args

import pytest

from modelrouter.schemas import (
    APIModelError,
    BaseAssignment,
    ConfigurationError,
    Constraints,
    ModelSpec,
    Scorecard,
    SelectionReply,
    SelectionRequest,
    Settings,
    TaskInfo,
)
from modelrouter.schemas.health import (
    CircuitState,
    HealthParams,
    circuit,
    in_cooldown,
    is_probe,
)
from modelrouter.streams.scoring import (
    DEFAULT_PARAMS,
    STRATEGIES,
    ScoringParams,
    Strategy,
    Weights,
    quality_score,
    select,
)

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
BASE = BaseAssignment(role_type="architect", model_tier="premium", primary_model="a", fallback_model="b")


def spec(model_id: str, **kw: Any) -> ModelSpec:
    fields: dict[str, Any] = {
        "provider": "anthropic",
        "tier": "standard",
        "context_window": 128_000,
        "input_cost_per_1k": 0.001,
        "output_cost_per_1k": 0.002,
        "capabilities": ("code",),
    }
    fields.update(kw)
    return ModelSpec(model_id=model_id, **fields)


def card(model_id: str, requests: int = 100, successes: int | None = None, **kw: Any) -> Scorecard:
    return Scorecard(
        model_id=model_id,
        updated_at=kw.pop("updated_at", NOW - timedelta(seconds=5)),
        requests=requests,
        successes=requests if successes is None else successes,
        **kw,
    )


def request(
    constraints: Constraints | None = None,
    base: BaseAssignment | None = BASE,
    tokens: tuple[int | None, int | None] = (None, None),
    strategy: Strategy = "balanced",
    explore: bool = False,
) -> SelectionRequest:
    return SelectionRequest(
        request_id="req-1",
        reply_to="modelrouter.selection-replies",
        agent_type="SA",
        task=TaskInfo(task_id="t-1", estimated_input_tokens=tokens[0], estimated_output_tokens=tokens[1]),
        base_assignment=base,
        constraints=constraints,
        strategy=strategy,
        explore=explore,
    )


def registry(*specs: ModelSpec) -> dict[str, ModelSpec]:
    return {s.model_id: s for s in specs}


def cards(*items: Scorecard) -> dict[str, Scorecard]:
    return {c.model_id: c for c in items}


def reasons(reply: SelectionReply) -> dict[str, str]:
    return {r.model_id: r.reason for r in reply.rejected}


# --- filters: each constraint and its reason -------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "scorecard", "constraints", "tokens", "reason"),
    [
        (spec("x", enabled=False), None, None, (None, None), "disabled"),
        (spec("x"), None, Constraints(excluded_models=("x",)), (None, None), "excluded model x"),
        (
            spec("x", provider="openai"),
            None,
            Constraints(excluded_providers=("ollama", "openai")),
            (None, None),
            "excluded provider openai",
        ),
        (
            spec("x"),
            None,
            Constraints(required_capabilities=("code", "vision")),
            (None, None),
            "missing capability vision",
        ),
        (
            spec("x", capabilities=()),
            None,
            Constraints(required_capabilities=("vision", "tools")),
            (None, None),
            "missing capabilities vision, tools",
        ),
        (spec("x", context_window=8192), None, None, (10_000, 2_000), "context window 8192 < needed 12000"),
        # No estimate: the default 1000 in + 500 out tokens.
        (spec("x", context_window=1024), None, None, (None, None), "context window 1024 < needed 1500"),
        (
            spec("x", input_cost_per_1k=0.01, output_cost_per_1k=0.03),
            None,
            Constraints(max_cost_per_request=0.02),
            (None, None),
            "expected cost $0.025 > max $0.02",
        ),
        (
            spec("x", input_cost_per_1k=0.05, output_cost_per_1k=0.1),
            None,
            Constraints(max_cost_per_request=0.05),
            (1000, 500),
            "expected cost $0.1 > max $0.05",
        ),
        (
            spec("x"),
            card("x", latency_p95_ms=2300.0),
            Constraints(max_latency_ms=1000.0),
            (None, None),
            "p95 latency 2300 ms > max 1000 ms",
        ),
        (
            spec("x"),
            card("x", requests=100, successes=71),
            Constraints(min_success_rate=0.9),
            (None, None),
            "success rate 0.71 < min 0.90",
        ),
        (
            spec("x"),
            card("x", cooldown_until=NOW + timedelta(minutes=3, seconds=5)),
            None,
            (None, None),
            "rate-limited until 12:03:05Z",
        ),
        (
            spec("x"),
            card("x", cooldown_until=NOW + timedelta(days=1)),
            None,
            (None, None),
            "rate-limited until 2025-03-02T12:00:00Z",
        ),
        (
            spec("x"),
            card("x", failure_streak=5, last_failure_at=NOW - timedelta(seconds=10)),
            None,
            (None, None),
            "circuit open after 5 consecutive failures, until 12:00:20Z",
        ),
        (
            spec("x"),
            card("x", requests=40, successes=16, last_failure_at=NOW - timedelta(seconds=1)),
            None,
            (None, None),
            "circuit open with failure rate 0.60 over 40 calls, until 12:00:29Z",
        ),
    ],
)
def test_each_constraint_rejects_with_its_reason(
    model: ModelSpec,
    scorecard: Scorecard | None,
    constraints: Constraints | None,
    tokens: tuple[int | None, int | None],
    reason: str,
) -> None:
    ok = spec("ok", provider="google", capabilities=("code", "vision", "tools"))
    reply = select(
        request(constraints, tokens=tokens), registry(model, ok), cards(scorecard) if scorecard else {}, NOW
    )
    assert reply.selected_model_id == "ok"
    assert reasons(reply) == {"x": reason}
    assert not reply.fallback_used


def test_a_value_just_over_its_limit_does_not_print_equal_to_it() -> None:
    over = spec("x", input_cost_per_1k=0.050004, output_cost_per_1k=0.0)
    reply = select(
        request(Constraints(max_cost_per_request=0.05), tokens=(1000, 0)), registry(over, spec("y")), {}, NOW
    )
    assert reasons(reply) == {"x": "expected cost $0.050004 > max $0.05"}

    slow = card("x", latency_p95_ms=1000.4)
    reply = select(
        request(Constraints(max_latency_ms=1000.0)), registry(spec("x"), spec("y")), cards(slow), NOW
    )
    assert reasons(reply) == {"x": "p95 latency 1000.4 ms > max 1000 ms"}


def test_the_first_broken_constraint_is_the_reason() -> None:
    both = spec("x", enabled=False, provider="openai")
    reply = select(request(Constraints(excluded_providers=("openai",))), registry(both, spec("y")), {}, NOW)
    assert reasons(reply) == {"x": "disabled"}


def test_limits_at_the_boundary_pass() -> None:
    model = spec("x", input_cost_per_1k=0.02, output_cost_per_1k=0.0, context_window=1500)
    stats = card("x", requests=10, successes=9, latency_p95_ms=1000.0, cooldown_until=NOW)
    cons = Constraints(max_cost_per_request=0.02, max_latency_ms=1000.0, min_success_rate=0.9)
    reply = select(request(cons), registry(model), cards(stats), NOW)
    assert reply.selected_model_id == "x"
    assert reply.rejected == ()


def test_latency_and_success_floors_apply_only_where_there_is_data() -> None:
    cons = Constraints(max_latency_ms=100.0, min_success_rate=0.99)
    empty = card("x", requests=0, successes=0, latency_p95_ms=5000.0, success_rate=0.0)
    reply = select(request(cons), registry(spec("x"), spec("y")), cards(empty), NOW)
    assert reply.rejected == ()
    assert {reply.selected_model_id, *(a.model_id for a in reply.alternatives)} == {"x", "y"}


def test_rejection_reasons_are_clipped_to_the_wire_limit() -> None:
    many = tuple(f"capability-{i:03d}-" + "z" * 40 for i in range(100))
    reply = select(
        request(Constraints(required_capabilities=many), strategy="cost"), registry(spec("x")), {}, NOW
    )
    assert reply.fallback_used
    (rejection,) = reply.rejected
    assert len(rejection.reason) == 2048
    assert rejection.reason.startswith("missing capabilities capability-000-")
    assert len(reply.reasoning) <= 2048


# --- health: cooldowns and the circuit breaker -----------------------------------------------------


def test_cooldown_is_over_at_cooldown_until() -> None:
    assert in_cooldown(card("x", cooldown_until=NOW + timedelta(milliseconds=1)), NOW)
    assert not in_cooldown(card("x", cooldown_until=NOW), NOW)
    assert not in_cooldown(card("x"), NOW)
    assert not in_cooldown(None, NOW)


def test_circuit_states() -> None:
    params = HealthParams(circuit_failure_streak=3, circuit_open_s=60.0)
    assert circuit(None, NOW, params).state is CircuitState.CLOSED
    assert circuit(card("x", failure_streak=2, last_failure_at=NOW), NOW, params).state is CircuitState.CLOSED
    tripped = card("x", failure_streak=3, last_failure_at=NOW - timedelta(seconds=59))
    opened = circuit(tripped, NOW, params)
    assert (opened.state, opened.why, opened.open_until) == (
        CircuitState.OPEN,
        "after 3 consecutive failures",
        NOW + timedelta(seconds=1),
    )
    assert circuit(tripped, NOW + timedelta(seconds=1), params).state is CircuitState.HALF_OPEN
    # Without last_failure_at the cool-off counts from the scorecard's own time.
    undated = card("x", failure_streak=3, updated_at=NOW - timedelta(seconds=30))
    assert circuit(undated, NOW, params).open_until == NOW + timedelta(seconds=30)
    # The failure-rate rule waits for enough calls.
    few = card("x", requests=19, successes=0, last_failure_at=NOW)
    assert circuit(few, NOW, HealthParams()).state is CircuitState.CLOSED
    enough = card("x", requests=20, successes=10, last_failure_at=NOW)
    assert circuit(enough, NOW, HealthParams()).state is CircuitState.OPEN


def test_is_probe_picks_a_stable_share_of_requests() -> None:
    picked = [is_probe(f"req-{i}", "model-a", 0.05) for i in range(20_000)]
    assert 0.045 < sum(picked) / len(picked) < 0.055
    assert picked == [is_probe(f"req-{i}", "model-a", 0.05) for i in range(20_000)]
    assert not any(is_probe(f"req-{i}", "m", 0.0) for i in range(1000))
    assert all(is_probe(f"req-{i}", "m", 1.0) for i in range(1000))


def _half_open_pair() -> tuple[dict[str, ModelSpec], dict[str, Scorecard]]:
    # "a" tripped 2 minutes ago and has cooled off; "b" is healthy but otherwise a little worse than "a".
    sick = card(
        "a", requests=300, successes=294, failure_streak=5, last_failure_at=NOW - timedelta(minutes=2)
    )
    return registry(spec("a"), spec("b")), cards(sick, card("b", requests=300, successes=280))


def test_half_open_model_off_its_probe_competes_at_half_score() -> None:
    reg, stats = _half_open_pair()
    never = ScoringParams(health=HealthParams(probe_share=0.0))
    reply = select(request(base=None), reg, stats, NOW, params=never)
    assert reply.selected_model_id == "b"
    healthy = select(request(base=None), reg, {**stats, "a": card("a", requests=300, successes=294)}, NOW)
    assert healthy.selected_model_id == "a"
    assert reply.alternatives[0].model_id == "a"
    assert reply.alternatives[0].score == pytest.approx(healthy.score / 2)


def test_half_open_model_is_selected_on_its_probe_request() -> None:
    reg, stats = _half_open_pair()
    stats["a"] = card(
        "a", requests=300, successes=150, failure_streak=5, last_failure_at=NOW - timedelta(minutes=2)
    )
    always = ScoringParams(health=HealthParams(probe_share=1.0))
    reply = select(request(base=None), reg, stats, NOW, params=always)
    assert reply.selected_model_id == "a"
    assert reply.factors["half_open"] == 1.0
    assert reply.factors["probe"] == 1.0
    assert reply.alternatives[0].model_id == "b"
    assert reply.alternatives[0].score > reply.score  # chosen as the probe, not on score
    assert "this request is its probe" in reply.reasoning


def test_open_circuit_is_never_offered_even_as_probe() -> None:
    reg, stats = _half_open_pair()
    stats["a"] = card("a", failure_streak=9, last_failure_at=NOW - timedelta(seconds=5))
    always = ScoringParams(health=HealthParams(probe_share=1.0))
    reply = select(request(base=None), reg, stats, NOW, params=always)
    assert reply.selected_model_id == "b"
    assert reasons(reply) == {"a": "circuit open after 9 consecutive failures, until 12:00:25Z"}


# --- ranking -------------------------------------------------------------------------------------------


def test_ties_are_broken_by_model_id_whatever_the_mapping_order() -> None:
    specs = [spec(m) for m in ("m3", "m1", "m2")]
    stats = cards(*(card(m, requests=50, successes=45, latency_p95_ms=900.0) for m in ("m3", "m1", "m2")))
    forward = select(request(base=None), registry(*specs), stats, NOW)
    backward = select(request(base=None), registry(*reversed(specs)), stats, NOW)
    assert forward.selected_model_id == backward.selected_model_id == "m1"
    assert [a.model_id for a in forward.alternatives] == ["m2", "m3"]
    assert forward.alternatives[0].score == forward.alternatives[1].score == forward.score
    assert forward.model_dump(exclude={"decided_at"}) == backward.model_dump(exclude={"decided_at"})


def test_model_without_data_is_a_candidate_with_prior_values() -> None:
    reply = select(request(base=None), registry(spec("new")), {}, NOW)
    assert reply.selected_model_id == "new"
    assert reply.stats_age_ms is None
    assert reply.factors == {
        "success": 0.9,  # Beta(9, 1) prior mean
        "quality": 0.7,
        "quality_best": 0.7,  # the only candidate: its quality term is 1
        "latency": 0.5,
        "cost": 1.0,
        "preference": 0.0,
        "requests": 0.0,
        "expected_cost_usd": pytest.approx(0.002),
    }
    assert reply.score == pytest.approx(0.4 * 0.9 + 0.2 * 1.0 + 0.2 * 0.5 + 0.2 * 1.0)
    assert reply.reasoning == "new (balanced, score 0.860): no data yet (prior success 0.90), $0.002/request"


def test_a_proven_model_beats_an_unknown_one_and_a_failing_one() -> None:
    reg = registry(spec("proven"), spec("unknown"), spec("failing"))
    stats = cards(card("proven", requests=200, successes=198), card("failing", requests=30, successes=20))
    reply = select(request(base=None), reg, stats, NOW)
    assert [reply.selected_model_id, *(a.model_id for a in reply.alternatives)] == [
        "proven",
        "unknown",
        "failing",
    ]
    assert reply.factors["success"] == pytest.approx((198 + 9) / (200 + 10))


def _three_kinds() -> tuple[dict[str, ModelSpec], dict[str, Scorecard]]:
    reg = registry(
        spec("cheap", input_cost_per_1k=0.0001, output_cost_per_1k=0.0002),
        spec("fast", input_cost_per_1k=0.002, output_cost_per_1k=0.004),
        spec("smart", input_cost_per_1k=0.01, output_cost_per_1k=0.03),
    )
    stats = cards(
        card("cheap", requests=200, successes=196, latency_p95_ms=4000.0, quality_mean=0.6),
        card("fast", requests=200, successes=196, latency_p95_ms=300.0, quality_mean=0.75),
        card("smart", requests=200, successes=196, latency_p95_ms=2000.0, quality_mean=0.95),
    )
    return reg, stats


@pytest.mark.parametrize(
    ("strategy", "order"),
    [
        ("cost", ["cheap", "fast", "smart"]),
        ("latency", ["fast", "smart", "cheap"]),
        ("quality", ["smart", "fast", "cheap"]),
        ("balanced", ["fast", "cheap", "smart"]),
    ],
)
def test_each_strategy_prefers_its_criterion(strategy: Strategy, order: list[str]) -> None:
    reg, stats = _three_kinds()
    reply = select(request(base=None, strategy=strategy), reg, stats, NOW)
    assert [reply.selected_model_id, *(a.model_id for a in reply.alternatives)] == order
    assert reply.reasoning.startswith(f"{order[0]} ({strategy}, score ")


def test_score_is_the_weighted_sum_of_normalised_criteria() -> None:
    reg, stats = _three_kinds()
    reply = select(request(base=None), reg, stats, NOW)  # balanced by default
    success = (196 + 9) / 210
    latency = (300 + 10) / (300 + 10)  # fastest / own, with the 10 ms floor
    cost = (0.0002 + 1e-5) / (0.004 + 1e-5)  # cheapest / own, with the $0.00001 floor
    assert reply.factors["success"] == pytest.approx(success)
    assert reply.factors["latency"] == pytest.approx(latency)
    assert reply.factors["cost"] == pytest.approx(cost)
    assert reply.factors["p95_ms"] == 300.0
    assert reply.factors["expected_cost_usd"] == pytest.approx(0.004)
    quality = (1 - 0.95 + 0.05) / (1 - 0.75 + 0.05)  # shortfall of the best / own, with the 0.05 floor
    assert reply.factors["quality"] == 0.75 and reply.factors["quality_best"] == 0.95
    assert reply.score == pytest.approx(0.4 * success + 0.2 * quality + 0.2 * latency + 0.2 * cost)
    cheap = next(a for a in reply.alternatives if a.model_id == "cheap")
    assert cheap.score == pytest.approx(0.4 * success + 0.2 * 0.1 / 0.45 + 0.2 * 310 / 4010 + 0.2 * 1.0)


def test_strategies_are_the_contracts() -> None:
    assert get_args(SelectionRequest.model_fields["strategy"].annotation) == STRATEGIES
    assert SelectionRequest.model_fields["strategy"].default == "balanced"


def test_base_assignment_primary_then_fallback_are_preferred_on_equal_evidence() -> None:
    reg = registry(spec("a"), spec("b"), spec("c"))
    base = BaseAssignment(role_type="architect", model_tier="premium", primary_model="c", fallback_model="b")
    reply = select(request(base=base), reg, {}, NOW)
    assert [reply.selected_model_id, *(a.model_id for a in reply.alternatives)] == ["c", "b", "a"]
    assert reply.factors["preference"] == 0.1
    assert reply.score - reply.alternatives[1].score == pytest.approx(0.1)
    assert reply.alternatives[0].score - reply.alternatives[1].score == pytest.approx(0.03)
    assert reply.reasoning.endswith("; primary of role architect; next b (0.890)")


def test_base_preference_does_not_save_a_failing_primary() -> None:
    stats = cards(card("a", requests=40, successes=28), card("b", requests=40, successes=40))
    reply = select(request(), registry(spec("a"), spec("b")), stats, NOW)
    assert reply.selected_model_id == "b"
    assert "fallback of role architect" in reply.reasoning


def test_reasoning_and_age_of_a_model_with_data() -> None:
    stats = cards(
        card("a", requests=312, successes=306, latency_p95_ms=840.0, updated_at=NOW - timedelta(seconds=3))
    )
    reply = select(
        request(tokens=(1000, 200)),
        registry(spec("a", input_cost_per_1k=0.003, output_cost_per_1k=0.015)),
        stats,
        NOW,
    )
    assert reply.reasoning == (
        "a (balanced, score 1.091): success 0.98 (312 calls), p95 840 ms, $0.006/request; "
        "primary of role architect"
    )
    assert reply.stats_age_ms == 3000.0
    assert reply.decided_at == NOW
    assert (reply.provider, reply.endpoint) == ("anthropic", None)


def test_stats_from_the_future_are_zero_ms_old() -> None:
    stats = cards(card("a", updated_at=NOW + timedelta(seconds=2)))
    assert select(request(), registry(spec("a")), stats, NOW).stats_age_ms == 0.0


# --- no candidate ----------------------------------------------------------------------------------


def test_no_candidate_selects_the_base_fallback_even_when_rejected() -> None:
    reg = registry(spec("a", provider="openai"), spec("b", provider="openai", endpoint="https://b.example"))
    stats = cards(card("b", requests=7))
    reply = select(request(Constraints(excluded_providers=("openai",))), reg, stats, NOW)
    assert reply.fallback_used
    assert (reply.selected_model_id, reply.provider, reply.endpoint) == ("b", "openai", "https://b.example")
    assert reply.alternatives == ()
    assert reasons(reply) == {"a": "excluded provider openai", "b": "excluded provider openai"}
    assert reply.reasoning == (
        "no candidate passed the constraints (a: excluded provider openai; b: excluded provider openai); "
        "using b, fallback of role architect (itself rejected: excluded provider openai)"
    )
    assert reply.factors == {"requests": 7.0}
    assert reply.stats_age_ms == 5000.0


def test_fallback_outside_the_registry_has_an_unknown_provider() -> None:
    reply = select(
        request(Constraints(excluded_models=tuple("acdefg"))), registry(*map(spec, "acdefg")), {}, NOW
    )
    assert (reply.selected_model_id, reply.provider, reply.fallback_used) == ("b", "unknown", True)
    assert reply.reasoning.startswith("no candidate passed the constraints (a: excluded model a; c: excluded")
    assert "; and 3 more); using b, fallback of role architect (not in the registry)" in reply.reasoning


def test_no_candidate_and_no_base_assignment_raises() -> None:
    with pytest.raises(
        APIModelError, match=r"no candidate passed the constraints \(a: disabled\) and the request"
    ):
        select(request(base=None), registry(spec("a", enabled=False)), {}, NOW)
    with pytest.raises(APIModelError, match="the registry is empty"):
        select(request(base=None), {}, {}, NOW)


def test_empty_registry_with_base_assignment_falls_back() -> None:
    reply = select(request(), {}, {}, NOW)
    assert (reply.selected_model_id, reply.fallback_used, reply.stats_age_ms) == ("b", True, None)


# --- exploration -------------------------------------------------------------------------------------


def test_exploration_is_off_by_default() -> None:
    assert request().explore is False
    rng = random.Random(1)
    state = rng.getstate()
    reg, stats = _three_kinds()
    reply = select(request(), reg, stats, NOW, rng)
    assert rng.getstate() == state
    assert "success_sample" not in reply.factors
    assert reply == select(request(), reg, stats, NOW, random.Random(2))


def test_exploration_is_deterministic_for_a_seed() -> None:
    reg, stats = _three_kinds()
    first = select(request(explore=True), reg, stats, NOW, random.Random(42))
    again = select(request(explore=True), reg, stats, NOW, random.Random(42))
    assert first == again
    assert 0.0 < first.factors["success_sample"] < 1.0
    assert "explored: sampled success" in first.reasoning


def test_exploration_sometimes_tries_the_less_proven_model() -> None:
    reg = registry(spec("proven"), spec("newcomer"))
    stats = cards(card("proven", requests=500, successes=470))  # mean 0.94 vs the newcomer's prior 0.9
    picks = [
        select(request(base=None, explore=True), reg, stats, NOW, random.Random(s)).selected_model_id
        for s in range(300)
    ]
    assert select(request(base=None), reg, stats, NOW).selected_model_id == "proven"
    assert 0 < picks.count("newcomer") < picks.count("proven")


# --- parameters ----------------------------------------------------------------------------------------


def test_params_are_validated() -> None:
    with pytest.raises(ConfigurationError, match="lacks strategies"):
        ScoringParams(weights={"balanced": Weights(1, 0, 0, 0)})
    with pytest.raises(ConfigurationError, match=">= 0"):
        ScoringParams(weights={s: Weights(1, -1, 0, 0) for s in STRATEGIES})
    with pytest.raises(ConfigurationError, match="probe_share"):
        HealthParams(probe_share=1.5)


def test_health_params_follow_settings() -> None:
    settings = Settings(
        circuit_failure_streak=3, circuit_failure_rate=0.25, circuit_min_requests=8, circuit_open_s=12.5
    )
    assert HealthParams.from_settings(settings) == HealthParams(
        circuit_failure_streak=3, circuit_failure_rate=0.25, circuit_min_requests=8, circuit_open_s=12.5
    )
    defaults = Settings()
    assert HealthParams.from_settings(defaults) == DEFAULT_PARAMS.health


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        select(request(), registry(spec("a")), {}, datetime(2025, 1, 1))  # noqa: DTZ001 - the point of the test


def test_tiny_costs_print_without_an_exponent() -> None:
    cheap = spec("a", input_cost_per_1k=0.00001, output_cost_per_1k=0.00003)
    reply = select(request(base=None), registry(cheap), {}, NOW)
    assert reply.reasoning.endswith(", $0.000025/request")
    assert "latency" in reply.factors
    assert "p95_ms" not in reply.factors  # no data: the prior latency score, no invented p95


def test_quality_scores_on_its_shortfall_relative_to_the_best_candidate() -> None:
    """0.80 beside 0.92 is 2.1x the shortfall: the quality strategy pays for the better model,
    where raw means (0.80 vs 0.92) let a cheaper, faster one outweigh its 0.6 weight."""
    reg = registry(
        spec("premium", input_cost_per_1k=0.01, output_cost_per_1k=0.03),
        spec("budget", input_cost_per_1k=0.0005, output_cost_per_1k=0.0015),
    )
    stats = cards(
        card("premium", requests=200, successes=198, latency_p95_ms=3000.0, quality_mean=0.92),
        card("budget", requests=200, successes=198, latency_p95_ms=1200.0, quality_mean=0.80),
    )
    reply = select(request(base=None, strategy="quality"), reg, stats, NOW)
    assert reply.selected_model_id == "premium"
    assert reply.factors["quality_best"] == 0.92
    budget = select(request(base=None, strategy="cost"), reg, stats, NOW)
    assert budget.selected_model_id == "budget"  # the cost strategy still buys the cheap one
    assert budget.factors["quality"] == 0.80 and budget.factors["quality_best"] == 0.92
    # The term itself: 1 for the best, the ratio of shortfalls (with the 0.05 floor) below it.
    assert quality_score(0.92, 0.92, DEFAULT_PARAMS) == pytest.approx(1.0)
    assert quality_score(0.80, 0.92, DEFAULT_PARAMS) == pytest.approx(0.13 / 0.25)
