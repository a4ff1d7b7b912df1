"""HealthChecker and RateLimiter: is a model healthy, is it rate limited, answered from the
per-model Scorecards the streams publish to the compacted `scorecards` topic.

The judgement is small and pure (`circuit_state`, `cooldown_remaining_s`): the circuit rule
is schemas/health.py's, the one the selection service applies too, with the thresholds from
Settings (circuit_*). Until `start()` has read the topic, every model counts as healthy and not
rate limited: no evidence is not bad evidence.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from modelrouter.schemas import Scorecard, Settings, TopicName, decoder, topic_specs, utc_now
from modelrouter.schemas.health import HealthParams, circuit

from .kafka.admin import ensure_topics
from .kafka.topic_view import TopicView
from .registry import ModelRegistry

__all__ = [
    "CircuitState",
    "HealthChecker",
    "ModelHealth",
    "RateLimiter",
    "ScorecardBoard",
    "circuit_state",
    "cooldown_remaining_s",
]

log = logging.getLogger("modelrouter.agents.health")

CircuitState = Literal["closed", "open", "half_open"]
Clock = Callable[[], datetime]


def circuit_state(card: Scorecard | None, now: datetime, settings: Settings) -> tuple[CircuitState, str]:
    """The circuit of one model and why, judged as the selection service judges it
    (modelrouter.schemas.health): open after `circuit_failure_streak` consecutive failures,
    or a failure rate of `circuit_failure_rate` over at least `circuit_min_requests` calls,
    for `circuit_open_s` after the last failure; half-open (probe allowed) after that."""
    c = circuit(card, now, HealthParams.from_settings(settings))
    return c.state.value, c.why


def cooldown_remaining_s(card: Scorecard | None, now: datetime) -> float | None:
    """Seconds until a rate-limited model may be called again; None when it is not in cooldown."""
    if card is None or card.cooldown_until is None or card.cooldown_until <= now:
        return None
    return (card.cooldown_until - now).total_seconds()


class ScorecardBoard:
    """The `scorecards` topic, held in full and kept current (one consumer, no group).

    HealthChecker and RateLimiter share one when given the same board.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._view: TopicView[Scorecard] = TopicView(
            settings, settings.topic(TopicName.SCORECARDS), decoder(Scorecard)
        )
        self._started = False

    @property
    def started(self) -> bool:
        return self._started

    def get(self, model_id: str) -> Scorecard | None:
        return self._view.get(model_id)

    def snapshot(self) -> dict[str, Scorecard]:
        return self._view.snapshot()

    async def start(self, *, timeout_s: float = 30.0) -> None:
        if self._started:
            return
        await ensure_topics(self.settings, [topic_specs(self.settings)[TopicName.SCORECARDS]])
        await self._view.start(timeout_s=timeout_s)
        self._started = True

    async def close(self) -> None:
        self._started = False
        await self._view.stop()


@dataclass(frozen=True, slots=True)
class ModelHealth:
    model_id: str
    known: bool  # in the registry
    enabled: bool
    circuit: CircuitState
    why: str  # why the circuit tripped ("" when closed)
    cooldown_remaining_s: float | None

    @property
    def available(self) -> bool:
        return self.known and self.enabled and self.circuit != "open"

    @property
    def rate_limited(self) -> bool:
        return self.cooldown_remaining_s is not None


class _ScorecardReader:
    def __init__(
        self,
        registry: ModelRegistry | None = None,
        settings: Settings | None = None,
        *,
        scorecards: ScorecardBoard | None = None,
        clock: Clock = utc_now,
    ) -> None:
        if settings is None:
            settings = registry.settings if registry is not None else Settings()
        self.registry = registry
        self.settings = settings
        self._owns_board = scorecards is None
        self.scorecards = scorecards if scorecards is not None else ScorecardBoard(settings)
        self._clock = clock

    async def start(self, *, timeout_s: float = 30.0) -> None:
        """Read the scorecards topic and follow it (raises when the broker is unreachable)."""
        await self.scorecards.start(timeout_s=timeout_s)

    async def close(self) -> None:
        if self._owns_board:
            await self.scorecards.close()

    def health(self, model_id: str) -> ModelHealth:
        spec = self.registry.get(model_id) if self.registry is not None else None
        known = self.registry is None or spec is not None
        card = self.scorecards.get(model_id)
        now = self._clock()
        state, why = circuit_state(card, now, self.settings)
        return ModelHealth(
            model_id=model_id,
            known=known,
            enabled=spec.enabled if spec is not None else known,
            circuit=state,
            why=why,
            cooldown_remaining_s=cooldown_remaining_s(card, now),
        )


class HealthChecker(_ScorecardReader):
    """`is_model_available(model_id)`: in the registry, enabled, and its circuit not open."""

    def is_model_available(self, model_id: str) -> bool:
        return self.health(model_id).available


class RateLimiter(_ScorecardReader):
    """`is_rate_limited(model_id)`: a rate-limited event put the model in a cooldown that has
    not ended (the provider's retry-after, else `default_cooldown_s`; the streams keep it)."""

    def is_rate_limited(self, model_id: str) -> bool:
        return self.retry_after_s(model_id) is not None

    def retry_after_s(self, model_id: str) -> float | None:
        """Seconds left in the model's cooldown, or None."""
        return cooldown_remaining_s(self.scorecards.get(model_id), self._clock())
