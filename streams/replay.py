"""Re-deriving a logged decision: the registry and scorecards rebuilt as they were at its
recorded positions, the pure scoring run again, and what it reproduces or not. Pure; the
topics are read by `modelrouter explain` (cli/explain.py)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

from modelrouter.schemas import APIModelError, DecisionRecord, InvalidEventError, ModelSpec, Scorecard

from .propensity import logged_propensities
from .scoring import Decision, ScoringParams, decide, params_hash

__all__ = ["Rederivation", "TopicRecord", "rederive", "view_at"]

V = TypeVar("V")


class TopicRecord(NamedTuple):
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None


def view_at(
    records: Iterable[TopicRecord], positions: Mapping[str, int], decode: Callable[[bytes], V]
) -> dict[str, V]:
    """A compacted topic's latest value per key among the records before `positions`
    (partition -> next offset), as a TopicView held it then; a null value removes its key."""
    out: dict[str, V] = {}
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        if r.key is None or r.offset >= positions.get(str(r.partition), 0):
            continue
        key = r.key.decode("utf-8", errors="replace")
        if r.value is None:
            out.pop(key, None)
            continue
        try:
            out[key] = decode(r.value)
        except (InvalidEventError, ValueError):
            continue  # the view skipped it too
    return out


@dataclass(frozen=True, slots=True)
class Rederivation:
    """The decision made again; `mismatches` lists what differs from the log (empty: reproduced)."""

    record: DecisionRecord
    decision: Decision | None
    propensity: float | None
    samples: int
    mismatches: tuple[str, ...]

    @property
    def reproduced(self) -> bool:
        return not self.mismatches


def rederive(
    record: DecisionRecord,
    registry: Mapping[str, ModelSpec],
    scorecards: Mapping[str, Scorecard],
    params: ScoringParams,
) -> Rederivation:
    """Run `record`'s request again on these views at its time, with its seed."""
    request = record.request
    out: list[str] = []
    if params_hash(params) != record.policy.params_hash:
        out.append(
            f"scoring parameters differ: logged {record.policy.params_hash}, here {params_hash(params)} "
            "(give this command the worker's MODELROUTER_EXPLORE_* and MODELROUTER_CIRCUIT_* settings)"
        )
    rng = random.Random(request.request_id) if request.explore else None  # noqa: S311 - the responder's seed
    try:
        decision = decide(request, registry, scorecards, record.decided_at, rng, params)
    except APIModelError as exc:
        return Rederivation(record, None, None, 0, (*out, f"no candidate now: {exc}"))
    probs, used = logged_propensities(decision, params)
    propensity = 1.0 if decision.chosen is None else probs[decision.chosen]
    reply = decision.reply
    if reply.selected_model_id != record.chosen_model_id:
        out.append(f"chose {reply.selected_model_id}, the log says {record.chosen_model_id}")
    if abs(propensity - record.propensity) > 1e-9:
        out.append(f"propensity {propensity:.4f}, the log says {record.propensity:.4f}")
    logged = {c.model_id: c.score for c in record.eligible}
    again = {c.model_id: c.score for c in decision.candidates}
    if logged.keys() != again.keys():
        out.append(f"eligible {sorted(again)}, the log says {sorted(logged)}")
    else:
        out.extend(
            f"{m} scores {again[m]:.4f}, the log says {logged[m]:.4f}"
            for m in sorted(logged)
            if abs(logged[m] - again[m]) > 1e-9
        )
    return Rederivation(record, decision, propensity, used, tuple(out))
