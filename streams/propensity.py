"""How often a policy picks each eligible candidate, from the terms they were scored on: exact
where the choice is deterministic, a Monte Carlo estimate over Thompson draws where it explores.
Vectorised with numpy; the responder runs it after the reply is sent."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from .scoring import CandidateTerms, Decision, ScoringParams, Weights, explore_betas

__all__ = ["DEFAULT_SAMPLES", "choice_probabilities", "logged_propensities", "seed_of"]

# Standard error of an estimate p at most sqrt(p(1-p)/500) <= 0.023, in ~0.1 ms for 5 candidates.
DEFAULT_SAMPLES = 500

Floats = npt.NDArray[np.float64]


def seed_of(request_id: str) -> int:
    """The Monte Carlo seed of a request: the same estimate on every worker and in `explain`."""
    return int.from_bytes(hashlib.sha256(request_id.encode()).digest()[:8], "big")


def choice_probabilities(
    candidates: Sequence[CandidateTerms],
    weights: Weights,
    params: ScoringParams,
    *,
    explore: bool,
    floor: float,
    samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
) -> tuple[Floats, int]:
    """P(each candidate is chosen) under `weights`, and the draws it took (0 = exact).

    Mirrors streams.scoring.decide: the same sums, a half-open probe first, ties to the
    lowest model_id (candidates come in model_id order), then the floor's uniform mix.
    """
    k = len(candidates)
    if k == 0:
        return np.zeros(0), 0
    probe = np.array([c.probe for c in candidates])
    penalty = np.array([c.penalty for c in candidates])
    fixed_cost = np.array([c.cost for c in candidates])
    preference = np.array([c.preference for c in candidates])
    # quality_score's shortfall ratio: (1 - best + floor) / (1 - quality + floor).
    quality_top = 1.0 - np.array([c.quality_ref for c in candidates]) + params.quality_floor
    if not explore:
        success = np.array([c.success for c in candidates])
        quality = quality_top / (1.0 - np.array([c.quality for c in candidates]) + params.quality_floor)
        latency = np.array([c.latency for c in candidates])
        scores = weights.success * success + weights.quality * quality + weights.latency * latency
        scores = (scores + weights.cost * fixed_cost + preference) * penalty
        if probe.any():
            scores = np.where(probe, scores, -np.inf)
        probs = np.zeros(k)
        probs[int(np.argmax(scores))] = 1.0
        used = 0
    else:
        betas = np.array([explore_betas(c, params) for c in candidates])  # (k, 3, 2)
        gen = np.random.default_rng(seed)
        draws = gen.beta(betas[:, :, 0], betas[:, :, 1], size=(samples, k, 3))
        scores = (
            weights.success * draws[:, :, 0]
            + weights.quality * (quality_top / (1.0 - draws[:, :, 1] + params.quality_floor))
            + weights.latency * draws[:, :, 2]
            + (weights.cost * fixed_cost + preference)
        ) * penalty
        if probe.any():
            scores[:, ~probe] = -np.inf
        probs = np.bincount(np.argmax(scores, axis=1), minlength=k) / samples
        used = samples
    if floor > 0 and not probe.any():
        mass = min(1.0, floor * k)
        probs = mass / k + (1.0 - mass) * probs
    return probs, used


def logged_propensities(
    decision: Decision, params: ScoringParams, samples: int = DEFAULT_SAMPLES
) -> tuple[tuple[float, ...], int]:
    """Each candidate's probability under the policy that made `decision`, and the draws taken.

    A deterministic decision is exact: 1 for the chosen candidate. An exploring one is
    estimated with the request's own seed, so it is the same wherever it is re-derived.
    """
    if decision.chosen is None:
        return (), 0
    if not decision.explore:
        return tuple(1.0 if i == decision.chosen else 0.0 for i in range(len(decision.candidates))), 0
    probs, used = choice_probabilities(
        decision.candidates,
        decision.weights if decision.weights is not None else params.weights[decision.strategy],
        params,
        explore=True,
        floor=decision.floor,
        samples=samples,
        seed=seed_of(decision.request_id),
    )
    return tuple(float(p) for p in probs), used
