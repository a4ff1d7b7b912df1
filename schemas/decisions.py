"""DecisionRecord (the `decisions` topic): one per selection reply, with the propensity of its
choice and what it was decided on, so a past decision can be re-derived and another policy
evaluated on the logged traffic (docs/evaluation.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import Id, Name, NonNegFloat, NonNegInt, Record, Score01, Timestamp
from .selection import Rejection, SelectionRequest

__all__ = ["CandidateRecord", "DecisionInputs", "DecisionPolicy", "DecisionRecord"]

Hex = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$")]


class DecisionPolicy(Record):
    """The policy that decided: its strategy, whether it explored, and a hash of its
    scoring parameters (weights, priors, floor, health), so two records name the same policy
    exactly when they were scored alike."""

    strategy: Name
    explore: bool
    params_hash: Hex
    explore_floor: Score01 = 0.0


class CandidateRecord(Record):
    """One eligible candidate: its score and the terms it was scored on (each 0..1 but
    `preference`), and the probability that the policy chose it in this state."""

    model_id: Id
    score: float
    propensity: Score01
    success: Score01
    quality: Score01
    latency: Score01
    cost: Score01
    preference: float = 0.0  # bonuses, less a demotion penalty
    # 1 for a healthy model, ScoringParams.half_open_factor for a half-open one.
    penalty: Score01 = 1.0
    expected_cost_usd: NonNegFloat
    p95_ms: NonNegFloat | None = None
    quality_known: bool = False  # False: `quality` is the prior
    requests: NonNegInt = 0
    successes: NonNegInt = 0
    # The calls the exploration counted (capped, decayed by the scorecard's age).
    evidence: NonNegFloat = 0.0
    stats_age_ms: NonNegFloat | None = None
    probe: bool = False


class DecisionInputs(Record):
    """What the decision was made on: the responder's registry and scorecards views as
    positions (partition -> next offset read) and versions (records applied)."""

    registry_positions: dict[str, NonNegInt] = Field(default_factory=dict)
    scorecards_positions: dict[str, NonNegInt] = Field(default_factory=dict)
    registry_version: NonNegInt = 0
    scorecards_version: NonNegInt = 0
    stats_age_ms: NonNegFloat | None = None


class DecisionRecord(Record):
    """One selection decision. Key: request_id. `propensity` is the probability of
    `chosen_model_id`: exact (`propensity_samples` 0) where the choice is deterministic,
    a Monte Carlo estimate over `propensity_samples` draws under Thompson sampling."""

    type: Literal["decision"] = "decision"
    request_id: Id
    task_id: Id
    agent_type: Name
    decided_at: Timestamp
    policy: DecisionPolicy
    chosen_model_id: Id
    fallback_used: bool = False
    propensity: Score01
    propensity_samples: NonNegInt = 0
    eligible: tuple[CandidateRecord, ...] = ()
    rejected: tuple[Rejection, ...] = ()
    inputs: DecisionInputs = Field(default_factory=DecisionInputs)
    # The request as asked: the requests topic keeps it minutes, `explain` needs it later.
    request: SelectionRequest

    @property
    def key(self) -> str:
        return self.request_id
