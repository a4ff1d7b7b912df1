"""The base of every wire record: frozen, strict, finite numbers, no unknown fields."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

__all__ = [
    "ID_MAX",
    "MAX_COST_USD",
    "MAX_LATENCY_MS",
    "MAX_RETRY_AFTER_S",
    "MAX_TOKENS",
    "NAME_MAX",
    "TEXT_MAX",
    "CostUsd",
    "Id",
    "LatencyMs",
    "Name",
    "NonNegFloat",
    "NonNegInt",
    "Record",
    "RetryAfterSeconds",
    "Score01",
    "Text",
    "Timestamp",
    "TokenCount",
    "utc_now",
]

# The wire's length limits, owned here: ids (event, task, request), names (agent type, model,
# provider) and free text (reasoning, error messages).
ID_MAX = 128
NAME_MAX = 64
TEXT_MAX = 2048


class Record(BaseModel):
    # extra="forbid": a misspelt optional field (e.g. "qualty_score") must reach the
    # dead-letter topic, not silently become null.
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid", allow_inf_nan=False)


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


# RFC 3339 with an offset; stored in UTC. A naive time is refused: its zone is a guess.
Timestamp = Annotated[AwareDatetime, AfterValidator(_to_utc)]
Id = Annotated[str, Field(min_length=1, max_length=ID_MAX)]
Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX)]
Text = Annotated[str, Field(max_length=TEXT_MAX)]
NonNegFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
NonNegInt = Annotated[int, Field(ge=0)]
Score01 = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]

# Per-event maximums: a value beyond them is a unit error (micro-dollars sent as dollars,
# nanoseconds as milliseconds), and beyond them the fold's fixed-point sums and the
# timestamps derived from them are no longer representable (docs/design.md, "Changes").
MAX_COST_USD = 1_000_000.0  # one call costing more than a million dollars
MAX_TOKENS = 1_000_000_000_000  # 10**12 tokens in one call
MAX_LATENCY_MS = 1_000_000_000.0  # about 11.6 days
MAX_RETRY_AFTER_S = 31_536_000.0  # 365 days
CostUsd = Annotated[float, Field(ge=0, le=MAX_COST_USD, allow_inf_nan=False)]
TokenCount = Annotated[int, Field(ge=0, le=MAX_TOKENS)]
LatencyMs = Annotated[float, Field(ge=0, le=MAX_LATENCY_MS, allow_inf_nan=False)]
RetryAfterSeconds = Annotated[float, Field(ge=0, le=MAX_RETRY_AFTER_S, allow_inf_nan=False)]


def utc_now() -> datetime:
    return datetime.now(UTC)
