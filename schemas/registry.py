"""ModelSpec: one model in the compacted `registry` topic (null value removes it)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from .base import Id, Name, NonNegFloat, Record

__all__ = ["ModelSpec"]


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
