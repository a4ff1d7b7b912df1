"""Off-policy estimators: what a target policy's mean reward would have been on traffic that a
logging policy chose, from each choice's logged propensity. IPS, self-normalised IPS and doubly
robust, each with a bootstrap interval, the effective sample size, and a plain verdict when the
log does not support the target. Pure numpy (docs/evaluation.md)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Estimate", "Interval", "LoggedSteps", "Support", "estimate"]

Floats = npt.NDArray[np.float64]

# Below this effective sample size, or with more than this share of the target's choices on
# models the log never chose, an estimate is not reported (docs/evaluation.md, "Support").
MIN_EFFECTIVE_SAMPLES = 30.0
MAX_OFF_SUPPORT = 0.05


@dataclass(frozen=True, slots=True)
class LoggedSteps:
    """One row per logged decision with an outcome.

    propensity: the logging policy's probability of the action it took; target: the target
    policy's probability of that same action; reward: the outcome; model_reward: the reward
    model's prediction for the action taken; model_value: the reward model's prediction
    averaged over the target policy's actions; off_support: the target's probability of
    actions the logging policy could not take (propensity 0).
    """

    propensity: Floats
    target: Floats
    reward: Floats
    model_reward: Floats
    model_value: Floats
    off_support: Floats

    def __post_init__(self) -> None:
        n = len(self.propensity)
        if any(len(a) != n for a in (self.target, self.reward, self.model_reward, self.model_value)):
            raise ValueError("LoggedSteps' arrays must have the same length")
        if n and float(self.propensity.min()) <= 0.0:
            raise ValueError("a logged propensity must be > 0 (the action was taken)")


@dataclass(frozen=True, slots=True)
class Interval:
    value: float
    low: float
    high: float

    def covers(self, x: float) -> bool:
        return self.low <= x <= self.high


@dataclass(frozen=True, slots=True)
class Support:
    supported: bool
    effective_samples: float
    off_support: float  # mean share of the target's choices the log cannot see
    reason: str


@dataclass(frozen=True, slots=True)
class Estimate:
    """The three estimates (None when the log does not support the target) and the support."""

    n: int
    support: Support
    ips: Interval | None
    snips: Interval | None
    dr: Interval | None


def _point(w: Floats, r: Floats, q_a: Floats, q_pi: Floats) -> tuple[float, float, float]:
    ips = float(np.mean(w * r))
    total = float(np.sum(w))
    snips = float(np.sum(w * r) / total) if total > 0 else float("nan")
    dr = float(np.mean(q_pi + w * (r - q_a)))
    return ips, snips, dr


def _support(steps: LoggedSteps, w: Floats, min_ess: float, max_off: float) -> Support:
    n = len(w)
    if n == 0:
        return Support(False, 0.0, 0.0, "no logged decision with an outcome in the window")
    sq = float(np.sum(w * w))
    ess = float(np.sum(w)) ** 2 / sq if sq > 0 else 0.0
    off = float(np.mean(steps.off_support))
    if off > max_off:
        return Support(
            False,
            ess,
            off,
            f"the policy would choose models the logged policy never chose in {off:.0%} of the "
            f"decisions (at most {max_off:.0%} allowed): log with exploration (explore=True) first",
        )
    if ess < min_ess:
        return Support(
            False,
            ess,
            off,
            f"effective sample size {ess:.1f} of {n} decisions (at least {min_ess:.0f} needed): "
            "the policy agrees with too few logged choices",
        )
    return Support(True, ess, off, f"effective sample size {ess:.1f} of {n} decisions")


def estimate(
    steps: LoggedSteps,
    *,
    bootstrap: int = 400,
    level: float = 0.95,
    seed: int = 0,
    min_effective_samples: float = MIN_EFFECTIVE_SAMPLES,
    max_off_support: float = MAX_OFF_SUPPORT,
) -> Estimate:
    """IPS, SNIPS and DR estimates of the target's mean reward, with percentile bootstrap intervals."""
    w = steps.target / steps.propensity
    support = _support(steps, w, min_effective_samples, max_off_support)
    n = len(w)
    if not support.supported:
        return Estimate(n, support, None, None, None)
    r, q_a, q_pi = steps.reward, steps.model_reward, steps.model_value
    points = _point(w, r, q_a, q_pi)
    gen = np.random.default_rng(seed)
    draws = np.empty((bootstrap, 3))
    chunk = max(1, 2_000_000 // max(n, 1))  # resamples per block: bounded memory
    for start in range(0, bootstrap, chunk):
        idx = gen.integers(0, n, size=(min(chunk, bootstrap - start), n))
        wi, ri, qa, qp = w[idx], r[idx], q_a[idx], q_pi[idx]
        totals = wi.sum(axis=1)
        draws[start : start + len(idx), 0] = (wi * ri).mean(axis=1)
        draws[start : start + len(idx), 1] = np.where(
            totals > 0, (wi * ri).sum(axis=1) / np.where(totals > 0, totals, 1.0), np.nan
        )
        draws[start : start + len(idx), 2] = (qp + wi * (ri - qa)).mean(axis=1)
    tail = (1.0 - level) / 2.0 * 100.0
    lows = np.nanpercentile(draws, tail, axis=0)
    highs = np.nanpercentile(draws, 100.0 - tail, axis=0)
    ips, snips, dr = (
        Interval(p, float(lo), float(hi)) for p, lo, hi in zip(points, lows, highs, strict=True)
    )
    return Estimate(n, support, ips, snips, dr)
