"""ModelSpec: one model in the compacted `registry` topic (null value removes it), and the
order of the tiers models belong to (TIER_ORDER), which selection uses to keep a request at or
above its base assignment's tier.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from .base import Id, Name, NonNegFloat, Record

__all__ = ["TIER_ORDER", "ModelSpec", "tier_rank"]

# The tiers of config/model_registry.json and config/optimizer.json, lowest first: a model of a
# later tier is expected to do at least as well as one of an earlier tier, at a higher price.
# Selection (streams/scoring.py) keeps a request with a base assignment on models of its tier or
# above unless the evidence (failures, cooldowns, the caller's constraints) rules them all out.
# A tier not named here has no rank: a base assignment of such a tier constrains nothing, and a
# model of such a tier counts as below every ranked tier.
TIER_ORDER: tuple[str, ...] = ("local", "economy", "standard", "premium")
_TIER_RANK = {tier: rank for rank, tier in enumerate(TIER_ORDER)}


def tier_rank(tier: str) -> int | None:
    """The position of `tier` in TIER_ORDER (0 = lowest), or None for a tier not in it."""
    return _TIER_RANK.get(tier)


class ModelSpec(Record):
    model_id: Id
    provider: Name
    endpoint: Annotated[str, Field(max_length=512)] | None = None
    capabilities: tuple[Name, ...] = ()
    tier: Name
    context_window: Annotated[int, Field(gt=0)]
    input_cost_per_1k: NonNegFloat
    output_cost_per_1k: NonNegFloat
    enabled: bool = True
    rpm_limit: Annotated[int, Field(gt=0)] | None = None
    tpm_limit: Annotated[int, Field(gt=0)] | None = None

    def expected_cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.input_cost_per_1k + output_tokens * self.output_cost_per_1k) / 1000.0
