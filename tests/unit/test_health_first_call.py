"""HealthChecker and RateLimiter before start(): the first check reads the scorecards or raises
StateNotLoaded; it never answers "available, not rate limited" from nothing."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from modelrouter.agents import HealthChecker, ModelRegistry, RateLimiter, StateNotLoaded
from modelrouter.agents.health import FIRST_READ_TIMEOUT_S, ScorecardBoard
from modelrouter.schemas import Settings

CONFIG = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture
def unreachable() -> Settings:
    return Settings(bootstrap_servers="127.0.0.1:1", topic_prefix="first-call.")


def test_the_documented_bound_is_ten_seconds() -> None:
    assert FIRST_READ_TIMEOUT_S == 10.0
    assert ScorecardBoard(Settings()).first_read_timeout_s == 10.0


def test_a_check_that_cannot_read_the_scorecards_raises_state_not_loaded(unreachable: Settings) -> None:
    registry = ModelRegistry(CONFIG / "model_registry.json", unreachable)
    checker = HealthChecker(registry=registry, first_read_timeout_s=2.0)
    limiter = RateLimiter(registry=registry, first_read_timeout_s=2.0)
    started = time.monotonic()
    with pytest.raises(
        StateNotLoaded, match=r"model health is not loaded yet: reading topic first-call\.scorecards"
    ):
        checker.is_model_available("gpt-4o")
    with pytest.raises(StateNotLoaded, match="MODELROUTER_BOOTSTRAP_SERVERS"):
        limiter.is_rate_limited("gpt-4o")
    with pytest.raises(StateNotLoaded):
        limiter.retry_after_s("gpt-4o")
    assert time.monotonic() - started < 3 * 2.0 + 5.0  # bounded (generously: a shared machine)


async def test_inside_an_event_loop_it_raises_too(unreachable: Settings) -> None:
    checker = HealthChecker(settings=unreachable, first_read_timeout_s=2.0)
    try:
        with pytest.raises(StateNotLoaded):
            checker.is_model_available("gpt-4o")
        await asyncio.sleep(0)
    finally:
        await checker.close()
