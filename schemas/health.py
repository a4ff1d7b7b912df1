"""Model health as selection sees it: rate-limit cooldowns and the circuit breaker, judged from a Scorecard.

Pure functions of (scorecard, now, params), shared by the selection responder (streams/scoring.py)
and the client side (agents/health.py), so both judge a model the same way. The folds
(streams/model_health.py) keep the counters and the cooldown end; this module only reads them.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from .errors import ConfigurationError
from .settings import Settings
from .summaries import Scorecard

__all__ = [
    "CLOSED",
    "Circuit",
    "CircuitState",
    "HealthParams",
    "circuit",
    "in_cooldown",
    "is_probe",
    "observed_success_rate",
]


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class HealthParams:
    """When a model is too sick to be offered, and for how long (the circuit_* names of Settings)."""

    # Open after this many consecutive failures (Scorecard.failure_streak) ...
    circuit_failure_streak: int = 5
    # ... or at this failure rate, once there are enough calls to believe it.
    circuit_failure_rate: float = 0.5
    circuit_min_requests: int = 20
    # How long the circuit stays open after the last failure; then it is half-open.
    circuit_open_s: float = 30.0
    # Share of requests on which a half-open model is the probe (see is_probe).
    probe_share: float = 0.05

    def __post_init__(self) -> None:
        if self.circuit_failure_streak < 1 or self.circuit_min_requests < 1:
            raise ConfigurationError("circuit_failure_streak and circuit_min_requests must be >= 1")
        if not 0.0 < self.circuit_failure_rate <= 1.0:
            raise ConfigurationError(
                f"circuit_failure_rate must be in (0, 1], got {self.circuit_failure_rate}"
            )
        if not 0.0 <= self.probe_share <= 1.0:
            raise ConfigurationError(f"probe_share must be in [0, 1], got {self.probe_share}")
        if self.circuit_open_s < 0:
            raise ConfigurationError(f"circuit_open_s must be >= 0, got {self.circuit_open_s}")

    @classmethod
    def from_settings(cls, settings: Settings, probe_share: float = 0.05) -> HealthParams:
        return cls(
            circuit_failure_streak=settings.circuit_failure_streak,
            circuit_failure_rate=settings.circuit_failure_rate,
            circuit_min_requests=settings.circuit_min_requests,
            circuit_open_s=settings.circuit_open_s,
            probe_share=probe_share,
        )


@dataclass(frozen=True, slots=True)
class Circuit:
    state: CircuitState
    # Why it tripped, as a phrase that follows "circuit open": "after 5 consecutive failures".
    why: str = ""
    open_until: datetime | None = None


CLOSED = Circuit(CircuitState.CLOSED)


def observed_success_rate(card: Scorecard) -> float | None:
    """The streams' own success rate when they sent one, else successes/requests; None without calls."""
    if card.requests == 0:
        return None
    if card.success_rate is not None:
        return card.success_rate
    return min(card.successes, card.requests) / card.requests


def _trip_reason(card: Scorecard, params: HealthParams) -> str | None:
    if card.failure_streak >= params.circuit_failure_streak:
        return f"after {card.failure_streak} consecutive failures"
    if card.requests >= params.circuit_min_requests:
        rate = observed_success_rate(card)
        if rate is not None and 1.0 - rate >= params.circuit_failure_rate:
            return f"with failure rate {1.0 - rate:.2f} over {card.requests} calls"
    return None


def circuit(card: Scorecard | None, now: datetime, params: HealthParams) -> Circuit:
    """Closed, open (too recent a failure) or half-open (tripped, but cooled off: may be probed).

    There is no stored breaker state: "tripped" is read off the counters every time. A successful
    probe resets failure_streak in the scorecard, which closes the circuit; a failed one moves
    last_failure_at, which opens it again for circuit_open_s. A circuit tripped by its failure rate stays
    half-open until the window's rate recovers.
    """
    if card is None:
        return CLOSED
    why = _trip_reason(card, params)
    if why is None:
        return CLOSED
    # Without a failure time, the scorecard's own time is the latest moment the failure can have had.
    since = card.last_failure_at if card.last_failure_at is not None else card.updated_at
    until = since + timedelta(seconds=params.circuit_open_s)
    return Circuit(CircuitState.OPEN if now < until else CircuitState.HALF_OPEN, why, until)


def in_cooldown(card: Scorecard | None, now: datetime) -> bool:
    return card is not None and card.cooldown_until is not None and card.cooldown_until > now


def is_probe(request_id: str, model_id: str, share: float) -> bool:
    """Whether this request is one on which a half-open model gets its probe.

    A pure function cannot remember that it already sent "the one probe", so it approximates it:
    a stable hash of (request_id, model_id) picks `share` of requests, independently per model.
    Until the first probe's outcome reaches the scorecard, about that share of traffic tries the
    model; the outcome then closes or re-opens the circuit. crc32, not hash(): str hashes are salted
    per process, and the same request must get the same answer on every responder and in tests.
    """
    if share <= 0.0:
        return False
    digest = zlib.crc32(f"{request_id}\x00{model_id}".encode())
    return digest < share * 4_294_967_296.0
