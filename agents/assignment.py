"""The guide's selection value types: SelectionConstraints (-> the wire's Constraints),
ModelSelection (a selection reply) and APIModelAssignment (a ModelAssignment plus the API's choice).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError

from modelrouter.schemas import (
    Alternative,
    Constraints,
    InvalidEventError,
    Rejection,
    SelectionReply,
    utc_now,
)

from .optimizer import ModelAssignment

__all__ = ["APIModelAssignment", "ModelSelection", "SelectionConstraints"]


def _strings(name: str, value: Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):  # a bare string would become a tuple of its letters
        raise TypeError(f"SelectionConstraints.{name} must be a list of strings, not a string: [{value!r}]")
    return tuple(value)


@dataclass(frozen=True, slots=True, init=False)
class SelectionConstraints:
    """What a selection must respect; maps 1:1 onto the request's `constraints`.

    Lists are accepted (the guide passes them) and kept as tuples. Every field is checked
    when the constraints are built: a bad value raises InvalidEventError naming the field.
    """

    required_capabilities: tuple[str, ...]
    max_cost_per_request: float | None
    excluded_providers: tuple[str, ...]
    max_latency_ms: float | None
    excluded_models: tuple[str, ...]
    min_success_rate: float | None

    def __init__(
        self,
        required_capabilities: Iterable[str] | None = None,
        max_cost_per_request: float | None = None,
        excluded_providers: Iterable[str] | None = None,
        max_latency_ms: float | None = None,
        excluded_models: Iterable[str] | None = None,
        min_success_rate: float | None = None,
    ) -> None:
        set_ = object.__setattr__  # frozen: assigned once, here
        set_(self, "required_capabilities", _strings("required_capabilities", required_capabilities))
        set_(self, "max_cost_per_request", max_cost_per_request)
        set_(self, "excluded_providers", _strings("excluded_providers", excluded_providers))
        set_(self, "max_latency_ms", max_latency_ms)
        set_(self, "excluded_models", _strings("excluded_models", excluded_models))
        set_(self, "min_success_rate", min_success_rate)
        self.to_constraints()  # validate now, not when the request is sent

    def to_constraints(self) -> Constraints:
        try:
            return Constraints.model_validate(
                {
                    "required_capabilities": self.required_capabilities,
                    "max_cost_per_request": self.max_cost_per_request,
                    "excluded_providers": self.excluded_providers,
                    "excluded_models": self.excluded_models,
                    "max_latency_ms": self.max_latency_ms,
                    "min_success_rate": self.min_success_rate,
                },
                strict=False,  # ints for floats, as Python callers write them
            )
        except ValidationError as exc:
            raise InvalidEventError("SelectionConstraints", exc.errors(include_url=False)) from None

    def excluding(self, *model_ids: str) -> SelectionConstraints:
        """These constraints with more models excluded (FailoverManager uses it to re-select)."""
        merged = tuple(dict.fromkeys((*self.excluded_models, *model_ids)))
        return SelectionConstraints(
            self.required_capabilities,
            self.max_cost_per_request,
            self.excluded_providers,
            self.max_latency_ms,
            merged,
            self.min_success_rate,
        )


@dataclass(frozen=True, slots=True)
class ModelSelection:
    """The selection service's full answer: the model, its score and why, the ranked
    alternatives, what was rejected and why, and whether it is a fallback."""

    request_id: str
    selected_model_id: str
    provider: str
    endpoint: str | None
    score: float
    reasoning: str
    factors: dict[str, float] = field(default_factory=dict)
    alternatives: tuple[Alternative, ...] = ()
    rejected: tuple[Rejection, ...] = ()
    fallback_used: bool = False
    stats_age_ms: float | None = None
    decided_at: datetime = field(default_factory=utc_now)

    @classmethod
    def from_reply(cls, reply: SelectionReply) -> ModelSelection:
        return cls(
            request_id=reply.request_id,
            selected_model_id=reply.selected_model_id,
            provider=reply.provider,
            endpoint=reply.endpoint,
            score=reply.score,
            reasoning=reply.reasoning,
            factors=dict(reply.factors),
            alternatives=reply.alternatives,
            rejected=reply.rejected,
            fallback_used=reply.fallback_used,
            stats_age_ms=reply.stats_age_ms,
            decided_at=reply.decided_at,
        )

    @property
    def alternative_model_ids(self) -> tuple[str, ...]:
        """The alternatives, best first."""
        return tuple(a.model_id for a in self.alternatives)


@dataclass(frozen=True, slots=True)
class APIModelAssignment:
    """A ModelAssignment with the API layer's choice: call `selected_model_id`.

    ModelAssignment's fields (`role_type`, `model_tier`, `primary_model`, ...) read
    through to `base_assignment`, so code written for a ModelAssignment keeps working.
    """

    base_assignment: ModelAssignment
    selected_model_id: str
    model_selection: ModelSelection
    api_provider: str
    api_endpoint: str | None
    selection_timestamp: datetime = field(default_factory=utc_now)

    @property
    def role_type(self) -> str:
        return self.base_assignment.role_type

    @property
    def model_tier(self) -> str:
        return self.base_assignment.model_tier

    @property
    def primary_model(self) -> str:
        return self.base_assignment.primary_model

    @property
    def fallback_model(self) -> str:
        return self.base_assignment.fallback_model

    @property
    def required_capabilities(self) -> tuple[str, ...]:
        return self.base_assignment.required_capabilities

    @property
    def max_tokens(self) -> int | None:
        return self.base_assignment.max_tokens

    @property
    def temperature(self) -> float | None:
        return self.base_assignment.temperature

    @property
    def max_concurrent_instances(self) -> int:
        return self.base_assignment.max_concurrent_instances

    @property
    def recommended_model(self) -> str:
        return self.base_assignment.recommended_model

    def get_effective_model(self, prefer_fallback: bool = False) -> str:
        return self.base_assignment.get_effective_model(prefer_fallback)

    @property
    def fallback_used(self) -> bool:
        """True when the API layer could not answer and this is the base assignment's fallback."""
        return self.model_selection.fallback_used

    @property
    def alternatives(self) -> tuple[str, ...]:
        return self.model_selection.alternative_model_ids
