"""Property: whatever the registry, scorecards and constraints, selection never hands out a model that
breaks a constraint, and it rejects exactly the models an independent reading of the rules rejects."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from hypothesis import event, given, settings
from hypothesis import strategies as st

from modelrouter.schemas import (
    APIModelError,
    BaseAssignment,
    Constraints,
    ModelSpec,
    Scorecard,
    SelectionReply,
    SelectionRequest,
    TaskInfo,
    encode,
)
from modelrouter.schemas.health import HealthParams
from modelrouter.streams.scoring import DEFAULT_PARAMS, STRATEGIES, ScoringParams, decide, select

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
PROVIDERS = ("openai", "anthropic", "google", "ollama")
CAPABILITIES = ("code", "vision", "tools", "analysis")
MODEL_IDS = tuple(f"m{i}" for i in range(8))
HEALTH = DEFAULT_PARAMS.health
T = TypeVar("T")


def mostly(usual: T, other: st.SearchStrategy[T], odds: int = 3) -> st.SearchStrategy[T]:
    """`usual` `odds` times in `odds + 1`. Each rule then breaks rarely, so that often a single broken
    rule is all that stands between a model and the selection: the case a buggy filter gets wrong."""
    # sampled_from, not one_of: one_of merges equal branches, which would make the odds 1 to 1.
    return st.sampled_from((True,) * odds + (False,)).flatmap(lambda keep: st.just(usual) if keep else other)


# Offsets from NOW, often around the 30 s the circuit stays open.
seconds = (st.sampled_from((-90, -31, -30, -29, -15, -1, 0, 1)) | st.integers(-600, 600)).map(
    lambda s: NOW + timedelta(seconds=s)
)
# Few distinct values besides free floats, so that values often land on or just past a limit.
prices = st.sampled_from((0.0, 0.0005, 0.001, 0.002, 0.003, 0.01, 0.015, 0.03)) | st.floats(0, 0.1)
latencies = st.sampled_from((250.0, 1000.0, 2000.0)) | st.floats(0, 8000)
rates = st.sampled_from((0.5, 0.8, 0.9, 1.0)) | st.floats(0, 1)
tokens = st.sampled_from((0, 500, 1000, 1500, 4000, 8000)) | st.integers(0, 40_000)


@st.composite
def model_specs(draw: st.DrawFn, model_id: str) -> ModelSpec:
    return ModelSpec(
        model_id=model_id,
        provider=draw(st.sampled_from(PROVIDERS)),
        tier="t",
        capabilities=tuple(
            draw(mostly(frozenset(CAPABILITIES), st.frozensets(st.sampled_from(CAPABILITIES)), odds=1))
        ),
        context_window=draw(mostly(128_000, st.sampled_from((1024, 2048, 8192, 32_000)))),
        input_cost_per_1k=draw(prices),
        output_cost_per_1k=draw(prices),
        enabled=draw(mostly(True, st.just(False), odds=7)),
    )


def near(limit: float | None, free: st.SearchStrategy[float]) -> st.SearchStrategy[float]:
    """Half the time a value on, just under or just over `limit`, when there is one."""
    if limit is None:
        return free
    return free | st.sampled_from((0.5, 0.999, 1.0, 1.001, 1.1, 2.0)).map(lambda f: limit * f)


@st.composite
def scorecards(draw: st.DrawFn, model_id: str, cons: Constraints) -> Scorecard:
    requests = draw(st.sampled_from((0, 1, 19, 20, 60)) | st.integers(0, 60))
    successes = draw(st.integers(0, requests) | st.integers(max(0, requests - 4), requests))
    exact = successes / requests if requests else None
    return Scorecard(
        model_id=model_id,
        updated_at=draw(seconds),
        requests=requests,
        successes=successes,
        success_rate=draw(
            st.none() | st.just(exact) | near(cons.min_success_rate, rates).map(lambda r: min(r, 1.0))
        ),
        latency_p50_ms=draw(st.none() | st.floats(0, 3000)),
        latency_p95_ms=draw(st.none() | near(cons.max_latency_ms, latencies)),
        quality_mean=draw(st.none() | st.floats(0, 1)),
        cooldown_until=draw(mostly(None, seconds)),
        failure_streak=draw(mostly(0, st.integers(0, 8))),
        last_failure_at=draw(st.none() | seconds),
    )


@st.composite
def worlds(draw: st.DrawFn) -> tuple[SelectionRequest, dict[str, ModelSpec], dict[str, Scorecard]]:
    ids = draw(st.lists(st.sampled_from(MODEL_IDS), unique=True, max_size=len(MODEL_IDS)))
    constraints = draw(
        st.none()
        | st.builds(
            Constraints,
            required_capabilities=mostly(
                (), st.lists(st.sampled_from(CAPABILITIES), max_size=2).map(tuple), 1
            ),
            max_cost_per_request=mostly(None, prices | st.floats(0, 0.2)),
            excluded_providers=mostly((), st.lists(st.sampled_from(PROVIDERS), max_size=2).map(tuple)),
            excluded_models=mostly((), st.lists(st.sampled_from(MODEL_IDS), max_size=3).map(tuple), 1),
            max_latency_ms=mostly(None, latencies, 1),
            min_success_rate=mostly(None, rates, 1),
        )
    )
    registry = {m: draw(model_specs(m)) for m in ids}
    cards = {m: draw(scorecards(m, constraints or Constraints())) for m in ids if draw(st.booleans())}
    any_id = st.sampled_from((*MODEL_IDS, "not-registered"))
    base = draw(
        st.none()
        | st.builds(
            BaseAssignment,
            role_type=st.just("dev"),
            model_tier=st.just("t"),
            primary_model=any_id,
            fallback_model=any_id,
        )
    )
    request = SelectionRequest(
        request_id=draw(st.text("abcdef0123456789", min_size=1, max_size=12)),
        reply_to="replies",
        agent_type="SA",
        task=TaskInfo(
            task_id="t",
            estimated_input_tokens=draw(mostly(None, tokens)),
            estimated_output_tokens=draw(mostly(None, tokens)),
        ),
        base_assignment=base,
        constraints=constraints,
        strategy=draw(st.sampled_from(STRATEGIES)),
        explore=draw(st.booleans()),
    )
    return request, registry, cards


def circuit_open(card: Scorecard) -> bool:
    """The breaker's rule, written out again: tripped, and the last failure is too recent."""
    rate = card.success_rate if card.success_rate is not None else card.successes / max(card.requests, 1)
    tripped = card.failure_streak >= HEALTH.circuit_failure_streak or (
        card.requests >= HEALTH.circuit_min_requests and 1 - rate >= HEALTH.circuit_failure_rate
    )
    since = card.last_failure_at or card.updated_at
    return tripped and since + timedelta(seconds=HEALTH.circuit_open_s) > NOW


def violations(request: SelectionRequest, spec: ModelSpec, card: Scorecard | None) -> list[str]:
    cons = request.constraints or Constraints()
    tokens_in = request.task.estimated_input_tokens
    tokens_out = request.task.estimated_output_tokens
    tokens_in = DEFAULT_PARAMS.default_input_tokens if tokens_in is None else tokens_in
    tokens_out = DEFAULT_PARAMS.default_output_tokens if tokens_out is None else tokens_out
    broken = []
    if not spec.enabled:
        broken.append("disabled")
    if spec.provider in cons.excluded_providers:
        broken.append("excluded provider")
    if spec.model_id in cons.excluded_models:
        broken.append("excluded model")
    if not set(cons.required_capabilities) <= set(spec.capabilities):
        broken.append("capability")
    if tokens_in + tokens_out > spec.context_window:
        broken.append("context window")
    cost = (tokens_in * spec.input_cost_per_1k + tokens_out * spec.output_cost_per_1k) / 1000
    if cons.max_cost_per_request is not None and cost > cons.max_cost_per_request:
        broken.append("cost")
    if card is not None:
        if card.cooldown_until is not None and card.cooldown_until > NOW:
            broken.append("cooldown")
        if circuit_open(card):
            broken.append("circuit open")
        if card.requests > 0:
            p95 = card.latency_p95_ms
            if cons.max_latency_ms is not None and p95 is not None and p95 > cons.max_latency_ms:
                broken.append("latency")
            rate = card.success_rate if card.success_rate is not None else card.successes / card.requests
            if cons.min_success_rate is not None and rate < cons.min_success_rate:
                broken.append("success rate")
    return broken


@settings(max_examples=600, deadline=None)
@given(
    world=worlds(),
    probe_share=st.sampled_from((0.0, 0.05, 1.0)),
    seed=st.integers(0, 2**32),
)
def test_selection_never_breaks_a_constraint(
    world: tuple[SelectionRequest, dict[str, ModelSpec], dict[str, Scorecard]],
    probe_share: float,
    seed: int,
) -> None:
    request, registry, cards = world
    params = ScoringParams(health=HealthParams(probe_share=probe_share))
    bad = {m: v for m in registry if (v := violations(request, registry[m], cards.get(m)))}
    passing = set(registry) - set(bad)
    try:
        reply = select(request, registry, cards, NOW, random.Random(seed), params)
    except APIModelError:
        event("no candidate, no base assignment: APIModelError")
        assert not passing
        assert request.base_assignment is None
        return

    assert isinstance(reply, SelectionReply)
    assert {r.model_id for r in reply.rejected} == set(bad)
    if reply.fallback_used:
        event("fallback")
        assert not passing
        assert request.base_assignment is not None
        assert reply.selected_model_id == request.base_assignment.fallback_model
        assert reply.alternatives == ()
        return

    chosen = reply.selected_model_id
    event(f"selected among {min(len(passing), 3)}+ candidates, {min(len(bad), 3)}+ rejected")
    assert chosen in passing, f"{chosen} breaks {bad.get(chosen)}"
    assert violations(request, registry[chosen], cards.get(chosen)) == []
    # Every passing model is offered exactly once, the alternatives best first.
    assert sorted([chosen, *(a.model_id for a in reply.alternatives)]) == sorted(passing)
    scores = [a.score for a in reply.alternatives]
    assert scores == sorted(scores, reverse=True)
    assert reply.provider == registry[chosen].provider
    card = cards.get(chosen)
    expected_age = None if card is None else max(0.0, (NOW - card.updated_at).total_seconds() * 1000)
    assert reply.stats_age_ms == expected_age


@settings(max_examples=300, deadline=None)
@given(world=worlds(), seed=st.integers(0, 2**32), whole=st.booleans())
def test_the_reply_bytes_are_the_validated_replys(
    world: tuple[SelectionRequest, dict[str, ModelSpec], dict[str, Scorecard]], seed: int, whole: bool
) -> None:
    """The responder writes a reply from `decide`'s plain data without validating it: the bytes
    are exactly what the one codec writes for the validated reply (and a params object given
    whole numbers, as a user may, is still written with the floats the contract has)."""
    request, registry, cards = world
    params = ScoringParams(primary_bonus=1, fallback_bonus=0) if whole else DEFAULT_PARAMS
    try:
        decision = decide(request, registry, cards, NOW, random.Random(seed), params)
    except APIModelError:
        return
    assert decision.encoded_reply() == encode(decision.reply)
    assert decision.request_id == decision.reply.request_id == request.request_id
    assert decision.selected_model_id == decision.reply.selected_model_id
    assert decision.fallback_used == decision.reply.fallback_used
