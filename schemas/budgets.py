"""Spend budgets per agent type: Budget on the compacted `budgets` topic (key agent_type; a
tombstone, or a Budget with no limit, clears it), and BudgetReservation on `budget-reservations`
(key agent_type): the expected cost of a selection answered for a budgeted agent type, held by
every worker until that task's cost is in the tables (docs/operations.md, Budgets).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import CostUsd, Id, Name, Record, Timestamp

__all__ = ["BUDGET_WINDOWS", "Budget", "BudgetReservation", "BudgetWindow"]

# The windows a budget limits, as the command line and the reasons name them, and their hours.
BudgetWindow = Literal["per-hour", "per-day"]
BUDGET_WINDOWS: dict[BudgetWindow, float] = {"per-hour": 1.0, "per-day": 24.0}

Limit = Annotated[float, Field(gt=0, le=1e9, allow_inf_nan=False)]


class Budget(Record):
    """The spend limits (USD) of one agent type over the trailing hour and day; None: no limit."""

    agent_type: Name
    per_hour: Limit | None = None
    per_day: Limit | None = None
    updated_at: Timestamp

    def limits(self) -> dict[BudgetWindow, float]:
        """The windows this budget limits, and their limits."""
        out: dict[BudgetWindow, float] = {}
        if self.per_hour is not None:
            out["per-hour"] = self.per_hour
        if self.per_day is not None:
            out["per-day"] = self.per_day
        return out


class BudgetReservation(Record):
    """A selection answered for a budgeted agent type: its chosen model's expected cost, held
    until the task's TaskCompleted (same task_id) is in the cost tables or `expires_at` passes."""

    agent_type: Name
    task_id: Id
    request_id: Id
    model_id: Id
    expected_cost: CostUsd
    reserved_at: Timestamp
    expires_at: Timestamp
