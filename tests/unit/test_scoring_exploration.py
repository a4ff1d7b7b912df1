"""Exploration with a floor, its propensities (streams/propensity.py) and the DecisionRecord
built from a decision (streams/decision_log.py): all pure, no broker."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

import pytest
from test_scoring import NOW, _three_kinds, card, cards, registry, request, spec

from modelrouter.schemas import ConfigurationError, DecisionInputs, DecisionRecord, decode, encode
from modelrouter.streams.decision_log import decision_record
from modelrouter.streams.propensity import choice_probabilities, logged_propensities
from modelrouter.streams.scoring import (
    DEFAULT_PARAMS,
    STRATEGIES,
    ScoringParams,
    Weights,
    decide,
    params_hash,
    select,
)


def picks(params: ScoringParams, n: int, strategy: str = "balanced") -> Counter[str]:
    reg, stats = _three_kinds()
    req = request(base=None, explore=True, strategy=strategy)  # type: ignore[arg-type]
    return Counter(select(req, reg, stats, NOW, random.Random(s), params).selected_model_id for s in range(n))


def test_the_floor_keeps_a_dominated_model_in_play() -> None:
    reg = registry(spec("good"), spec("bad", input_cost_per_1k=0.01, output_cost_per_1k=0.02))
    stats = cards(
        card("good", requests=500, successes=495, quality_mean=0.9, latency_p95_ms=300.0),
        card("bad", requests=500, successes=400, quality_mean=0.4, latency_p95_ms=3000.0),
    )
    req = request(base=None, explore=True)
    none = ScoringParams(explore_floor=0.0)
    floor = ScoringParams(explore_floor=0.05)
    without = Counter(
        select(req, reg, stats, NOW, random.Random(s), none).selected_model_id for s in range(2000)
    )
    with_floor = Counter(
        select(req, reg, stats, NOW, random.Random(s), floor).selected_model_id for s in range(2000)
    )
    assert without["bad"] <= 10  # Thompson sampling alone all but abandons it
    # P(bad) = floor + (1 - 2 floor) * P_thompson(bad) ~ 0.05: ~100 of 2000, 3 sigma ~ 30.
    assert 70 <= with_floor["bad"] - 0.9 * without["bad"] <= 130


def test_the_floor_pick_says_so() -> None:
    reg, stats = _three_kinds()
    params = ScoringParams(explore_floor=1 / 3)  # always the uniform pick
    reply = select(request(base=None, explore=True), reg, stats, NOW, random.Random(3), params)
    assert "explored: floor pick, uniform over 3 candidates" in reply.reasoning


def test_exploration_samples_quality_and_latency_too() -> None:
    reg, stats = _three_kinds()
    replies = [select(request(base=None, explore=True), reg, stats, NOW, random.Random(s)) for s in range(20)]
    for name in ("success_sample", "quality_sample", "latency_sample"):
        values = {r.factors[name] for r in replies}
        assert all(0.0 < v < 1.0 for v in values)
        assert len(values) > 10, name
    assert "quality" in replies[0].reasoning and "explored: sampled success" in replies[0].reasoning


def test_old_evidence_decays() -> None:
    reg = registry(spec("fresh"), spec("stale"))
    stats = cards(
        card("fresh", requests=80, updated_at=NOW),
        card("stale", requests=80, updated_at=NOW - timedelta(hours=2)),
    )
    decision = decide(request(base=None, explore=True), reg, stats, NOW, random.Random(1))
    terms = {c.model_id: c for c in decision.candidates}
    assert terms["fresh"].evidence == pytest.approx(80.0)
    assert terms["stale"].evidence == pytest.approx(80.0 * 0.25)  # two half-lives of an hour
    assert terms["fresh"].successes_counted == pytest.approx(80.0)
    capped = decide(
        request(base=None, explore=True), reg, cards(card("fresh", requests=1000, updated_at=NOW)), NOW
    )
    assert {c.model_id: c.evidence for c in capped.candidates}["fresh"] == pytest.approx(100.0)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_the_exact_probabilities_are_the_deterministic_choice(strategy: str) -> None:
    reg, stats = _three_kinds()
    req = request(base=None, strategy=strategy)  # type: ignore[arg-type]
    decision = decide(req, reg, stats, NOW)
    probs, used = choice_probabilities(
        decision.candidates,
        DEFAULT_PARAMS.weights[strategy],
        DEFAULT_PARAMS,
        explore=False,
        floor=0.0,  # type: ignore[index]
    )
    assert used == 0
    chosen = [c.model_id for c, p in zip(decision.candidates, probs, strict=True) if p == 1.0]
    assert chosen == [decision.reply.selected_model_id]
    assert logged_propensities(decision, DEFAULT_PARAMS)[0][decision.chosen or 0] == 1.0


def test_the_monte_carlo_propensity_matches_how_often_select_picks() -> None:
    params = ScoringParams(explore_floor=0.05)
    counts = picks(params, 3000, "quality")
    reg, stats = _three_kinds()
    decision = decide(
        request(base=None, explore=True, strategy="quality"), reg, stats, NOW, random.Random(0), params
    )
    probs, used = logged_propensities(decision, params, samples=4000)
    assert used == 4000
    assert sum(probs) == pytest.approx(1.0)
    for c, p in zip(decision.candidates, probs, strict=True):
        assert p >= 0.05 - 1e-12  # the floor
        # Two estimates of the same probability: 3000 and 4000 draws, 4 sigma apart at most.
        assert counts[c.model_id] / 3000 == pytest.approx(p, abs=0.04), c.model_id


def test_params_hash_names_the_parameters() -> None:
    assert params_hash(ScoringParams()) == params_hash(DEFAULT_PARAMS)
    assert len(params_hash(DEFAULT_PARAMS)) == 16
    other = dict(DEFAULT_PARAMS.weights) | {"cost": Weights(0.2, 0.1, 0.1, 0.6)}
    assert params_hash(ScoringParams(weights=other)) != params_hash(DEFAULT_PARAMS)
    assert params_hash(ScoringParams(explore_floor=0.1)) != params_hash(DEFAULT_PARAMS)


def test_exploration_params_are_validated() -> None:
    with pytest.raises(ConfigurationError, match="explore_floor"):
        ScoringParams(explore_floor=1.5)
    with pytest.raises(ConfigurationError, match="half_life"):
        ScoringParams(explore_half_life_s=0)


def test_a_decision_record_carries_its_propensity_and_inputs() -> None:
    reg, stats = _three_kinds()
    inputs = DecisionInputs(registry_positions={"0": 3}, scorecards_positions={"0": 7}, scorecards_version=7)
    plain = request(base=None, strategy="cost")
    record = decision_record(plain, decide(plain, reg, stats, NOW), DEFAULT_PARAMS, inputs)
    assert (record.chosen_model_id, record.propensity, record.propensity_samples) == ("cheap", 1.0, 0)
    assert [c.model_id for c in record.eligible] == ["cheap", "fast", "smart"]  # best first
    assert [c.propensity for c in record.eligible] == [1.0, 0.0, 0.0]
    assert record.policy.strategy == "cost" and not record.policy.explore
    assert record.policy.params_hash == params_hash(DEFAULT_PARAMS)
    assert (record.task_id, record.agent_type, record.inputs) == ("t-1", "SA", inputs)
    assert decode(DecisionRecord, encode(record)) == record

    explore = request(base=None, explore=True)
    decision = decide(explore, reg, stats, NOW, random.Random(explore.request_id))
    record = decision_record(explore, decision, DEFAULT_PARAMS, inputs)
    probs, _ = logged_propensities(decision, DEFAULT_PARAMS)
    assert record.propensity_samples == 500
    assert record.propensity == pytest.approx(probs[decision.chosen or 0])
    assert record.propensity >= DEFAULT_PARAMS.explore_floor
    assert record.policy.explore_floor == DEFAULT_PARAMS.explore_floor
    assert sum(c.propensity for c in record.eligible) == pytest.approx(1.0)


def test_a_fallback_is_logged_with_propensity_one() -> None:
    req = request(tokens=(10**7, 0))  # no context window is that large: the base's fallback
    record = decision_record(req, decide(req, registry(spec("a")), {}, NOW), DEFAULT_PARAMS, DecisionInputs())
    assert (record.chosen_model_id, record.fallback_used, record.propensity, record.eligible) == (
        "b",
        True,
        1.0,
        (),
    )


def test_exploration_stays_in_the_assignment_band() -> None:
    from modelrouter.schemas import BaseAssignment

    reg = registry(spec("p1", tier="premium"), spec("p2", tier="premium"), spec("e1", tier="economy"))
    base = BaseAssignment(
        role_type="architect", model_tier="premium", primary_model="p1", fallback_model="p2"
    )
    req = request(base=base, explore=True)
    params = ScoringParams(explore_floor=0.1)
    decision = decide(req, reg, {}, NOW, random.Random(req.request_id), params)
    assert [c.model_id for c in decision.candidates] == ["p1", "p2"]  # the economy model is set aside
    record = decision_record(req, decision, params, DecisionInputs())
    assert {c.model_id for c in record.eligible} == {"p1", "p2"}
    assert sum(c.propensity for c in record.eligible) == pytest.approx(1.0)
    assert min(c.propensity for c in record.eligible) >= 0.1
    picks = Counter(select(req, reg, {}, NOW, random.Random(s), params).selected_model_id for s in range(500))
    assert picks["e1"] == 0 and picks["p2"] > 0
