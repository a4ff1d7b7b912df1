"""Evaluating a candidate policy on the decisions log: the policy as text, its probability of
each logged choice from the terms the record carries, the join of decisions with their
task-completed outcomes by task id, and the estimates per metric (streams/offpolicy.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from modelrouter.schemas import ConfigurationError, DecisionRecord, TaskCompleted

from .offpolicy import Estimate, LoggedSteps, estimate
from .propensity import DEFAULT_SAMPLES, choice_probabilities, seed_of
from .scoring import DEFAULT_PARAMS, STRATEGIES, CandidateTerms, ScoringParams, Strategy, Weights

__all__ = [
    "METRICS",
    "CandidatePolicy",
    "Evaluation",
    "Outcome",
    "evaluate",
    "join_outcomes",
    "parse_policy",
    "target_probabilities",
]

METRICS = ("success", "quality", "cost")


@dataclass(frozen=True, slots=True)
class CandidatePolicy:
    """A policy to evaluate: a strategy and its weights, optional Thompson sampling, an
    exploration floor and a cost cap per request."""

    strategy: Strategy
    weights: Weights
    explore: bool = False
    floor: float = 0.0
    max_cost_usd: float | None = None

    def describe(self) -> str:
        w = self.weights
        parts = [self.strategy, f"weights={w.success:g}/{w.quality:g}/{w.latency:g}/{w.cost:g}"]
        if self.explore:
            parts.append("explore")
        if self.floor:
            parts.append(f"floor={self.floor:g}")
        if self.max_cost_usd is not None:
            parts.append(f"max_cost={self.max_cost_usd:g}")
        return ",".join(parts)


def parse_policy(text: str, params: ScoringParams = DEFAULT_PARAMS) -> CandidatePolicy:
    """`cost`, `latency,explore,floor=0.05`, `balanced,weights=0.5/0.2/0.1/0.2,max_cost=0.01`.

    Weights are success/quality/latency/cost; the strategy's own weights when not given.
    """
    tokens = [t.strip() for t in text.split(",") if t.strip()]
    if not tokens:
        raise ConfigurationError("--policy is empty: give a strategy, e.g. --policy cost")
    strategy: str = "balanced"
    fields: dict[str, object] = {}
    for i, token in enumerate(tokens):
        name, _, value = token.partition("=")
        name = name.strip().lower()
        if not value and name in STRATEGIES and i == 0:
            strategy = name
        elif name == "strategy" and value in STRATEGIES:
            strategy = value
        elif name == "explore" and not value:
            fields["explore"] = True
        elif name in ("floor", "max_cost", "weights") and value:
            fields[name] = value
        else:
            raise ConfigurationError(
                f"--policy: cannot read {token!r}; expected a strategy ({', '.join(STRATEGIES)}), "
                "explore, floor=P, max_cost=USD or weights=S/Q/L/C"
            )
    weights = params.weights[strategy]  # type: ignore[index]  # checked against STRATEGIES
    try:
        if "weights" in fields:
            s, q, lat, c = (float(x) for x in str(fields["weights"]).split("/"))
            weights = Weights(success=s, quality=q, latency=lat, cost=c)
        floor = float(str(fields.get("floor", 0.0)))
        cap = float(str(fields["max_cost"])) if "max_cost" in fields else None
    except ValueError as exc:
        raise ConfigurationError(f"--policy {text!r}: {exc} (weights are four numbers S/Q/L/C)") from exc
    if not 0.0 <= floor <= 1.0 or min(weights.success, weights.quality, weights.latency, weights.cost) < 0:
        raise ConfigurationError(f"--policy {text!r}: the floor is within 0..1 and weights are >= 0")
    return CandidatePolicy(strategy, weights, bool(fields.get("explore")), floor, cap)  # type: ignore[arg-type]


def _terms(record: DecisionRecord, policy: CandidatePolicy, params: ScoringParams) -> list[CandidateTerms]:
    """The record's eligible candidates in model_id order, as scoring saw them, less those over
    the policy's cost cap; latency and cost re-scored relative to the best of those left."""
    kept = sorted(
        (
            c
            for c in record.eligible
            if policy.max_cost_usd is None or c.expected_cost_usd <= policy.max_cost_usd
        ),
        key=lambda c: c.model_id,
    )
    if not kept:
        return []
    known = [c.p95_ms for c in kept if c.p95_ms is not None]
    fastest = min(known) + params.latency_floor_ms if known else 0.0
    cheapest = min(c.expected_cost_usd for c in kept) + params.cost_floor_usd
    best_quality = max(c.quality for c in kept)
    out = []
    for c in kept:
        latency = (
            params.latency_prior_score if c.p95_ms is None else fastest / (c.p95_ms + params.latency_floor_ms)
        )
        out.append(
            CandidateTerms(
                model_id=c.model_id,
                score=c.score,
                success=c.success,
                quality=c.quality,
                latency=latency,
                cost=cheapest / (c.expected_cost_usd + params.cost_floor_usd),
                preference=c.preference,
                penalty=c.penalty,
                evidence=c.evidence,
                successes_counted=c.successes * (c.evidence / c.requests) if c.requests else 0.0,
                quality_known=c.quality_known,
                latency_known=c.p95_ms is not None,
                probe=c.probe,
                expected_cost_usd=c.expected_cost_usd,
                p95_ms=c.p95_ms,
                requests=c.requests,
                successes=c.successes,
                stats_age_ms=c.stats_age_ms,
                quality_ref=best_quality,
            )
        )
    return out


def target_probabilities(
    record: DecisionRecord,
    policy: CandidatePolicy,
    params: ScoringParams = DEFAULT_PARAMS,
    samples: int = DEFAULT_SAMPLES,
) -> dict[str, float]:
    """model_id -> the policy's probability of choosing it in the record's state."""
    if record.fallback_used:
        return {record.chosen_model_id: 1.0}  # nothing passed: any policy falls back alike
    terms = _terms(record, policy, params)
    if not terms:
        return {}
    probs, _ = choice_probabilities(
        terms,
        policy.weights,
        replace(params, explore_floor=policy.floor),
        explore=policy.explore,
        floor=policy.floor,
        samples=samples,
        seed=seed_of(record.request_id),
    )
    return {t.model_id: float(p) for t, p in zip(terms, probs, strict=True)}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to a decision's task on the model chosen: the join's right side."""

    success: float
    quality: float | None
    cost: float


def join_outcomes(
    decisions: Iterable[DecisionRecord], completions: Iterable[TaskCompleted]
) -> list[tuple[DecisionRecord, Outcome]]:
    """Each decision with the first task-completed event of its task on its chosen model;
    decisions without one (still running, or outside the window) are left out."""
    first: dict[tuple[str, str], TaskCompleted] = {}
    for c in sorted(completions, key=lambda c: c.occurred_at):
        first.setdefault((c.task_id, c.model_id), c)
    out = []
    seen: set[str] = set()
    for d in decisions:
        if d.request_id in seen:
            continue  # a request answered twice (at least once delivery) counts once
        seen.add(d.request_id)
        done = first.get((d.task_id, d.chosen_model_id))
        if done is not None:
            out.append((d, Outcome(1.0 if done.success else 0.0, done.quality_score, done.cost)))
    return out


@dataclass(frozen=True, slots=True)
class Evaluation:
    policy: CandidatePolicy
    decisions: int
    joined: int
    logged_mean: dict[str, float | None]  # what the logged traffic itself got
    estimates: dict[str, Estimate]


def _reward(outcome: Outcome, metric: str) -> float | None:
    return (
        outcome.success if metric == "success" else outcome.quality if metric == "quality" else outcome.cost
    )


def evaluate(
    decisions: Sequence[DecisionRecord],
    completions: Iterable[TaskCompleted],
    policy: CandidatePolicy,
    params: ScoringParams = DEFAULT_PARAMS,
    *,
    bootstrap: int = 400,
    seed: int = 0,
) -> Evaluation:
    """The policy's success rate, mean quality and cost per task estimated from the log.

    The reward model of the doubly-robust estimator is each model's mean outcome in the log
    (the overall mean for a model without one).
    """
    joined = join_outcomes(decisions, completions)
    targets = [target_probabilities(d, policy, params) for d, _ in joined]
    estimates: dict[str, Estimate] = {}
    logged: dict[str, float | None] = {}
    for metric in METRICS:
        rows = [
            (d, o, t) for (d, o), t in zip(joined, targets, strict=True) if _reward(o, metric) is not None
        ]
        rewards = [float(_reward(o, metric) or 0.0) for _, o, _ in rows]
        logged[metric] = float(np.mean(rewards)) if rewards else None
        by_model: dict[str, list[float]] = defaultdict(list)
        for (d, _, _), r in zip(rows, rewards, strict=True):
            by_model[d.chosen_model_id].append(r)
        overall = logged[metric] or 0.0
        q = {m: float(np.mean(v)) for m, v in by_model.items()}
        steps = LoggedSteps(
            propensity=np.array([d.propensity for d, _, _ in rows], dtype=float),
            target=np.array([t.get(d.chosen_model_id, 0.0) for d, _, t in rows], dtype=float),
            reward=np.array(rewards, dtype=float),
            model_reward=np.array([q.get(d.chosen_model_id, overall) for d, _, _ in rows], dtype=float),
            model_value=np.array(
                [sum(p * q.get(m, overall) for m, p in t.items()) for _, _, t in rows], dtype=float
            ),
            off_support=np.array([_off_support(d, t) for d, _, t in rows], dtype=float),
        )
        estimates[metric] = estimate(steps, bootstrap=bootstrap, seed=seed)
    return Evaluation(policy, len(decisions), len(joined), logged, estimates)


def _off_support(record: DecisionRecord, target: dict[str, float]) -> float:
    """The target's probability of models the logging policy could not choose here."""
    if record.fallback_used:
        return 0.0
    if not target:
        return 1.0  # the policy's cost cap leaves nothing: it would fall back, which the log never saw
    logged = {c.model_id: c.propensity for c in record.eligible}
    return sum(p for m, p in target.items() if logged.get(m, 0.0) <= 0.0)
