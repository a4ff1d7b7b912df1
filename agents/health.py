"""HealthChecker and RateLimiter: is a model healthy, is it rate limited, answered from the
per-model Scorecards the streams publish to the compacted `scorecards` topic.

The judgement is small and pure (`circuit_state`, `cooldown_remaining_s`): the circuit rule
is schemas/health.py's, the one the selection service applies too, with the thresholds from
Settings (circuit_*).

A check never answers before it knows. Before `start()` has read the topic, the first check
reads it there and then: it blocks the caller for up to `first_read_timeout_s` (default
10 s), then answers from what it read (and, inside an event loop, starts following the topic
in the background), or raises StateNotLoaded saying why the topic could not be read. Until
the board follows the topic, a check reads it again when its copy is over a second old.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from modelrouter.schemas import (
    InvalidEventError,
    Scorecard,
    Settings,
    StateNotLoaded,
    TopicName,
    decoder,
    topic_specs,
    utc_now,
)
from modelrouter.schemas.health import HealthParams, circuit

from .kafka.admin import ensure_topics
from .kafka.topic_reader import read_to_end
from .kafka.topic_view import TopicView
from .registry import ModelRegistry

__all__ = [
    "FIRST_READ_TIMEOUT_S",
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

# How long a check made before start() may block while it reads the scorecards topic.
FIRST_READ_TIMEOUT_S = 10.0
# Before the board follows the topic, a copy read by a check serves the next checks this long.
_COPY_MAX_AGE_S = 1.0


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

    HealthChecker and RateLimiter share one when given the same board. `get` and `snapshot`
    before `start()` read the topic first (see the module docstring), or raise StateNotLoaded.
    """

    def __init__(self, settings: Settings, *, first_read_timeout_s: float = FIRST_READ_TIMEOUT_S) -> None:
        self.settings = settings
        self.first_read_timeout_s = first_read_timeout_s
        self._view: TopicView[Scorecard] = TopicView(
            settings, settings.topic(TopicName.SCORECARDS), decoder(Scorecard)
        )
        self._started = False
        self._copy: dict[str, Scorecard] | None = None  # read by a check before start()
        self._copy_read_at = 0.0
        self._following: asyncio.Task[None] | None = None
        self._starting = asyncio.Lock()

    @property
    def started(self) -> bool:
        return self._started

    def get(self, model_id: str) -> Scorecard | None:
        if self._started:
            return self._view.get(model_id)
        return self._read_now().get(model_id)

    def snapshot(self) -> dict[str, Scorecard]:
        if self._started:
            return self._view.snapshot()
        return dict(self._read_now())

    def _read_now(self) -> dict[str, Scorecard]:
        """The topic's scorecards, read now (blocking, bounded) unless a fresh copy is at hand."""
        if self._copy is not None and time.monotonic() - self._copy_read_at < _COPY_MAX_AGE_S:
            return self._copy
        topic = self._view.topic
        timeout_s = self.first_read_timeout_s
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        # Its own thread and event loop: a check is synchronous, and may be called from a
        # coroutine whose loop it cannot wait on.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="scorecards-read") as pool:
            future = pool.submit(asyncio.run, _read_cards(self.settings, topic, timeout_s))
            try:
                cards = future.result()
            except Exception as exc:
                raise StateNotLoaded(
                    f"model health is not loaded yet: reading topic {topic} failed within {timeout_s:g} s "
                    f"({str(exc) or type(exc).__name__}); check MODELROUTER_BOOTSTRAP_SERVERS, or await "
                    "start() on the health checker (or the integration) and handle its error"
                ) from exc
        self._copy, self._copy_read_at = cards, time.monotonic()
        if loop is not None and self._following is None:
            self._following = loop.create_task(self._follow(), name="scorecards-follow")
        return cards

    async def _follow(self) -> None:
        try:
            await self.start()
        except Exception as exc:  # the checks keep reading the topic themselves meanwhile
            log.warning("cannot follow the scorecards topic yet: %s", exc)
        finally:
            self._following = None

    async def start(self, *, timeout_s: float = 30.0) -> None:
        """Read the topic to its end, then follow it. Concurrent calls (HealthChecker and
        RateLimiter sharing this board) wait for the one read: the second must not mark the
        board started while the first is still catching up."""
        async with self._starting:
            if self._started:
                return
            await ensure_topics(self.settings, [topic_specs(self.settings)[TopicName.SCORECARDS]])
            await self._view.start(timeout_s=timeout_s)
            self._started = True

    async def close(self) -> None:
        following, self._following = self._following, None
        if following is not None and not following.done():
            following.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await following
        self._started = False
        self._copy = None
        await self._view.stop()


async def _read_cards(settings: Settings, topic: str, timeout_s: float) -> dict[str, Scorecard]:
    """Every model's latest scorecard in `topic` (a missing topic reads as none)."""
    records = await asyncio.wait_for(read_to_end(settings, topic, timeout_s=timeout_s), timeout_s)
    decode_card = decoder(Scorecard)
    cards: dict[str, Scorecard] = {}
    for key, value in records:
        if key is None:
            continue
        model_id = key.decode("utf-8", errors="replace")
        if value is None:
            cards.pop(model_id, None)
            continue
        try:
            cards[model_id] = decode_card(value)
        except (InvalidEventError, ValueError) as exc:
            log.warning("skipping a bad record in %s (key %s): %s", topic, model_id, exc)
    return cards


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
        first_read_timeout_s: float = FIRST_READ_TIMEOUT_S,
    ) -> None:
        if settings is None:
            settings = registry.settings if registry is not None else Settings()
        self.registry = registry
        self.settings = settings
        self._owns_board = scorecards is None
        self.scorecards = (
            scorecards
            if scorecards is not None
            else ScorecardBoard(settings, first_read_timeout_s=first_read_timeout_s)
        )
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
    """`is_model_available(model_id)`: in the registry, enabled, and its circuit not open.

    Before `start()`, the first check reads the scorecards (blocking up to
    `first_read_timeout_s`) or raises StateNotLoaded: it never guesses."""

    def is_model_available(self, model_id: str) -> bool:
        return self.health(model_id).available


class RateLimiter(_ScorecardReader):
    """`is_rate_limited(model_id)`: a rate-limited event put the model in a cooldown that has
    not ended (the provider's retry-after, else `default_cooldown_s`; the streams keep it).
    A Failover with reason rate_limited starts one too. Before `start()`, as HealthChecker."""

    def is_rate_limited(self, model_id: str) -> bool:
        return self.retry_after_s(model_id) is not None

    def retry_after_s(self, model_id: str) -> float | None:
        """Seconds left in the model's cooldown, or None."""
        return cooldown_remaining_s(self.scorecards.get(model_id), self._clock())
