"""With no broker reachable, selection answers from the base assignment's fallback model within
its deadline (default 250 ms) and logs a warning, as the guide says. Two ways a broker is
missing: nothing listens (connection refused at once), and something listens but never
answers (every Kafka request would wait for its 40 s timeout).

No Kafka is needed here, so these tests are not marked `kafka`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from modelrouter.agents import (
    AgentTask,
    AgentType,
    APIModelError,
    CostTracker,
    EnhancedModelOptimizer,
    FailoverManager,
    HealthChecker,
    ModelOptimizer,
    ModelOptimizerIntegration,
    ModelRegistry,
    ModelSelector,
    PerformanceMonitor,
    RateLimiter,
)
from modelrouter.schemas import BrokerUnavailableError, Settings

pytestmark = pytest.mark.timeout(60)

CONFIG = Path(__file__).resolve().parents[2] / "config"
DEADLINE_S = 0.25  # Settings.selection_deadline_ms's default


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    """A TCP port that accepts connections and never says a word."""
    held: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


def integration_for(settings: Settings) -> ModelOptimizerIntegration:
    """The guide's components, built as its _initialize_api_integration builds them."""
    registry = ModelRegistry(config_path=CONFIG / "model_registry.json", settings=settings)
    health_checker = HealthChecker(registry=registry)
    rate_limiter = RateLimiter(registry=registry)
    performance_monitor = PerformanceMonitor(settings=settings)
    cost_tracker = CostTracker(settings=settings)
    model_selector = ModelSelector(
        registry=registry,
        health_checker=health_checker,
        rate_limiter=rate_limiter,
        performance_monitor=performance_monitor,
    )
    failover_manager = FailoverManager(model_selector=model_selector, max_retries=3)
    return ModelOptimizerIntegration(
        model_selector=model_selector,
        failover_manager=failover_manager,
        performance_monitor=performance_monitor,
        cost_tracker=cost_tracker,
    )


async def timed_selection(
    integration: ModelOptimizerIntegration, optimizer: ModelOptimizer, agent_type: AgentType, task_id: str
) -> tuple[float, str, str, bool, str]:
    task = AgentTask(id=task_id)
    base_assignment = optimizer.select_model_for_agent(agent_type=agent_type, task=task)
    started = time.perf_counter()
    api_assignment = await integration.select_model_for_agent(
        agent_type=agent_type, task=task, base_assignment=base_assignment
    )
    elapsed = time.perf_counter() - started
    return (
        elapsed,
        api_assignment.selected_model_id,
        base_assignment[1].fallback_model,
        api_assignment.model_selection.fallback_used,
        api_assignment.model_selection.reasoning,
    )


async def test_nothing_listening_falls_back_at_once_with_a_warning(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings.model_copy(update={"bootstrap_servers": "127.0.0.1:1"})
    integration = integration_for(settings)
    optimizer = ModelOptimizer(CONFIG / "optimizer.json")
    try:
        with caplog.at_level(logging.WARNING, logger="modelrouter"):
            for i, agent_type in enumerate((AgentType.SA, AgentType.PM, AgentType.BA, AgentType.SA)):
                elapsed, selected, fallback, fallback_used, reasoning = await timed_selection(
                    integration, optimizer, agent_type, f"down-{i}"
                )
                assert elapsed < DEADLINE_S, f"call {i} took {elapsed * 1000:.0f} ms"
                assert selected == fallback and fallback_used
                assert reasoning.startswith(
                    "broker unreachable: cannot reach Kafka at 127.0.0.1:1 (KafkaConnectionError: "
                )
                assert reasoning.endswith(f"using the base assignment's fallback model {fallback}")
        warnings = [
            r for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("modelrouter")
        ]
        assert sum("fell back to" in r.getMessage() for r in warnings) == 4
        assert {"SA", "PM", "BA"} == {
            r.getMessage().split()[3].rstrip(",") for r in warnings if "fell back to" in r.getMessage()
        }
        cached = integration.get_cached_assignment(AgentType.PM, "down-1")
        assert cached is not None and cached.selected_model_id == "gpt-4-turbo"
        assert cached.api_provider == "openai"  # the fallback's provider, from the registry

        # Summaries have no fallback: they say what is wrong.
        with pytest.raises(APIModelError, match=r"unreachable"):
            await integration.get_performance_summary(agent_type=AgentType.SA, window_hours=24)
    finally:
        await integration.close()


async def test_a_silent_broker_does_not_hold_up_the_deadline(
    settings: Settings, silent_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings.model_copy(update={"bootstrap_servers": silent_server})
    integration = integration_for(settings)
    optimizer = ModelOptimizer(CONFIG / "optimizer.json")
    try:
        with caplog.at_level(logging.WARNING, logger="modelrouter"):
            started = time.perf_counter()
            # The guide's "Async Operations" pattern, while the client is still trying to connect.
            results = await asyncio.gather(
                timed_selection(integration, optimizer, AgentType.SA, "s1"),
                timed_selection(integration, optimizer, AgentType.PM, "s2"),
                timed_selection(integration, optimizer, AgentType.BA, "s3"),
            )
            total = time.perf_counter() - started
        assert total < DEADLINE_S + 0.2, f"took {total * 1000:.0f} ms"
        for elapsed, selected, fallback, fallback_used, reasoning in results:
            assert DEADLINE_S - 0.01 <= elapsed < DEADLINE_S + 0.2
            assert selected == fallback and fallback_used
            assert reasoning == (
                f"no selection reply within 250 ms (deadline): still connecting to Kafka at {silent_server}; "
                f"using the base assignment's fallback model {fallback}"
            )
        assert [r.getMessage() for r in caplog.records].count(
            "selection for agent SA, task s1 fell back to gpt-4-turbo: no selection reply within 250 ms "
            f"(deadline): still connecting to Kafka at {silent_server}"
        ) == 1
    finally:
        started = time.perf_counter()
        await integration.close()
        assert time.perf_counter() - started < 5.0  # closing gives up on the connection attempt


async def test_the_shipped_enhanced_optimizer_falls_back_too(settings: Settings) -> None:
    settings = settings.model_copy(update={"bootstrap_servers": "127.0.0.1:1"})
    optimizer = EnhancedModelOptimizer(CONFIG / "optimizer.json", settings=settings)
    try:
        task = AgentTask(id="enh")
        _, assignment = optimizer.select_model_for_agent(agent_type=AgentType.IMPLEMENTATION, task=task)
        started = time.perf_counter()
        model_id, api_assignment = await optimizer.select_model_for_agent_enhanced(
            agent_type=AgentType.IMPLEMENTATION, task=task
        )
        assert time.perf_counter() - started < DEADLINE_S
        assert model_id == assignment.fallback_model == "claude-3-haiku"
        assert api_assignment.role_type == "developer" and api_assignment.fallback_used
    finally:
        await optimizer.close()


async def test_reporting_to_a_silent_broker_raises_naming_the_broker(
    settings: Settings, silent_server: str
) -> None:
    # A report's publisher starts lazily; a broker that never answers is named, not a bare timeout.
    monitor = PerformanceMonitor(settings.model_copy(update={"bootstrap_servers": silent_server}))
    monitor._publisher._start_timeout_s = 0.5  # the default 10 s, shortened for the test
    data = {"success": True, "latency_ms": 10.0, "cost": 0.01, "input_tokens": 1, "output_tokens": 1}
    try:
        with pytest.raises(
            BrokerUnavailableError, match=rf"broker at {silent_server} did not answer within 0.5 s"
        ):
            await monitor.record(AgentType.SA, "t1", "gpt-4o", data)
    finally:
        await monitor.close()
