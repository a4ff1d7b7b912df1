"""Selection as a pure function: filter the registry by a request's constraints and model health,
rank what is left, and explain the choice in a SelectionReply. No I/O, no faust.

With a base assignment whose tier is in TIER_ORDER (schemas/registry.py), the choice stays in the
assignment's band: models of its tier or above (the primary always; a lower-tier model only once
its observed quality matches the primary's). It leaves the band only when no model in it passed
(failures, cooldowns, the caller's constraints), then to the fallback model first, else the
nearest tier below, and the reasoning says why. A model with no data competes within the band.
A quality/cost failover away from a model lowers its score for that agent type
(Scorecard.demoted_until).
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from functools import cached_property
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, get_args

from modelrouter.schemas import (
    TEXT_MAX,
    APIModelError,
    BaseAssignment,
    ConfigurationError,
    Constraints,
    ModelSpec,
    Scorecard,
    SelectionReply,
    SelectionRequest,
    Settings,
    encode_data,
)
from modelrouter.schemas.health import (
    CLOSED,
    Circuit,
    CircuitState,
    HealthParams,
    circuit,
    in_cooldown,
    is_probe,
    observed_success_rate,
)
from modelrouter.schemas.registry import TIER_ORDER, tier_rank

from .budgets import BudgetCheck

__all__ = [
    "DEFAULT_PARAMS",
    "STRATEGIES",
    "CandidateTerms",
    "Decision",
    "ScoringParams",
    "Strategy",
    "Weights",
    "decide",
    "explore_betas",
    "params_hash",
    "quality_score",
    "select",
]

# SelectionRequest.strategy's values (a test pins the two together).
Strategy = Literal["balanced", "cost", "latency", "quality"]
STRATEGIES: tuple[Strategy, ...] = get_args(Strategy)


@dataclass(frozen=True, slots=True)
class Weights:
    """How much each criterion (each scored 0..1) counts; they sum to 1 so a score is 0..1 plus bonuses."""

    success: float
    quality: float
    latency: float
    cost: float


_DEFAULT_WEIGHTS: Mapping[Strategy, Weights] = MappingProxyType(
    {
        "balanced": Weights(success=0.4, quality=0.2, latency=0.2, cost=0.2),
        "cost": Weights(success=0.25, quality=0.1, latency=0.05, cost=0.6),
        "latency": Weights(success=0.25, quality=0.1, latency=0.6, cost=0.05),
        "quality": Weights(success=0.25, quality=0.6, latency=0.1, cost=0.05),
    }
)


@dataclass(frozen=True, slots=True)
class ScoringParams:
    weights: Mapping[Strategy, Weights] = field(default_factory=lambda: _DEFAULT_WEIGHTS)
    # Beta(alpha, beta) prior on success: mean 0.9, worth 10 calls, so a model without data starts
    # near a typical healthy model and a few early failures do not bury it.
    success_alpha: float = 9.0
    success_beta: float = 1.0
    quality_prior: float = 0.7
    # Latency and cost score as best/own among candidates (1 = best, 0.5 = twice the best); the floors
    # keep a free or instant model from making every other one score ~0.
    latency_prior_score: float = 0.5
    latency_floor_ms: float = 10.0
    cost_floor_usd: float = 1e-5
    # Quality scores the same way, on its shortfall: (1 - best + floor) / (1 - own + floor), so
    # the 0.80 model beside a 0.93 one scores 0.48, not 0.80 against 0.93 as the raw means would
    # (their spread of ~0.15 let cheap, fast models outweigh it: docs/benchmarks.md, Decisions).
    quality_floor: float = 0.05
    # Used for expected cost and context window when the task gives no estimate.
    default_input_tokens: int = 1000
    default_output_tokens: int = 500
    primary_bonus: float = 0.1
    fallback_bonus: float = 0.03
    # A half-open model that is not this request's probe still competes, at this fraction of its score.
    half_open_factor: float = 0.5
    # Exploration (request.explore) draws success, quality and latency from Beta posteriors; the
    # evidence is capped so a posterior never gets so sharp that exploration stops, and halves
    # with every `explore_half_life_s` of its scorecard's age (old evidence decays).
    explore_evidence_cap: float = 100.0
    # A model below the assigned tier joins the band when, over at least this many calls each, its
    # quality mean is at least the primary's.
    quality_evidence_min_requests: int = 20
    # Subtracted from the score of a model demoted for the request's agent type (a quality or cost
    # failover away from it): more than primary_bonus, so an equal peer overtakes a demoted primary.
    demotion_penalty: float = 0.15
    explore_half_life_s: float = 3600.0
    # The calls the quality and latency priors are worth when exploring (success's are alpha + beta).
    explore_prior_calls: float = 10.0
    # An exploring request gives each eligible candidate at least this probability (a uniform
    # pick with probability floor x candidates), so the logged traffic supports other policies.
    explore_floor: float = 0.02
    health: HealthParams = field(default_factory=HealthParams)

    def __post_init__(self) -> None:
        missing = [s for s in STRATEGIES if s not in self.weights]
        if missing:
            raise ConfigurationError(f"ScoringParams.weights lacks strategies {missing}")
        if any(min(w.success, w.quality, w.latency, w.cost) < 0 for w in self.weights.values()):
            raise ConfigurationError("ScoringParams.weights must be >= 0")
        if self.success_alpha <= 0 or self.success_beta <= 0 or self.explore_evidence_cap <= 0:
            raise ConfigurationError("success_alpha, success_beta and explore_evidence_cap must be > 0")
        if self.latency_floor_ms <= 0 or self.cost_floor_usd <= 0 or self.quality_floor <= 0:
            raise ConfigurationError("latency_floor_ms, cost_floor_usd and quality_floor must be > 0")
        if self.explore_half_life_s <= 0 or self.explore_prior_calls <= 0:
            raise ConfigurationError("explore_half_life_s and explore_prior_calls must be > 0")
        if not 0.0 <= self.explore_floor <= 1.0:
            raise ConfigurationError(f"explore_floor must be within 0..1, got {self.explore_floor}")

    @classmethod
    def from_settings(cls, settings: Settings) -> ScoringParams:
        """Selection's tuning from a worker's settings (circuit_* and explore_* fields)."""
        return cls(
            health=HealthParams.from_settings(settings),
            explore_floor=settings.explore_floor,
            explore_half_life_s=settings.explore_half_life_s,
        )


def params_hash(params: ScoringParams) -> str:
    """16 hex digits naming `params` exactly: equal parameters hash alike in any process."""
    parts = []
    for f in fields(params):
        value = getattr(params, f.name)
        if f.name == "weights":
            value = sorted((k, (w.success, w.quality, w.latency, w.cost)) for k, w in value.items())
        elif f.name == "health":
            value = [(h.name, getattr(value, h.name)) for h in fields(value)]
        parts.append((f.name, value))
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


DEFAULT_PARAMS = ScoringParams()


@dataclass(slots=True)
class _Candidate:
    spec: ModelSpec
    card: Scorecard | None
    requests: int
    successes: int
    cost_usd: float
    p95_ms: float | None
    success: float  # posterior mean
    quality: float
    preference: float
    half_open: bool
    probe: bool
    demoted: bool = False
    evidence: float = -1.0  # calls counted when exploring (capped, decayed by age); -1: not yet
    sample: float | None = None  # Thompson draws, when exploring
    quality_sample: float | None = None
    latency_sample: float | None = None
    latency: float = 0.0
    cost: float = 0.0
    quality_ref: float = 1.0  # the best quality mean of the candidates it is scored among
    score: float = 0.0

    def factors(self) -> dict[str, float]:
        out = {
            "success": self.success,
            "quality": self.quality,
            "quality_best": self.quality_ref,
            "latency": self.latency,
            "cost": self.cost,
            "preference": self.preference,
            "requests": float(self.requests),
            "expected_cost_usd": self.cost_usd,
        }
        if self.p95_ms is not None:
            out["p95_ms"] = self.p95_ms
        if self.sample is not None:
            out["success_sample"] = self.sample
        if self.quality_sample is not None:
            out["quality_sample"] = self.quality_sample
        if self.latency_sample is not None:
            out["latency_sample"] = self.latency_sample
        if self.half_open:
            out["half_open"] = 1.0
            out["probe"] = 1.0 if self.probe else 0.0
        if self.demoted:
            out["demoted"] = 1.0
        return out


class CandidateTerms(NamedTuple):
    """What one eligible candidate was scored on, enough to score it again under other weights
    or to estimate how often an exploring policy picks it (modelrouter.streams.propensity).

    A named tuple, immutable like a frozen dataclass but built in a quarter of its time: the
    decisions log builds one per candidate of every selection (50 in bench/selection.py)."""

    model_id: str
    score: float
    success: float  # posterior mean
    quality: float  # the quality mean (or prior); it scores relative to quality_ref (quality_score)
    latency: float
    cost: float
    preference: float
    penalty: float  # 1, or half_open_factor for a half-open model that is not this request's probe
    evidence: float  # calls counted when exploring
    successes_counted: float
    quality_known: bool
    latency_known: bool
    probe: bool
    expected_cost_usd: float
    p95_ms: float | None
    requests: int
    successes: int
    stats_age_ms: float | None
    quality_ref: float = 1.0  # the best quality mean among the candidates it was scored with


def quality_score(quality: float, best: float, params: ScoringParams) -> float:
    """Quality as a term of the score, relative to the best candidate's like latency and cost:
    the ratio of shortfalls (1 - best + floor) / (1 - quality + floor); 1 for the best."""
    return (1.0 - best + params.quality_floor) / (1.0 - quality + params.quality_floor)


@dataclass(frozen=True)
class Decision:
    """A selection reply and what it was decided on: the candidates the choice was made among
    (the band's, or out of it the group the order picked from) in model_id order, which one
    was chosen (None for a fallback), and whether the exploration floor picked it.

    The reply is kept as the plain data `decide` built (every float finite and a float, every
    string within its bound: `decide` checks what it does not build so): `encoded_reply` writes
    it as `encode` writes the validated reply, and `reply` validates it when first asked. The
    responder needs only the bytes; validating 50 alternatives was a tenth of a busy worker."""

    reply_data: Mapping[str, Any]
    strategy: Strategy
    explore: bool
    chosen: int | None
    floor_pick: bool
    _scored: tuple[_Candidate, ...] = ()
    _params: ScoringParams | None = None
    floor: float = 0.0  # the exploration floor this choice was made with (0: none)
    # The weights scored with when not the strategy's own (a budget near its limit moved them).
    weights: Weights | None = None

    @cached_property
    def reply(self) -> SelectionReply:
        return SelectionReply.model_validate(self.reply_data)

    def encoded_reply(self) -> bytes:
        """`encode(self.reply)`, byte for byte (tests/unit/test_scoring_properties.py checks), unvalidated."""
        return encode_data(self.reply_data)

    @property
    def request_id(self) -> str:
        return str(self.reply_data["request_id"])

    @property
    def selected_model_id(self) -> str:
        return str(self.reply_data["selected_model_id"])

    @property
    def fallback_used(self) -> bool:
        return bool(self.reply_data["fallback_used"])

    @cached_property
    def candidates(self) -> tuple[CandidateTerms, ...]:
        """Built when first asked (by the decisions log, after the reply), not on the reply's path."""
        params = self._params if self._params is not None else DEFAULT_PARAMS
        return tuple(_terms(c, self.reply_data["decided_at"], params) for c in self._scored)


def explore_betas(t: CandidateTerms, params: ScoringParams) -> tuple[tuple[float, float], ...]:
    """The Beta(a, b) that exploration draws success, quality and latency from for `t`."""
    return _betas(
        t.evidence, t.successes_counted, t.quality, t.quality_known, t.latency, t.latency_known, params
    )


def _betas(
    n: float,
    successes: float,
    quality: float,
    quality_known: bool,
    latency: float,
    latency_known: bool,
    params: ScoringParams,
) -> tuple[tuple[float, float], ...]:
    k = params.explore_prior_calls
    q0, l0 = params.quality_prior, params.latency_prior_score
    qn = n if quality_known else 0.0
    ln = n if latency_known else 0.0
    return (
        (successes + params.success_alpha, n - successes + params.success_beta),
        (quality * qn + q0 * k, (1.0 - quality) * qn + (1.0 - q0) * k),
        (latency * ln + l0 * k, (1.0 - latency) * ln + (1.0 - l0) * k),
    )


def select(
    request: SelectionRequest,
    registry: Mapping[str, ModelSpec],
    scorecards: Mapping[str, Scorecard],
    now: datetime,
    rng: random.Random | None = None,
    params: ScoringParams = DEFAULT_PARAMS,
    budget: BudgetCheck | None = None,
) -> SelectionReply:
    """Pick a model for `request` from `registry`, judged on `scorecards` (keyed by model_id) at `now`.

    Ranks by `request.strategy`; with `request.explore`, samples success, quality and latency
    from `rng` (a fresh unseeded one when None) and keeps each candidate a floor probability.
    With `budget` (the request's agent type has one), a model whose expected cost does not fit
    what is left is rejected, and near the limit cost weighs more. Raises APIModelError when
    nothing passes and the request has no base assignment to fall back to.
    """
    return decide(request, registry, scorecards, now, rng, params, budget).reply


def decide(
    request: SelectionRequest,
    registry: Mapping[str, ModelSpec],
    scorecards: Mapping[str, Scorecard],
    now: datetime,
    rng: random.Random | None = None,
    params: ScoringParams = DEFAULT_PARAMS,
    budget: BudgetCheck | None = None,
) -> Decision:
    """`select`, and the terms of its decision (for the decisions log and its evaluation)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    weights = params.weights[request.strategy]  # every strategy is there: ScoringParams checks
    if budget is not None and budget.cost_pull > 0:
        weights = _toward(weights, params.weights["cost"], budget.cost_pull)
    cons = request.constraints
    task = request.task
    tokens_in = task.estimated_input_tokens
    tokens_out = task.estimated_output_tokens
    tokens_in = params.default_input_tokens if tokens_in is None else tokens_in
    tokens_out = params.default_output_tokens if tokens_out is None else tokens_out
    base = request.base_assignment
    health = params.health

    band = _Band.of(base, registry, scorecards, params)
    candidates: list[_Candidate] = []
    rejected: list[_Rejected] = []
    band_rejected: list[_Rejected] = []  # rejections of models in the band: why selection left it
    # Sorted: rejections, rng draws and ties must not depend on the mapping's order.
    for key in sorted(registry):
        spec = registry[key]
        card = scorecards.get(spec.model_id)
        cost_usd = spec.expected_cost(tokens_in, tokens_out)
        # The circuit is read off the scorecard only for a model the request's constraints admit.
        reason = _static_rejection(spec, cons, tokens_in + tokens_out, cost_usd)
        if reason is None and budget is not None and not budget.fits(cost_usd):
            reason = budget.rejection(cost_usd)
        breaker = CLOSED if reason is not None else circuit(card, now, health)
        if reason is None:
            reason = _live_rejection(card, cons, now, breaker)
        if reason is not None:
            rejected.append(_Rejected(spec.model_id, _clip(reason)))
            if band is not None and band.by_tier(spec):
                band_rejected.append(rejected[-1])
            continue
        candidates.append(_candidate(spec, card, cost_usd, breaker.state, request, base, params, now))

    if not candidates:
        data = _checked(_fallback(request, registry, scorecards, rejected, now))
        return Decision(data, request.strategy, request.explore, None, False)
    pool = candidates if band is None else [c for c in candidates if band.admits(c)]
    left = "" if band is None or pool else _left_band(band, band_rejected, cons)
    in_pool = {id(c) for c in pool}
    rest = [c for c in candidates if id(c) not in in_pool]
    for group in (pool, rest):  # latency and cost score relative to the best of their own group
        if group:
            _relative_terms(group, params)
    if request.explore:
        rng = rng if rng is not None else random.Random()  # noqa: S311 - not crypto
        _thompson(candidates, rng, now, params)
    floor, floor_pick = 0.0, False
    if pool:
        _score(pool, weights, params)
        ranked = sorted(pool, key=lambda c: (-c.score, c.spec.model_id))
        # A half-open model on its probe request goes first whatever its score (health.is_probe).
        best = next((c for c in ranked if c.probe), ranked[0])
        # Exploring: with probability floor x K a uniform pick (model_id order: a seed draws the same).
        if request.explore and not best.probe and params.explore_floor > 0 and rng is not None:
            floor = params.explore_floor
            if rng.random() < min(1.0, floor * len(pool)):
                best, floor_pick = pool[rng.randrange(len(pool))], True
        choices = pool
    else:
        ranked = []
    if rest and band is not None:
        _score(rest, weights, params)
        # Out of the band: the base assignment's fallback first, then the nearest tier down.
        rest.sort(
            key=lambda c: (c.spec.model_id != band.fallback, -band.rank(c.spec), -c.score, c.spec.model_id)
        )
    if not pool:
        assert band is not None  # without a band every candidate is in the pool
        best = rest[0]
        # What the choice was among: rest[0]'s group (the fallback alone, or one tier by score).
        order = (best.spec.model_id != band.fallback, band.rank(best.spec))
        choices = [c for c in candidates if (c.spec.model_id != band.fallback, band.rank(c.spec)) == order]
    reasoning = _explain(best, [*ranked, *rest], base, request.strategy, band, left, len(rest))
    if floor_pick:
        reasoning += f"; explored: floor pick, uniform over {len(pool)} candidates"
    if budget is not None:
        reasoning += f"; {budget.note()}"
    data = {
        "kind": "selection",
        "request_id": request.request_id,
        "selected_model_id": best.spec.model_id,
        "provider": best.spec.provider,
        "endpoint": best.spec.endpoint,
        "score": best.score,
        "reasoning": _clip(reasoning),
        "factors": best.factors(),
        "alternatives": tuple(
            {"model_id": c.spec.model_id, "score": c.score} for c in [*ranked, *rest] if c is not best
        ),
        "rejected": _rejections(rejected),
        "fallback_used": False,
        "stats_age_ms": _age_ms(best.card, now),
        "decided_at": now,
    }
    data = _checked(data)
    chosen = next(i for i, c in enumerate(choices) if c is best)  # identity: == compares every field
    moved = weights if weights is not params.weights[request.strategy] else None
    return Decision(
        data, request.strategy, request.explore, chosen, floor_pick, tuple(choices), params, floor, moved
    )


def _toward(w: Weights, target: Weights, k: float) -> Weights:
    """`w` moved the share `k` (0..1) of the way to `target`: still weights that sum alike."""
    return Weights(
        success=w.success + (target.success - w.success) * k,
        quality=w.quality + (target.quality - w.quality) * k,
        latency=w.latency + (target.latency - w.latency) * k,
        cost=w.cost + (target.cost - w.cost) * k,
    )


def _terms(c: _Candidate, now: datetime, params: ScoringParams) -> CandidateTerms:
    age_ms = _age_ms(c.card, now)
    evidence = _evidence(c, now, params, age_ms)
    # Positional, in CandidateTerms' field order: keywords cost a third more, 50 times a decision.
    return CandidateTerms(
        c.spec.model_id,
        c.score,
        c.success,
        c.quality,
        c.latency,
        c.cost,
        c.preference - (params.demotion_penalty if c.demoted else 0.0),
        params.half_open_factor if c.half_open and not c.probe else 1.0,
        evidence,
        _counted(c),
        _quality_known(c),
        c.p95_ms is not None,
        c.probe,
        c.cost_usd,
        c.p95_ms,
        c.requests,
        c.successes,
        age_ms,
        c.quality_ref,
    )


def _static_rejection(spec: ModelSpec, cons: Constraints | None, tokens: int, cost_usd: float) -> str | None:
    """The first constraint of the registry entry `spec` breaks, cheapest checks first; None if it passes."""
    if not spec.enabled:
        return "disabled"
    if cons is not None:
        if spec.model_id in cons.excluded_models:
            return f"excluded model {spec.model_id}"
        if spec.provider in cons.excluded_providers:
            return f"excluded provider {spec.provider}"
        missing = [c for c in cons.required_capabilities if c not in spec.capabilities]
        if missing:
            return f"missing capabilit{'y' if len(missing) == 1 else 'ies'} {', '.join(missing)}"
    if tokens > spec.context_window:
        return f"context window {spec.context_window} < needed {tokens}"
    if cons is not None and cons.max_cost_per_request is not None and cost_usd > cons.max_cost_per_request:
        got, cap = _distinct(cost_usd, cons.max_cost_per_request)
        return f"expected cost ${got} > max ${cap}"
    return None


def _live_rejection(
    card: Scorecard | None, cons: Constraints | None, now: datetime, breaker: Circuit
) -> str | None:
    """The first constraint the scorecard `card` breaks at `now`; None if it passes."""
    if card is None:
        return None
    if in_cooldown(card, now):
        return f"rate-limited until {_clock(card.cooldown_until, now)}"
    if breaker.state is CircuitState.OPEN:
        return f"circuit open {breaker.why}, until {_clock(breaker.open_until, now)}"
    if cons is None or card.requests == 0:
        return None  # the latency and success floors apply only where there is data
    p95 = card.latency_p95_ms
    if cons.max_latency_ms is not None and p95 is not None and p95 > cons.max_latency_ms:
        got, cap = _distinct(p95, cons.max_latency_ms)
        return f"p95 latency {got} ms > max {cap} ms"
    rate = observed_success_rate(card)
    if cons.min_success_rate is not None and rate is not None and rate < cons.min_success_rate:
        got, floor = _distinct(rate, cons.min_success_rate, digits=2, fixed=True)
        return f"success rate {got} < min {floor}"
    return None


def _candidate(
    spec: ModelSpec,
    card: Scorecard | None,
    cost_usd: float,
    state: CircuitState,
    request: SelectionRequest,
    base: BaseAssignment | None,
    params: ScoringParams,
    now: datetime,
) -> _Candidate:
    requests = successes = 0
    p95: float | None = None
    quality = params.quality_prior
    if card is not None:
        requests, successes = card.requests, min(card.successes, card.requests)
        p95 = card.latency_p95_ms
        if card.quality_mean is not None:
            quality = card.quality_mean
    preference = 0.0
    if base is not None:
        if spec.model_id == base.primary_model:
            preference = params.primary_bonus
        elif spec.model_id == base.fallback_model:
            preference = params.fallback_bonus
    half_open = state is CircuitState.HALF_OPEN
    demoted_until = card.demoted_until.get(request.agent_type) if card is not None else None
    return _Candidate(
        spec=spec,
        card=card,
        requests=requests,
        successes=successes,
        cost_usd=cost_usd,
        p95_ms=p95,
        success=(successes + params.success_alpha) / (requests + params.success_alpha + params.success_beta),
        quality=quality,
        preference=preference,
        half_open=half_open,
        probe=half_open and is_probe(request.request_id, spec.model_id, params.health.probe_share),
        demoted=demoted_until is not None and demoted_until > now,
    )


def _thompson(candidates: list[_Candidate], rng: random.Random, now: datetime, params: ScoringParams) -> None:
    """Draw each candidate's success, quality and latency score from its Beta posterior."""
    for c in candidates:  # in model_id order, so a seed gives the same draws
        (sa, sb), (qa, qb), (la, lb) = _betas(
            _evidence(c, now, params),
            _counted(c),
            c.quality,
            _quality_known(c),
            c.latency,
            c.p95_ms is not None,
            params,
        )
        c.sample = rng.betavariate(sa, sb)
        c.quality_sample = rng.betavariate(qa, qb)
        c.latency_sample = rng.betavariate(la, lb)


def _evidence(c: _Candidate, now: datetime, params: ScoringParams, age_ms: float | None = None) -> float:
    """The calls exploration counts: capped, halved per half-life of the scorecard's age (kept:
    only exploring requests and the decisions log, after the reply, need it). `age_ms`: the
    card's age at `now` when the caller has it already."""
    if c.evidence < 0:
        age_s = ((age_ms if age_ms is not None else _age_ms(c.card, now)) or 0.0) / 1000.0
        decay = 0.5 ** (age_s / params.explore_half_life_s)
        c.evidence = min(float(c.requests), params.explore_evidence_cap) * decay if c.requests else 0.0
    return c.evidence


def _counted(c: _Candidate) -> float:
    return c.successes * (c.evidence / c.requests) if c.requests else 0.0


def _quality_known(c: _Candidate) -> bool:
    return c.card is not None and c.card.quality_mean is not None


def _relative_terms(candidates: list[_Candidate], params: ScoringParams) -> None:
    """Latency and cost score relative to the best candidate (1 = best, 0.5 = twice the best);
    quality's reference is the best quality mean among them (quality_score)."""
    known = [c.p95_ms for c in candidates if c.p95_ms is not None]
    fastest = min(known) + params.latency_floor_ms if known else 0.0
    cheapest = min(c.cost_usd for c in candidates) + params.cost_floor_usd
    best_quality = max(c.quality for c in candidates)
    for c in candidates:
        c.quality_ref = best_quality
        c.latency = (
            params.latency_prior_score if c.p95_ms is None else fastest / (c.p95_ms + params.latency_floor_ms)
        )
        c.cost = cheapest / (c.cost_usd + params.cost_floor_usd)


def _score(candidates: list[_Candidate], w: Weights, params: ScoringParams) -> None:
    # The same sum, in the same order, as streams.propensity's vectorised scores.
    for c in candidates:
        success = c.success if c.sample is None else c.sample
        quality = c.quality if c.quality_sample is None else c.quality_sample
        quality = quality_score(quality, c.quality_ref, params)
        latency = c.latency if c.latency_sample is None else c.latency_sample
        score = w.success * success + w.quality * quality + w.latency * latency
        score = score + w.cost * c.cost + c.preference - (params.demotion_penalty if c.demoted else 0.0)
        c.score = score * params.half_open_factor if c.half_open and not c.probe else score


@dataclass(frozen=True, slots=True)
class _Band:
    """The models a request with a base assignment may use without evidence against its tier."""

    tier: str
    floor: int  # lowest tier rank in the band
    primary: str
    fallback: str
    primary_quality: float | None  # the primary's quality mean, once it has enough calls
    min_requests: int

    @classmethod
    def of(
        cls,
        base: BaseAssignment | None,
        registry: Mapping[str, ModelSpec],
        scorecards: Mapping[str, Scorecard],
        params: ScoringParams,
    ) -> _Band | None:
        """None without a base assignment, or when its tier is not in TIER_ORDER."""
        if base is None:
            return None
        floor = tier_rank(base.model_tier)
        if floor is None:
            return None
        primary = next((s for s in registry.values() if s.model_id == base.primary_model), None)
        primary_rank = tier_rank(primary.tier) if primary is not None else None
        if primary_rank is not None:
            floor = min(floor, primary_rank)  # the assignment itself accepts its primary's tier
        card = scorecards.get(base.primary_model)
        quality = None
        if card is not None and card.requests >= params.quality_evidence_min_requests:
            quality = card.quality_mean
        return cls(
            base.model_tier,
            floor,
            base.primary_model,
            base.fallback_model,
            quality,
            params.quality_evidence_min_requests,
        )

    @staticmethod
    def rank(spec: ModelSpec) -> int:
        rank = tier_rank(spec.tier)
        return -1 if rank is None else rank  # an unranked tier counts as below them all

    def by_tier(self, spec: ModelSpec) -> bool:
        return spec.model_id == self.primary or self.rank(spec) >= self.floor

    def admits(self, c: _Candidate) -> bool:
        """Of the band's tiers, or of a lower one with quality proven at least the primary's."""
        if self.by_tier(c.spec):
            return True
        card = c.card
        return not (
            self.primary_quality is None
            or card is None
            or card.quality_mean is None
            or card.requests < self.min_requests
            or card.quality_mean < self.primary_quality
        )

    def proven(self, c: _Candidate) -> str:
        """Why a model of a lower tier is in the band (`admits` said so)."""
        card = c.card
        quality = card.quality_mean if card is not None else None
        calls = card.requests if card is not None else 0
        return (
            f"tier {c.spec.tier} below assigned {self.tier}, but quality {quality or 0.0:.2f} over "
            f"{calls} calls >= primary {self.primary}'s {self.primary_quality or 0.0:.2f}"
        )


def _left_band(band: _Band, band_rejected: list[_Rejected], cons: Constraints | None) -> str:
    """Why selection went below the assigned tier: every model of it or above was rejected."""
    if not band_rejected:
        return f"below assigned tier {band.tier}: the registry has no usable model of it or above"
    why = _summary(band_rejected)
    priced_out = any(r.reason.startswith("expected cost") for r in band_rejected)
    if priced_out and cons is not None and cons.max_cost_per_request is not None:
        cap = _num(cons.max_cost_per_request)
        why = f"the caller's max_cost_per_request ${cap} rules out its prices; {why}"
    return f"below assigned tier {band.tier}: no model of it or above passed ({why})"


def _explain(
    best: _Candidate,
    ranked: list[_Candidate],
    base: BaseAssignment | None,
    strategy: str,
    band: _Band | None = None,
    left: str = "",
    set_aside: int = 0,
) -> str:
    card = best.card
    if card is None or card.requests == 0:
        evidence = f"no data yet (prior success {best.success:.2f})"
    else:
        evidence = f"success {observed_success_rate(card):.2f} ({card.requests} calls)"
        if best.p95_ms is not None:
            evidence += f", p95 {_num(best.p95_ms)} ms"
        if card.quality_mean is not None:
            evidence += f", quality {card.quality_mean:.2f}"
    head = f"{best.spec.model_id} ({strategy}, score {best.score:.3f})"
    parts = [f"{head}: {evidence}, ${_num(best.cost_usd)}/request"]
    if left:
        parts.append(left)
    elif band is not None and not band.by_tier(best.spec):
        parts.append(band.proven(best))
    elif band is not None and set_aside:
        floor = TIER_ORDER[band.floor]
        parts.append(f"kept to tier {floor} or above ({set_aside} lower-tier candidates set aside)")
    if best.demoted:
        parts.append("standing lowered for this agent type after a quality/cost failover")
    if base is not None and best.preference:
        which = "primary" if best.spec.model_id == base.primary_model else "fallback"
        parts.append(f"{which} of role {base.role_type}")
    if best.sample is not None:
        parts.append(
            f"explored: sampled success {best.sample:.2f}, quality {best.quality_sample or 0:.2f}, "
            f"latency {best.latency_sample or 0:.2f}"
        )
    if best.probe:
        parts.append(f"circuit half-open ({best.spec.model_id} tripped): this request is its probe")
    elif best.half_open:
        parts.append("circuit half-open: score penalised")
    runner_up = next((c for c in ranked if c is not best), None)
    if runner_up is not None:
        parts.append(f"next {runner_up.spec.model_id} ({runner_up.score:.3f})")
    return "; ".join(parts)


def _fallback(
    request: SelectionRequest,
    registry: Mapping[str, ModelSpec],
    scorecards: Mapping[str, Scorecard],
    rejected: list[_Rejected],
    now: datetime,
) -> dict[str, Any]:
    """Nothing passed: the base assignment's fallback model, whatever its own verdict was."""
    why = _summary(rejected) if rejected else "the registry is empty"
    base = request.base_assignment
    if base is None:
        raise APIModelError(
            f"no model for request {request.request_id} (agent {request.agent_type}): no candidate passed "
            f"the constraints ({why}) and the request has no base_assignment to fall back to; "
            "relax the constraints or send a base_assignment"
        )
    model_id = base.fallback_model
    spec = registry.get(model_id)
    card = scorecards.get(model_id)
    own = next((r.reason for r in rejected if r.model_id == model_id), None)
    # Nothing passed, so a fallback in the registry was rejected too.
    note = f"itself rejected: {own}" if own is not None else "not in the registry"
    factors = {"requests": float(card.requests)} if card is not None else {}
    return {
        "kind": "selection",
        "request_id": request.request_id,
        "selected_model_id": model_id,
        # provider is required on the wire; a fallback outside the registry has none we know.
        "provider": spec.provider if spec is not None else "unknown",
        "endpoint": spec.endpoint if spec is not None else None,
        "score": 0.0,
        "reasoning": _clip(
            f"no candidate passed the constraints ({why}); using {model_id}, fallback of role "
            f"{base.role_type} ({note})"
        ),
        "factors": factors,
        "alternatives": (),
        "rejected": _rejections(rejected),
        "fallback_used": True,
        "stats_age_ms": _age_ms(card, now),
        "decided_at": now,
    }


def _checked(data: dict[str, Any]) -> dict[str, Any]:
    """`data`, when every number `decide` computed is a finite float; else what validating the
    reply makes of it: the same error as ever for a non-finite score or factor (odd registry
    prices or params), and ints (params given as ints) as the floats the contract has
    (`encode_data` would write 1, not 1.0)."""
    numbers = [data["score"], *data["factors"].values(), *(a["score"] for a in data["alternatives"])]
    if data["stats_age_ms"] is not None:
        numbers.append(data["stats_age_ms"])
    if all(type(x) is float and math.isfinite(x) for x in numbers):
        return data
    return SelectionReply.model_validate(data).model_dump()


class _Rejected(NamedTuple):
    """A Rejection before it is validated into a reply."""

    model_id: str
    reason: str


def _rejections(rejected: list[_Rejected]) -> tuple[dict[str, str], ...]:
    return tuple({"model_id": r.model_id, "reason": r.reason} for r in rejected)


def _summary(rejected: list[_Rejected], shown: int = 3) -> str:
    text = "; ".join(f"{r.model_id}: {r.reason}" for r in rejected[:shown])
    more = len(rejected) - shown
    return f"{text}; and {more} more" if more > 0 else text


def _age_ms(card: Scorecard | None, now: datetime) -> float | None:
    if card is None:
        return None
    # A scorecard stamped slightly in the future (clock skew between hosts) is fresh, not negative.
    return max(0.0, (now - card.updated_at).total_seconds() * 1000.0)


def _num(x: float, digits: int = 4) -> str:
    """A price or a latency as people write it: 0.000025, 0.0042, 0.12, 840, 2300, 12,345."""
    if x >= 10_000:
        return f"{x:,.0f}"
    text = f"{x:.{digits}g}"
    return f"{x:.{digits + 6}f}".rstrip("0") if "e" in text else text


def _distinct(got: float, limit: float, digits: int = 4, fixed: bool = False) -> tuple[str, str]:
    """Both numbers with enough digits that a value just over its limit does not print equal to it."""
    while True:
        a, b = (
            (f"{got:.{digits}f}", f"{limit:.{digits}f}")
            if fixed
            else (_num(got, digits), _num(limit, digits))
        )
        if a != b or digits >= 12:
            return a, b
        digits += 2


def _clock(at: datetime | None, now: datetime) -> str:
    if at is None:
        return "unknown"
    return at.strftime("%H:%M:%SZ" if at.date() == now.astimezone(UTC).date() else "%Y-%m-%dT%H:%M:%SZ")


def _clip(text: str) -> str:
    return text if len(text) <= TEXT_MAX else text[: TEXT_MAX - 1] + "…"
