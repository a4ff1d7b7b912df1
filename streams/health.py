"""Model health as selection sees it: rate-limit cooldowns and the circuit breaker, judged from a Scorecard.

Pure functions of (scorecard, now, params); the stream folds keep the counters, this module reads them.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from modelrouter.schemas import ConfigurationError, Scorecard

__all__ = [
    "CLOSED",
    "Circuit",
    "CircuitState",
    "HealthParams",
    "circuit",
    "cooldown_end",
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
    """When a model is too sick to be offered, and for how long."""

    # Open after this many consecutive failures (Scorecard.failure_streak).
    open_after_streak: int = 5
    # ... or when the failure rate reaches this, once there are enough calls to believe it.
    open_at_failure_rate: float = 0.5
    failure_rate_min_requests: int = 20
    # How long the circuit stays open after the last failure before probes are allowed.
    open_for_s: float = 60.0
    # Share of requests on which a half-open model is the probe (see is_probe).
    probe_share: float = 0.05
    # Cooldown after a rate-limited event that carried no retry_after (used by the fold, see cooldown_end).
    default_cooldown_s: float = 60.0

    def __post_init__(self) -> None:
        if self.open_after_streak < 1 or self.failure_rate_min_requests < 1:
            raise ConfigurationError("open_after_streak and failure_rate_min_requests must be >= 1")
        if not 0.0 < self.open_at_failure_rate <= 1.0:
            raise ConfigurationError(
                f"open_at_failure_rate must be in (0, 1], got {self.open_at_failure_rate}"
            )
        if not 0.0 <= self.probe_share <= 1.0:
            raise ConfigurationError(f"probe_share must be in [0, 1], got {self.probe_share}")
        if self.open_for_s < 0 or self.default_cooldown_s < 0:
            raise ConfigurationError("open_for_s and default_cooldown_s must be >= 0")


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
    if card.failure_streak >= params.open_after_streak:
        return f"after {card.failure_streak} consecutive failures"
    if card.requests >= params.failure_rate_min_requests:
        rate = observed_success_rate(card)
        if rate is not None and 1.0 - rate >= params.open_at_failure_rate:
            return f"with failure rate {1.0 - rate:.2f} over {card.requests} calls"
    return None


def circuit(card: Scorecard | None, now: datetime, params: HealthParams) -> Circuit:
    """Closed, open (too recent a failure) or half-open (tripped, but cooled off: may be probed).

    There is no stored breaker state: "tripped" is read off the counters every time. A successful
    probe resets failure_streak in the scorecard, which closes the circuit; a failed one moves
    last_failure_at, which opens it again for open_for_s. A circuit tripped by its failure rate stays
    half-open until the window's rate recovers.
    """
    if card is None:
        return CLOSED
    why = _trip_reason(card, params)
    if why is None:
        return CLOSED
    # Without a failure time, the scorecard's own time is the latest moment the failure can have had.
    since = card.last_failure_at if card.last_failure_at is not None else card.updated_at
    until = since + timedelta(seconds=params.open_for_s)
    return Circuit(CircuitState.OPEN if now < until else CircuitState.HALF_OPEN, why, until)


def in_cooldown(card: Scorecard | None, now: datetime) -> bool:
    return card is not None and card.cooldown_until is not None and card.cooldown_until > now


def cooldown_end(limited_at: datetime, retry_after_s: float | None, params: HealthParams) -> datetime:
    """When a rate-limited model may be offered again: the provider's retry_after, else the default."""
    wait = params.default_cooldown_s if retry_after_s is None else retry_after_s
    return limited_at + timedelta(seconds=wait)


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
