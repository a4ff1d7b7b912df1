"""Budgets, pure: an agent type's spend against its limits (from the cost tables' bucket rows,
plus the reservations of selections whose cost is not in them yet), and what selection may
still spend (BudgetCheck, applied by streams/scoring.py). No I/O.

A reservation is the expected cost of a selection answered for a budgeted agent type. It is
held until the task's TaskCompleted (same task_id) has been seen *and* the bucket row of that
task's (model, agent type, bucket) has been published at a stream time at or past the event's
time (so the fold has counted it), or until it expires. A task completed on another model than
reserved is counted on its own model's row: the reservation waits for that one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from modelrouter.schemas import BUDGET_WINDOWS, Budget, BudgetReservation, BudgetWindow, loads

__all__ = [
    "BudgetCheck",
    "BudgetStanding",
    "Completion",
    "Reservations",
    "active_budgets",
    "budget_standing",
    "completion_of",
    "tightest",
    "usd",
    "withdrawal",
]


def usd(x: float) -> str:
    """Dollars as a budget's reason writes them: $5.00, $0.012, $0.00042."""
    if x >= 1 or x < 5e-7:
        return f"${x:,.2f}"
    return f"${x:.2g}" if x < 0.001 else f"${x:.3g}"


@dataclass(frozen=True, slots=True)
class Completion:
    """What a budget needs of a TaskCompleted event: whose task, which row it folds into."""

    task_id: str
    agent_type: str
    model_id: str
    occurred_at: datetime
    cost: float


def completion_of(raw: bytes) -> Completion | None:
    """The Completion of a raw `task-completed` record, or None for anything else (a quality
    report, an invalid record: the fold dead-letters those). Read without validating the whole
    event: every worker reads the topic for its budgets, and only a few fields matter."""
    try:
        data = loads(raw)
        if not isinstance(data, dict) or data.get("type") != "task_completed":
            return None
        task_id, agent, model = data["task_id"], data["agent_type"], data["model_id"]
        occurred = datetime.fromisoformat(data["occurred_at"]).astimezone(UTC)
        cost = float(data.get("cost", 0.0))
    except (KeyError, TypeError, ValueError):
        return None
    if not (isinstance(task_id, str) and isinstance(agent, str) and isinstance(model, str)):
        return None
    return Completion(task_id, agent, model, occurred, cost)


_EARLY_MAX = 100_000  # unmatched completions kept (tasks selected by no budgeted selection)


@dataclass(slots=True)
class _Held:
    reservation: BudgetReservation
    completion: Completion | None = None


class Reservations:
    """Every worker's reservations as this worker has read them, by agent type and task id; a
    task selected again (a retry) holds its latest selection only."""

    def __init__(self) -> None:
        self._held: dict[str, dict[str, _Held]] = {}  # agent type -> task id -> reservation
        # Completions seen before their reservation (another worker's, still on its way).
        self._early: dict[tuple[str, str], Completion] = {}

    def __len__(self) -> int:
        return sum(len(tasks) for tasks in self._held.values())

    def reserve(self, r: BudgetReservation) -> None:
        tasks = self._held.setdefault(r.agent_type, {})
        held = tasks.get(r.task_id)
        if held is not None and (
            held.reservation.request_id == r.request_id or held.reservation.reserved_at > r.reserved_at
        ):
            return  # this worker's own, read back; or an older selection of the task, read late
        tasks[r.task_id] = _Held(r, self._early.pop((r.agent_type, r.task_id), None))

    def complete(self, c: Completion) -> None:
        held = self._held.get(c.agent_type, {}).get(c.task_id)
        if held is not None:
            held.completion = c
        elif len(self._early) < _EARLY_MAX:
            self._early[(c.agent_type, c.task_id)] = c

    def held(
        self, agent_type: str, now: datetime, counted: Callable[[Completion], bool]
    ) -> tuple[float, int]:
        """The reserved cost of `agent_type` and how many selections hold it. Drops what expired
        or what `counted` says the tables now hold."""
        tasks = self._held.get(agent_type)
        if not tasks:
            return 0.0, 0
        total, gone = 0.0, []
        for task_id, h in tasks.items():
            if h.reservation.expires_at <= now or (h.completion is not None and counted(h.completion)):
                gone.append(task_id)
            else:
                total += h.reservation.expected_cost
        for task_id in gone:
            del tasks[task_id]
        return total, len(tasks)

    def expire(self, now: datetime, early_for: timedelta) -> None:
        """Forget expired reservations of every agent type, and unmatched completions older than
        `early_for` (the reservation timeout)."""
        for tasks in self._held.values():
            for task_id in [t for t, h in tasks.items() if h.reservation.expires_at <= now]:
                del tasks[task_id]
        cutoff = now - early_for
        for key in [k for k, c in self._early.items() if c.occurred_at < cutoff]:
            del self._early[key]


@dataclass(frozen=True, slots=True)
class BudgetStanding:
    """One window of one agent type's budget: its limit, what the tables hold, what is reserved."""

    agent_type: str
    window: BudgetWindow
    limit: float
    spent: float
    reserved: float
    reservations: int

    @property
    def remaining(self) -> float:
        left = self.limit - self.spent - self.reserved
        return left if left > 1e-9 else 0.0  # not the float residue of the sums

    @property
    def overdrawn(self) -> bool:
        """Spent and reserved past the limit (more than the float residue of the sums)."""
        return self.spent + self.reserved > self.limit + 1e-9


@dataclass(frozen=True, slots=True)
class BudgetCheck:
    """What selection may still spend for a request's agent type: the tightest window's."""

    standing: BudgetStanding
    near_fraction: float

    @property
    def remaining(self) -> float:
        return self.standing.remaining

    def fits(self, expected_cost: float) -> bool:
        return expected_cost <= self.remaining

    def spent_out(self) -> BudgetCheck:
        """The same window with nothing left: what is not spent counted as reserved."""
        s = self.standing
        return BudgetCheck(replace(s, reserved=max(s.reserved, s.limit - s.spent)), self.near_fraction)

    def rejection(self, expected_cost: float) -> str:
        s = self.standing
        return (
            f"budget: expected {usd(expected_cost)} exceeds remaining {usd(s.remaining)} of "
            f"{s.agent_type}'s {s.window} {usd(s.limit)}"
        )

    @property
    def cost_pull(self) -> float:
        """0 with more than `near_fraction` of the limit left, rising to 1 with nothing left:
        how far selection moves its weights toward the `cost` strategy's."""
        if self.near_fraction <= 0:
            return 0.0
        left = self.remaining / self.standing.limit
        return min(1.0, max(0.0, 1.0 - left / self.near_fraction))

    def note(self) -> str:
        s = self.standing
        text = f"budget: {usd(s.remaining)} of {s.agent_type}'s {s.window} {usd(s.limit)} left"
        if self.cost_pull > 0:
            text += f", cost weighted up ({self.cost_pull:.2f} toward the cost strategy)"
        return text


def budget_standing(
    budget: Budget,
    spend: Callable[[str, datetime], float],
    reserved: tuple[float, int],
    now: datetime,
) -> list[BudgetStanding]:
    """Each window `budget` limits: `spend(agent_type, since)` from the tables, plus `reserved`."""
    out = []
    for window, limit in budget.limits().items():
        since = now - timedelta(hours=BUDGET_WINDOWS[window])
        out.append(
            BudgetStanding(
                budget.agent_type, window, limit, spend(budget.agent_type, since), reserved[0], reserved[1]
            )
        )
    return out


def withdrawal(reservation: BudgetReservation, request_id: str) -> BudgetReservation:
    """A later selection of `reservation`'s task (as `request_id`) reserving nothing: it replaces
    `reservation` wherever it is read after it (Reservations keeps a task's latest selection)."""
    return reservation.model_copy(
        update={
            "request_id": request_id,
            "expected_cost": 0.0,
            "reserved_at": reservation.reserved_at + timedelta(microseconds=1),
        }
    )


def tightest(standings: Iterable[BudgetStanding], near_fraction: float) -> BudgetCheck | None:
    """The window with the least left (ties: the shorter window), or None without limits."""
    best = min(standings, key=lambda s: (s.remaining, BUDGET_WINDOWS[s.window]), default=None)
    return None if best is None else BudgetCheck(best, near_fraction)


def active_budgets(budgets: Mapping[str, Budget]) -> dict[str, Budget]:
    """The budgets with a limit, by agent type (a record without limits clears its agent type)."""
    return {b.agent_type: b for b in budgets.values() if b.limits()}
