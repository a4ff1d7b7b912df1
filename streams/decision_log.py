"""The DecisionRecord of one selection: the pure step from a scoring Decision, the request and
the views' positions to the record the responder publishes on the `decisions` topic."""

from __future__ import annotations

import math
from typing import Any

from modelrouter.schemas import (
    DecisionInputs,
    DecisionRecord,
    SelectionRequest,
    encode_data,
)

from .propensity import DEFAULT_SAMPLES, logged_propensities
from .scoring import Decision, ScoringParams, params_hash

__all__ = ["decision_record", "encoded_decision_record"]


def _unit(x: float) -> float:
    """A probability as the wire takes it: within 0..1 (a mixture can round past 1)."""
    return min(1.0, max(0.0, x))


def decision_record(
    request: SelectionRequest,
    decision: Decision,
    params: ScoringParams,
    inputs: DecisionInputs,
    *,
    samples: int = DEFAULT_SAMPLES,
    policy_hash: str | None = None,
) -> DecisionRecord:
    """The record of `decision`, made for `request` on the views at `inputs`."""
    data = _record_data(request, decision, params, inputs, samples, policy_hash)
    return DecisionRecord.model_validate(data)


def encoded_decision_record(
    request: SelectionRequest,
    decision: Decision,
    params: ScoringParams,
    inputs: DecisionInputs,
    *,
    samples: int = DEFAULT_SAMPLES,
    policy_hash: str | None = None,
    propensities: tuple[tuple[float, ...], int] | None = None,
) -> bytes:
    """`encode(decision_record(...))`, written from the plain data without validating it: the
    responder's path, where validating 50 candidates cost more than building them. The unit
    tests check that it decodes to `decision_record`'s record. `propensities`: what
    `logged_propensities(decision, params, samples)` gave, when the caller ran it already."""
    data = _record_data(request, decision, params, inputs, samples, policy_hash, propensities)
    return encode_data(data)


def _record_data(
    request: SelectionRequest,
    decision: Decision,
    params: ScoringParams,
    inputs: DecisionInputs,
    samples: int,
    policy_hash: str | None,
    propensities: tuple[tuple[float, ...], int] | None = None,
) -> dict[str, Any]:
    reply = decision.reply_data  # not validated: the record needs its plain data only
    probs, used = propensities if propensities is not None else logged_propensities(decision, params, samples)
    eligible = [
        {
            "model_id": c.model_id,
            "score": c.score,
            "propensity": _unit(p),
            "success": c.success,
            "quality": c.quality,
            "latency": c.latency,
            "cost": c.cost,
            "preference": c.preference,
            "penalty": c.penalty,
            "expected_cost_usd": c.expected_cost_usd,
            "p95_ms": c.p95_ms,
            "quality_known": c.quality_known,
            "requests": c.requests,
            "successes": c.successes,
            "evidence": c.evidence,
            "stats_age_ms": c.stats_age_ms,
            "probe": c.probe,
        }
        for c, p in zip(decision.candidates, probs, strict=True)
    ]
    # The one number the terms do not bound (encoded_decision_record writes a NaN as null).
    if not all(math.isfinite(c["score"]) for c in eligible):  # type: ignore[arg-type]
        raise ValueError(f"request {request.request_id}: a candidate's score is not finite")
    eligible.sort(key=lambda c: (-c["score"], c["model_id"]))  # type: ignore[operator]
    chosen = 1.0 if decision.chosen is None else _unit(probs[decision.chosen])
    return {
        "type": "decision",
        "request_id": request.request_id,
        "task_id": request.task.task_id,
        "agent_type": request.agent_type,
        "decided_at": reply["decided_at"],
        "policy": {
            "strategy": request.strategy,
            "explore": request.explore,
            "params_hash": policy_hash if policy_hash is not None else params_hash(params),
            "explore_floor": params.explore_floor if request.explore else 0.0,
        },
        "chosen_model_id": decision.selected_model_id,
        "fallback_used": decision.fallback_used,
        "propensity": chosen,
        "propensity_samples": used,
        "eligible": tuple(eligible),  # tuples: the record's strict fields take no list
        "rejected": reply["rejected"],  # (model_id, reason) records, as the reply has them
        "inputs": inputs,
        "request": request,
    }
