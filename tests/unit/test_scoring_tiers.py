"""Selection keeps to the base assignment's tier band (schemas/registry.py TIER_ORDER) and leaves
it only on evidence, saying why; a quality/cost failover lowers a model's standing for one agent type.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from modelrouter.agents.optimizer import AgentTask, AgentType, ModelOptimizer
from modelrouter.agents.registry_config import load_registry
from modelrouter.schemas import (
    BaseAssignment,
    Constraints,
    ModelSpec,
    Scorecard,
    SelectionReply,
    SelectionRequest,
    TaskInfo,
)
from modelrouter.schemas.registry import TIER_ORDER, tier_rank
from modelrouter.streams.scoring import select

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CONFIG = Path(__file__).resolve().parents[2] / "config"
# A small registry: two premium models, two standard, one economy, one local.
PREMIUM = BaseAssignment(role_type="architect", model_tier="premium", primary_model="p1", fallback_model="s1")


def spec(model_id: str, tier: str, price: float, **kw: Any) -> ModelSpec:
    return ModelSpec(
        model_id=model_id,
        provider="prov",
        tier=tier,
        context_window=128_000,
        input_cost_per_1k=price,
        output_cost_per_1k=2 * price,
        capabilities=("analysis",),
        **kw,
    )


REGISTRY = {
    s.model_id: s
    for s in (
        spec("p1", "premium", 0.015),
        spec("p2", "premium", 0.010),
        spec("s1", "standard", 0.003),
        spec("s2", "standard", 0.002),
        spec("e1", "economy", 0.0002),
        spec("l1", "local", 0.0),
    )
}


def request(
    base: BaseAssignment | None = PREMIUM, constraints: Constraints | None = None, agent: str = "SA"
) -> SelectionRequest:
    return SelectionRequest(
        request_id="req-1",
        reply_to="replies",
        agent_type=agent,
        task=TaskInfo(task_id="t-1"),
        base_assignment=base,
        constraints=constraints,
    )


def outage(model_id: str) -> Scorecard:
    """Five failures in a row, the last a second ago: the circuit is open."""
    return Scorecard(
        model_id=model_id,
        updated_at=NOW,
        requests=10,
        successes=5,
        failure_streak=5,
        last_failure_at=NOW - timedelta(seconds=1),
    )


def ranked(reply: SelectionReply) -> list[str]:
    return [reply.selected_model_id, *(a.model_id for a in reply.alternatives)]


def test_tier_order_is_lowest_first_and_unknown_tiers_have_no_rank() -> None:
    assert TIER_ORDER == ("local", "economy", "standard", "premium")
    assert [tier_rank(t) for t in TIER_ORDER] == [0, 1, 2, 3]
    assert tier_rank("gold") is None


def test_every_tier_of_the_shipped_config_is_ranked() -> None:
    registry = load_registry(CONFIG / "model_registry.json")
    assert {m.tier for m in registry.values()} == set(TIER_ORDER)


def test_empty_tables_keep_the_primary_or_a_same_tier_peer() -> None:
    reply = select(request(), REGISTRY, {}, NOW)
    assert reply.selected_model_id in {"p1", "p2"}
    assert not reply.fallback_used
    # Lower tiers are alternatives after the band, the fallback first, then the nearest tier down.
    assert ranked(reply)[2:] == ["s1", "s2", "e1", "l1"]
    assert "kept to tier premium or above (4 lower-tier candidates set aside)" in reply.reasoning


def test_empty_tables_with_the_shipped_config_give_architects_a_premium_model() -> None:
    registry = load_registry(CONFIG / "model_registry.json")
    optimizer = ModelOptimizer(CONFIG / "optimizer.json")
    _, assignment = optimizer.select_model_for_agent(agent_type=AgentType.SA, task=AgentTask(id="t-1"))
    base = BaseAssignment(
        role_type=assignment.role_type,
        model_tier=assignment.model_tier,
        primary_model=assignment.primary_model,
        fallback_model=assignment.fallback_model,
    )
    cons = Constraints(required_capabilities=("analysis", "code-generation"))
    reply = select(request(base, cons), registry, {}, NOW)
    assert base.model_tier == "premium"
    assert registry[reply.selected_model_id].tier == "premium"
    assert "llama3.1:8b" not in {reply.selected_model_id}
    assert "no data yet" in reply.reasoning


def test_primary_in_an_outage_gives_a_peer_then_the_fallback() -> None:
    peer = select(request(), REGISTRY, {"p1": outage("p1")}, NOW)
    assert peer.selected_model_id == "p2"
    assert "below assigned tier" not in peer.reasoning

    both = {"p1": outage("p1"), "p2": outage("p2")}
    fallback = select(request(), REGISTRY, both, NOW)
    assert fallback.selected_model_id == "s1"
    assert not fallback.fallback_used  # s1 passed the filter: chosen, not a last resort
    assert ranked(fallback) == ["s1", "s2", "e1", "l1"]
    assert (
        "below assigned tier premium: no model of it or above passed (p1: circuit open" in fallback.reasoning
    )
    assert "p2: circuit open" in fallback.reasoning


def test_out_of_the_band_without_the_fallback_the_nearest_tier_comes_first() -> None:
    cards = {m: outage(m) for m in ("p1", "p2", "s1")}
    reply = select(request(), REGISTRY, cards, NOW)
    assert ranked(reply) == ["s2", "e1", "l1"]


def test_a_cooldown_of_the_whole_band_moves_below_it() -> None:
    until = NOW + timedelta(seconds=30)
    cards = {m: Scorecard(model_id=m, updated_at=NOW, cooldown_until=until) for m in ("p1", "p2")}
    reply = select(request(), REGISTRY, cards, NOW)
    assert reply.selected_model_id == "s1"
    assert "p1: rate-limited until 12:00:30Z" in reply.reasoning


def test_a_cost_cap_below_the_tiers_prices_gives_a_cheaper_model_and_says_so() -> None:
    # 1000 input + 500 output tokens: p1 costs $0.03, p2 $0.02, s1 $0.006, s2 $0.004, e1 $0.0004.
    reply = select(request(constraints=Constraints(max_cost_per_request=0.005)), REGISTRY, {}, NOW)
    assert reply.selected_model_id == "s2"  # the fallback s1 is over the cap too; s2 is the nearest tier
    assert reply.reasoning.count("max_cost_per_request $0.005 rules out its prices") == 1
    assert "p1: expected cost $0.03 > max $0.005" in reply.reasoning
    assert {r.model_id for r in reply.rejected} == {"p1", "p2", "s1"}


def test_a_lower_tier_model_joins_the_band_once_its_quality_matches_the_primarys() -> None:
    def seen(model_id: str, quality: float, requests: int = 40) -> Scorecard:
        return Scorecard(
            model_id=model_id, updated_at=NOW, requests=requests, successes=requests, quality_mean=quality
        )

    cheap_and_good = {"p1": seen("p1", 0.80), "p2": seen("p2", 0.80), "e1": seen("e1", 0.85)}
    reply = select(request(), REGISTRY, cheap_and_good, NOW)
    assert reply.selected_model_id == "e1"
    assert "tier economy below assigned premium, but quality 0.85 over 40 calls >= primary p1's 0.80" in (
        reply.reasoning
    )
    # Not enough calls to believe it, or not as good: it stays out.
    for e1 in (seen("e1", 0.95, requests=5), seen("e1", 0.75)):
        assert select(request(), REGISTRY, {**cheap_and_good, "e1": e1}, NOW).selected_model_id in {
            "p1",
            "p2",
        }


def test_a_primary_below_the_assigned_tier_lowers_the_band_to_its_tier() -> None:
    base = BaseAssignment(role_type="analyst", model_tier="premium", primary_model="s1", fallback_model="e1")
    reply = select(request(base), REGISTRY, {}, NOW)
    assert REGISTRY[reply.selected_model_id].tier in {"standard", "premium"}
    assert ranked(reply)[-2:] == ["e1", "l1"]


def test_no_band_without_a_base_assignment_or_with_an_unranked_tier() -> None:
    unranked = BaseAssignment(role_type="r", model_tier="gold", primary_model="p1", fallback_model="s1")
    for base in (None, unranked):
        assert select(request(base), REGISTRY, {}, NOW).selected_model_id == "l1"  # the $0 model


def test_a_quality_failover_lowers_the_models_standing_for_that_agent_type_only() -> None:
    demoted = Scorecard(model_id="p1", updated_at=NOW, demoted_until={"SA": NOW + timedelta(minutes=30)})
    before = select(request(), REGISTRY, {}, NOW)
    assert before.selected_model_id == "p1"  # the primary
    after = select(request(), REGISTRY, {"p1": demoted}, NOW)
    assert after.selected_model_id == "p2"
    assert after.alternatives[0].model_id == "p1"
    assert after.alternatives[0].score == pytest.approx(before.score - 0.15)
    pm = select(request(agent="PM"), REGISTRY, {"p1": demoted}, NOW)
    assert pm.selected_model_id == "p1"
    assert "demoted" not in pm.factors
    over = select(request(), REGISTRY, {"p1": demoted}, NOW + timedelta(hours=1))
    assert over.selected_model_id == "p1"


def test_a_demoted_model_chosen_anyway_says_so() -> None:
    only = {"p1": REGISTRY["p1"]}
    demoted = Scorecard(model_id="p1", updated_at=NOW, demoted_until={"SA": NOW + timedelta(minutes=30)})
    reply = select(request(), only, {"p1": demoted}, NOW)
    assert reply.selected_model_id == "p1"
    assert reply.factors["demoted"] == 1.0
    assert "standing lowered for this agent type after a quality/cost failover" in reply.reasoning


def test_exploring_with_no_data_stays_in_the_band() -> None:
    request_explore = request().model_copy(update={"explore": True})
    for seed in range(50):
        reply = select(request_explore, REGISTRY, {}, NOW, rng=random.Random(seed))
        assert reply.selected_model_id in {"p1", "p2"}, seed
        assert "success_sample" in reply.factors
