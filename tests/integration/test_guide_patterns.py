"""Every usage pattern of seed/model-optimizer-integration-guide.md, as written, against the real
broker and a running worker with the shipped registry published.

Each test first sets up the names a snippet uses (model_selector, task, execute_task, ...),
then runs the snippet's code unchanged — apart from the changes docs/seed-api.md lists
("Where running the guide differs"): constructor arguments that named SQLite paths take Kafka
settings instead — and then checks that the snippet does what the guide says it does, against
the registry, the topics and the worker's answers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pytest

from modelrouter.agents import (
    AgentTask,
    AgentType,
    APIModelAssignment,
    APIModelError,
    CostTracker,
    EventPublisher,
    FailoverManager,
    FailoverReason,
    HealthChecker,
    ModelOptimizer,
    ModelOptimizerIntegration,
    ModelRegistry,
    ModelSelector,
    PerformanceMonitor,
    RateLimiter,
    ResourceConstraint,
    SelectionConstraints,
)
from modelrouter.agents import EnhancedModelOptimizer as ShippedEnhancedModelOptimizer
from modelrouter.cli.worker_process import WorkerProcess, wait_until_answering
from modelrouter.schemas import Failover, ModelSpec, Settings, TaskCompleted, decode_event, dumps, loads

from kafka_helpers import eventually, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(90)]

ROOT = Path(__file__).resolve().parents[2]
REGISTRY_FILE = ROOT / "config" / "model_registry.json"

logger = logging.getLogger("tests.guide")


class RateLimitError(Exception):
    """What a provider SDK raises on HTTP 429 (the guide's Pattern 4 catches it by this name)."""

    status_code = 429

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class TaskResult:
    """What the guide's `execute_task` returns (the fields Pattern 3 reads)."""

    model_id: str
    success: bool
    execution_time: float
    quality_score: float
    cost: float
    input_tokens: int
    output_tokens: int


class FakeProviders:
    """Stands in for the LLM APIs: a call costs list price for 800 in / 400 out tokens;
    models in `rate_limited` raise RateLimitError instead."""

    def __init__(self, registry: dict[str, ModelSpec]) -> None:
        self.registry = registry
        self.rate_limited: set[str] = set()
        self.calls: list[str] = []

    async def execute_task(self, task: AgentTask, model_id: str) -> TaskResult:
        self.calls.append(model_id)
        if model_id in self.rate_limited:
            raise RateLimitError(f"Rate limit reached for {model_id} on requests per min", retry_after=30)
        await asyncio.sleep(0.01)
        return TaskResult(
            model_id=model_id,
            success=True,
            execution_time=850.0,
            quality_score=0.88,
            cost=self.registry[model_id].expected_cost(800, 400),
            input_tokens=800,
            output_tokens=400,
        )


@dataclass
class Guide:
    settings: Settings
    registry: ModelRegistry
    model_selector: ModelSelector
    failover_manager: FailoverManager
    performance_monitor: PerformanceMonitor
    cost_tracker: CostTracker
    model_optimizer: ModelOptimizer
    integration: ModelOptimizerIntegration
    providers: FakeProviders
    worker: Any


def guide_settings(kafka_settings: Settings) -> Settings:
    # 5 s buckets and 1 s grace: per-agent summaries (final bucket rows) appear within seconds.
    # A 5 s selection deadline: these tests check what the patterns do, on a shared and busy
    # test machine; the 250 ms default and its fallback have tests of their own (test_broker_down,
    # tests/unit/test_selection_client.py), and selection latency its own issue and benchmark.
    return kafka_settings.model_copy(
        update={"bucket_seconds": 5, "grace_seconds": 1, "selection_deadline_ms": 5000}
    )


async def until_answering(
    model_selector: ModelSelector, worker: WorkerProcess, timeout_s: float = 45.0
) -> None:
    """Wait until the worker answers selections (not the client's deadline fallback), three in a row."""
    await wait_until_answering(model_selector.client, worker, timeout_s, in_a_row=3)


@pytest.fixture
async def guide(
    kafka_settings: Settings, worker_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Guide]:
    settings = guide_settings(kafka_settings)
    # The guide builds some objects without arguments: they read MODELROUTER_* (this test's
    # broker and topic prefix) and config/ relative to the repository.
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(ROOT)

    registry = ModelRegistry(config_path=REGISTRY_FILE, settings=settings)
    update = await registry.publish()
    assert len(update.published) == len(registry) >= 20
    worker = worker_factory(settings)
    worker.start()

    # "Initialize components", as _initialize_api_integration in the guide does it.
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
    integration = ModelOptimizerIntegration(
        model_selector=model_selector,
        failover_manager=failover_manager,
        performance_monitor=performance_monitor,
        cost_tracker=cost_tracker,
    )
    try:
        await integration.start()
        await until_answering(model_selector, worker)
        yield Guide(
            settings=settings,
            registry=registry,
            model_selector=model_selector,
            failover_manager=failover_manager,
            performance_monitor=performance_monitor,
            cost_tracker=cost_tracker,
            model_optimizer=ModelOptimizer(),
            integration=integration,
            providers=FakeProviders(dict(registry.models)),
            worker=worker,
        )
    finally:
        await integration.close()


def check_live_selection(api_assignment: APIModelAssignment, registry: ModelRegistry) -> ModelSpec:
    """A real answer of the worker: an enabled registry model with the role's capabilities."""
    assert isinstance(api_assignment, APIModelAssignment)
    assert api_assignment.model_selection.fallback_used is False, api_assignment.model_selection.reasoning
    spec = registry.get(api_assignment.selected_model_id)
    assert spec is not None and spec.enabled
    assert set(api_assignment.base_assignment.required_capabilities) <= set(spec.capabilities)
    assert api_assignment.api_provider == spec.provider
    assert api_assignment.api_endpoint == spec.endpoint
    assert api_assignment.model_selection.reasoning
    return spec


async def task_completed_events(settings: Settings) -> list[TaskCompleted]:
    out = []
    for _, value in await read_topic(settings, settings.topic("task-completed")):
        event = decode_event(value) if value is not None else None
        if isinstance(event, TaskCompleted):
            out.append(event)
    return out


# --- Pattern 1: Basic Integration ---------------------------------------------------------


async def test_pattern_1_basic_integration(guide: Guide) -> None:
    model_selector, failover_manager = guide.model_selector, guide.failover_manager
    performance_monitor, cost_tracker = guide.performance_monitor, guide.cost_tracker
    model_optimizer = guide.model_optimizer
    task = AgentTask(id="p1-task", type="design", estimated_input_tokens=3000, estimated_output_tokens=1500)

    # Initialize components
    integration = ModelOptimizerIntegration(
        model_selector=model_selector,
        failover_manager=failover_manager,
        performance_monitor=performance_monitor,
        cost_tracker=cost_tracker,
    )

    # Get base assignment from ModelOptimizer
    base_assignment = model_optimizer.select_model_for_agent(agent_type=AgentType.SA, task=task)

    # Enhance with API selection
    api_assignment = await integration.select_model_for_agent(
        agent_type=AgentType.SA, task=task, base_assignment=base_assignment
    )

    # Use the selected model
    model_id = api_assignment.selected_model_id

    assert base_assignment[1].role_type == "architect"  # the hierarchy's (model_name, assignment)
    assert api_assignment.base_assignment is base_assignment[1]
    spec = check_live_selection(api_assignment, guide.registry)
    assert model_id == spec.model_id
    assert spec.context_window >= 4500
    # "while respecting ModelOptimizer's base assignment": no data yet, and a premium-tier role
    # gets a premium-tier model (the primary or a peer), not the cheapest one in the registry.
    assert api_assignment.model_tier == "premium"
    assert spec.tier == "premium", api_assignment.model_selection.reasoning
    assert "no data yet" in api_assignment.model_selection.reasoning


# --- Pattern 2: With Constraints ---------------------------------------------------------------


async def test_pattern_2_with_constraints(guide: Guide) -> None:
    integration, task = (
        guide.integration,
        AgentTask(id="p2-task", estimated_input_tokens=4000, estimated_output_tokens=2000),
    )
    base_assignment = guide.model_optimizer.select_model_for_agent(agent_type=AgentType.SA, task=task)

    # Define selection constraints
    constraints = SelectionConstraints(
        required_capabilities=["analysis", "code-generation"],
        max_cost_per_request=1.0,
        excluded_providers=["ollama"],
        max_latency_ms=3000.0,
    )

    # Select with constraints
    api_assignment = await integration.select_model_for_agent(
        agent_type=AgentType.SA, task=task, base_assignment=base_assignment, constraints=constraints
    )

    spec = check_live_selection(api_assignment, guide.registry)
    assert {"analysis", "code-generation"} <= set(spec.capabilities)
    assert spec.provider != "ollama"
    assert spec.expected_cost(4000, 2000) <= 1.0
    # every model the worker turned down is named with its reason
    rejected = {r.model_id: r.reason for r in api_assignment.model_selection.rejected}
    for m in guide.registry.models.values():
        if m.provider == "ollama":
            assert m.model_id in rejected, rejected

    # A constraint nothing meets: the answer is the base assignment's fallback, saying why.
    impossible = SelectionConstraints(required_capabilities=["teleportation"])
    api_assignment = await integration.select_model_for_agent(
        agent_type=AgentType.SA, task=task, base_assignment=base_assignment, constraints=impossible
    )
    assert api_assignment.model_selection.fallback_used is True
    assert api_assignment.selected_model_id == base_assignment[1].fallback_model


# --- Pattern 3: Performance Feedback Loop ---------------------------------------------------------


async def test_pattern_3_performance_feedback_loop(guide: Guide) -> None:
    integration, execute_task = guide.integration, guide.providers.execute_task
    task = AgentTask(id="p3-task")
    api_assignment = await integration.select_model_for_agent(
        AgentType.SA, task, guide.model_optimizer.select_model_for_agent(AgentType.SA, task)
    )

    # Execute task
    result = await execute_task(task, api_assignment.selected_model_id)

    # Report performance
    performance_data = {
        "success": result.success,
        "latency_ms": result.execution_time,
        "quality_score": result.quality_score,
        "cost": result.cost,
        "input_tokens": result.input_tokens,
        "output_tokens": result.output_tokens,
    }

    await integration.report_performance_to_optimizer(
        agent_type=AgentType.SA,
        task_id=task.id,
        model_id=api_assignment.selected_model_id,
        performance_data=performance_data,
    )

    (event,) = [e for e in await task_completed_events(guide.settings) if e.task_id == "p3-task"]
    spec = guide.registry.get(api_assignment.selected_model_id)
    assert spec is not None
    assert (event.agent_type, event.model_id, event.provider) == ("SA", spec.model_id, spec.provider)
    assert (event.success, event.latency_ms, event.quality_score) == (True, 850.0, 0.88)
    assert event.cost == pytest.approx(spec.expected_cost(800, 400))
    assert (event.input_tokens, event.output_tokens) == (800, 400)


# --- Pattern 4: Failover Handling -----------------------------------------------------------------


async def test_pattern_4_failover_handling(guide: Guide) -> None:
    integration, execute_task = guide.integration, guide.providers.execute_task
    task = AgentTask(id="p4-task")
    api_assignment = await integration.select_model_for_agent(
        AgentType.SA, task, guide.model_optimizer.select_model_for_agent(AgentType.SA, task)
    )
    primary_model = api_assignment.selected_model_id
    alternative_model = api_assignment.model_selection.alternatives[0].model_id
    guide.providers.rate_limited.add(primary_model)

    try:
        # Attempt with primary model
        result = await execute_task(task, primary_model)
    except RateLimitError:
        # Report failover
        await integration.report_failover_event(
            agent_type=AgentType.SA,
            task_id=task.id,
            original_model=primary_model,
            alternative_model=alternative_model,
            reason=FailoverReason.RATE_LIMITED,
        )

        # Retry with alternative
        result = await execute_task(task, alternative_model)

    assert guide.providers.calls == [primary_model, alternative_model]
    assert result.model_id == alternative_model and result.success
    failovers = [
        (key, decode_event(value))
        for key, value in await read_topic(guide.settings, guide.settings.topic("failover"))
        if value is not None
    ]
    assert len(failovers) == 1
    key, event = failovers[0]
    assert isinstance(event, Failover)
    assert key == primary_model.encode()
    assert (event.agent_type, event.task_id, event.original_model, event.alternative_model, event.reason) == (
        "SA",
        "p4-task",
        primary_model,
        alternative_model,
        FailoverReason.RATE_LIMITED,
    )
    assert event.retry_after_s is None  # the guide passes none: the default cooldown applies

    # "Report failover events to improve future selections": the report alone cools the
    # original model down (default_cooldown_s), so the rate limiter says so and the next
    # selection avoids it.
    rate_limiter = integration.model_selector.rate_limiter
    limited_now = await eventually(
        lambda: asyncio.sleep(0, result=rate_limiter.is_rate_limited(primary_model)), bool, timeout_s=20
    )
    assert limited_now, f"{primary_model} never showed as rate limited after the failover report"
    remaining = rate_limiter.retry_after_s(primary_model)
    assert remaining is not None and 0 < remaining <= guide.settings.default_cooldown_s

    next_task = AgentTask(id="p4-next")
    again = await integration.select_model_for_agent(
        AgentType.SA, next_task, guide.model_optimizer.select_model_for_agent(AgentType.SA, next_task)
    )
    assert again.selected_model_id != primary_model
    assert guide.registry.get(again.selected_model_id).tier == "premium"  # type: ignore[union-attr]
    rejected = {r.model_id: r.reason for r in again.model_selection.rejected}
    assert rejected[primary_model].startswith("rate-limited until ")


async def test_pattern_4_failover_reports_by_reason(guide: Guide) -> None:
    """What each reason of a report does to the original model: a timeout counts for its
    circuit, a quality report lowers its standing for that agent type only."""
    integration = guide.integration
    rate_limiter = integration.model_selector.rate_limiter
    health_checker = integration.model_selector.health_checker

    # Five timeouts reported for one model, no TaskCompleted: its circuit opens.
    for i in range(5):
        await integration.report_failover_event(
            agent_type=AgentType.SA,
            task_id=f"p4-timeout-{i}",
            original_model="gpt-4",
            alternative_model="o1",
            reason=FailoverReason.TIMEOUT,
        )
    tripped = await eventually(
        lambda: asyncio.sleep(0, result=health_checker.is_model_available("gpt-4")),
        lambda available: not available,
        timeout_s=20,
    )
    assert tripped is False
    assert "after 5 consecutive failures" in health_checker.health("gpt-4").why
    assert rate_limiter.is_rate_limited("gpt-4") is False

    # A quality report on SA's pick: SA's next pick is another model; PM's is not lowered.
    task = AgentTask(id="p4-quality")
    first = await integration.select_model_for_agent(
        AgentType.SA, task, guide.model_optimizer.select_model_for_agent(AgentType.SA, task)
    )
    demoted = first.selected_model_id
    await integration.report_failover_event(
        agent_type=AgentType.SA,
        task_id=task.id,
        original_model=demoted,
        alternative_model=first.model_selection.alternatives[0].model_id,
        reason=FailoverReason.QUALITY,
    )

    async def sa_choice() -> APIModelAssignment:
        t = AgentTask(id="p4-quality-next")
        return await integration.select_model_for_agent(
            AgentType.SA, t, guide.model_optimizer.select_model_for_agent(AgentType.SA, t)
        )

    moved = await eventually(sa_choice, lambda a: a.selected_model_id != demoted, timeout_s=20)
    assert moved.selected_model_id != demoted
    alternative = {a.model_id: a.score for a in moved.model_selection.alternatives}
    assert demoted in alternative  # lowered, not rejected
    card = health_checker.scorecards.get(demoted)
    assert card is not None and set(card.demoted_until) == {"SA"}


async def test_pattern_4_with_the_failover_manager(guide: Guide) -> None:
    """The same story, run by FailoverManager: it classifies the 429, publishes the rate limit,
    the failover and both outcomes, and the next selection no longer offers the limited model."""
    integration, providers = guide.integration, guide.providers
    task = AgentTask(id="p4b-task")
    api_assignment = await integration.select_model_for_agent(
        AgentType.SA, task, guide.model_optimizer.select_model_for_agent(AgentType.SA, task)
    )
    primary_model = api_assignment.selected_model_id
    providers.rate_limited.add(primary_model)

    outcome = await integration.failover_manager.execute_with_failover(
        lambda model_id: providers.execute_task(task, model_id),
        agent_type=AgentType.SA,
        task=task,
        selection=api_assignment,
    )
    assert outcome.failed_attempts[0].model_id == primary_model
    assert outcome.failed_attempts[0].reason is FailoverReason.RATE_LIMITED
    assert outcome.failed_attempts[0].retry_after_s == 30.0
    assert outcome.model_id != primary_model and outcome.value.success

    limited = [
        decode_event(v)
        for _, v in await read_topic(guide.settings, guide.settings.topic("rate-limited"))
        if v
    ]
    assert [(e.model_id, e.retry_after_s) for e in limited] == [(primary_model, 30.0)]  # type: ignore[union-attr]
    # (one model's events share a partition, not two models': order them by time)
    completed = [e for e in await task_completed_events(guide.settings) if e.task_id == "p4b-task"]
    outcomes = [(e.model_id, e.success) for e in sorted(completed, key=lambda e: e.occurred_at)]
    assert outcomes == [(primary_model, False), (outcome.model_id, True)]

    # The worker folds the rate limit into the model's cooldown: selections stop offering it.
    rate_limiter = integration.model_selector.rate_limiter
    limited_now = await eventually(
        lambda: asyncio.sleep(0, result=rate_limiter.is_rate_limited(primary_model)), bool, timeout_s=20
    )
    assert limited_now, f"{primary_model} never showed as rate limited"

    async def chosen() -> str:
        t = AgentTask(id="p4b-next")
        again = await integration.select_model_for_agent(
            AgentType.SA, t, guide.model_optimizer.select_model_for_agent(AgentType.SA, t)
        )
        return again.selected_model_id

    assert await eventually(chosen, lambda m: m != primary_model, timeout_s=20) != primary_model


# --- Pattern 5: Performance Monitoring ---------------------------------------------------------------


async def report_sample(guide: Guide) -> dict[str, tuple[int, float]]:
    """Three SA tasks on two models (one failed); returns model -> (requests, cost)."""
    integration = guide.integration
    samples = [("gpt-4o", True, 0.25), ("gpt-4o", True, 0.5), ("claude-3.5-sonnet", False, 0.125)]
    for i, (model_id, success, cost) in enumerate(samples):
        await integration.report_performance_to_optimizer(
            agent_type=AgentType.SA,
            task_id=f"p5-{i}",
            model_id=model_id,
            performance_data={
                "success": success,
                "latency_ms": 1000.0 + i,
                "quality_score": 0.8,
                "cost": cost,
                "input_tokens": 100,
                "output_tokens": 50,
            },
        )
    return {"gpt-4o": (2, 0.75), "claude-3.5-sonnet": (1, 0.125)}


async def test_pattern_5_performance_monitoring(guide: Guide, capsys: pytest.CaptureFixture[str]) -> None:
    integration = guide.integration
    await report_sample(guide)

    async def current() -> dict[str, Any]:
        return await integration.get_performance_summary(agent_type=AgentType.SA, window_hours=24)

    seen = await eventually(current, lambda s: s["total_requests"] == 3, timeout_s=45, every_s=1.0)
    assert seen["total_requests"] == 3, seen
    capsys.readouterr()

    # Get performance summary
    summary = await integration.get_performance_summary(agent_type=AgentType.SA, window_hours=24)

    print(f"Total requests: {summary['total_requests']}")
    print(f"Total cost: ${summary['total_cost']:.2f}")
    print(f"Average success rate: {summary['average_success_rate']:.2%}")

    assert capsys.readouterr().out == "Total requests: 3\nTotal cost: $0.88\nAverage success rate: 66.67%\n"
    assert summary["requests_by_model"] == {"gpt-4o": 2, "claude-3.5-sonnet": 1}


# --- Metrics (Monitoring and Observability) and Logging --------------------------------------------------


async def test_metrics_and_logging(guide: Guide, capsys: pytest.CaptureFixture[str]) -> None:
    integration = guide.integration
    expected = await report_sample(guide)

    # Enable debug logging
    logging.getLogger("agentic_sdlc.orchestration.api_model_management").setLevel(logging.DEBUG)

    async def current() -> dict[str, Any]:
        return await integration.get_performance_summary(agent_type=AgentType.SA, window_hours=24)

    await eventually(current, lambda s: s["total_requests"] == 3, timeout_s=45, every_s=1.0)
    capsys.readouterr()

    # Get detailed performance summary
    summary = await integration.get_performance_summary(agent_type=AgentType.SA, window_hours=24)

    # Access specific metrics
    for model_id, cost in summary["cost_by_model"].items():
        print(f"{model_id}: ${cost:.2f}")

    lines = sorted(capsys.readouterr().out.splitlines())
    assert lines == sorted(f"{m}: ${cost:.2f}" for m, (_, cost) in expected.items())

    # A model named only in a failover (no request of its own) is not listed at $0.00.
    await integration.report_failover_event(AgentType.SA, "p5-0", "gpt-4o", "o1", FailoverReason.QUALITY)

    async def with_failover() -> dict[str, Any]:
        return await integration.get_performance_summary(agent_type=AgentType.SA, window_hours=24)

    after = await eventually(
        with_failover, lambda s: any(m["failovers_in"] for m in s["models"]), timeout_s=45, every_s=1.0
    )
    assert [m["model_id"] for m in after["models"] if m["failovers_in"]] == ["o1"], after
    assert sorted(after["cost_by_model"]) == sorted(expected)
    assert after["requests_by_model"] == {m: n for m, (n, _) in expected.items()}
    # another agent type's summary does not include SA's tasks
    other = await integration.get_performance_summary(agent_type=AgentType.PM, window_hours=24)
    assert other["total_requests"] == 0


# --- Extending ModelOptimizer, and Backward Compatibility ---------------------------------------------


class EnhancedModelOptimizer(ModelOptimizer):
    """ModelOptimizer with API Model Management integration."""

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)

        # Initialize API components
        self.api_integration = self._initialize_api_integration()

    def _initialize_api_integration(self) -> ModelOptimizerIntegration:
        """Initialize API Model Management integration."""
        # Initialize registry, health checker, etc.
        registry = ModelRegistry(config_path=Path("config/model_registry.json"))
        health_checker = HealthChecker(registry=registry)
        rate_limiter = RateLimiter(registry=registry)
        performance_monitor = PerformanceMonitor(
            settings=Settings()
        )  # was db_path=Path("data/performance.db")
        cost_tracker = CostTracker(settings=Settings())  # was db_path=Path("data/costs.db")

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

    async def select_model_for_agent_enhanced(
        self,
        agent_type: AgentType,
        task: AgentTask,
        constraints: Optional[list[ResourceConstraint]] = None,  # noqa: UP045 - as the guide writes it
    ) -> tuple[str, APIModelAssignment]:
        """Enhanced model selection with API integration."""

        # Get base assignment from parent
        model_name, base_assignment = self.select_model_for_agent(  # noqa: RUF059 - as written
            agent_type=agent_type, task=task, constraints=constraints
        )

        # Enhance with API selection
        api_assignment = await self.api_integration.select_model_for_agent(
            agent_type=agent_type, task=task, base_assignment=base_assignment
        )

        return api_assignment.selected_model_id, api_assignment


@pytest.mark.parametrize("optimizer_class", [EnhancedModelOptimizer, ShippedEnhancedModelOptimizer])
async def test_extending_model_optimizer_and_backward_compatibility(
    guide: Guide, optimizer_class: type
) -> None:
    optimizer = optimizer_class()
    try:
        assert optimizer.api_integration.model_selector.settings.topic_prefix == guide.settings.topic_prefix
        await until_answering(optimizer.api_integration.model_selector, guide.worker)
        task = AgentTask(id="bc-task")

        # Old code still works
        model_name, assignment = optimizer.select_model_for_agent(agent_type=AgentType.SA, task=task)

        # New code uses enhanced version
        model_id, api_assignment = await optimizer.select_model_for_agent_enhanced(
            agent_type=AgentType.SA, task=task
        )

        # APIModelAssignment is compatible with ModelAssignment
        assert api_assignment.role_type == assignment.role_type
        assert api_assignment.model_tier == assignment.model_tier

        assert model_name == assignment.primary_model == "claude-3-opus"
        assert model_id == api_assignment.selected_model_id
        check_live_selection(api_assignment, guide.registry)
        # ResourceConstraint still steers the base assignment: BUDGET picks the cheaper of the two
        cheap_name, _ = optimizer.select_model_for_agent(
            agent_type=AgentType.SA, task=task, constraints=[ResourceConstraint.BUDGET]
        )
        assert cheap_name == "gpt-4-turbo"
        model_id, api_assignment = await optimizer.select_model_for_agent_enhanced(
            agent_type=AgentType.SA, task=task, constraints=[ResourceConstraint.BUDGET]
        )
        check_live_selection(api_assignment, guide.registry)
    finally:
        await optimizer.api_integration.close()


# --- Caching --------------------------------------------------------------------------------------


async def test_caching(guide: Guide) -> None:
    integration = guide.integration
    agent_type, task_id = AgentType.SA, "cache-task"
    task = AgentTask(id=task_id)
    base_assignment = guide.model_optimizer.select_model_for_agent(agent_type, task)

    # First call - performs full selection
    api_assignment = await integration.select_model_for_agent(agent_type, task, base_assignment)

    # Subsequent calls - uses cache
    cached = integration.get_cached_assignment(agent_type, task_id)

    assert cached is api_assignment
    check_live_selection(cached, guide.registry)
    pm_task = AgentTask(id="cache-pm")
    pm = await integration.select_model_for_agent(
        AgentType.PM, pm_task, guide.model_optimizer.select_model_for_agent(AgentType.PM, pm_task)
    )

    # Clear for specific agent type
    integration.clear_assignment_cache(agent_type=AgentType.SA)

    assert integration.get_cached_assignment(agent_type, task_id) is None
    assert integration.get_cached_assignment(AgentType.PM, "cache-pm") is pm

    # Clear all
    integration.clear_assignment_cache()

    assert integration.get_cached_assignment(AgentType.PM, "cache-pm") is None


# --- Async Operations -----------------------------------------------------------------------------


async def test_async_gather(guide: Guide) -> None:
    integration, optimizer = guide.integration, guide.model_optimizer
    task1, task2, task3 = AgentTask(id="g1"), AgentTask(id="g2"), AgentTask(id="g3")
    _, base1 = optimizer.select_model_for_agent(AgentType.SA, task1)
    _, base2 = optimizer.select_model_for_agent(AgentType.PM, task2)
    _, base3 = optimizer.select_model_for_agent(AgentType.BA, task3)

    # Run multiple selections concurrently
    assignments = await asyncio.gather(
        integration.select_model_for_agent(AgentType.SA, task1, base1),
        integration.select_model_for_agent(AgentType.PM, task2, base2),
        integration.select_model_for_agent(AgentType.BA, task3, base3),
    )

    assert [a.role_type for a in assignments] == ["architect", "strategist", "analyst"]
    assert [a.base_assignment for a in assignments] == [base1, base2, base3]
    for a in assignments:
        check_live_selection(a, guide.registry)
    ids = {a.model_selection.request_id for a in assignments}
    assert len(ids) == 3  # three requests, each answered with its own reply

    # many more in flight at once on the one reply topic, all answered
    tasks = [AgentTask(id=f"many-{i}") for i in range(100)]
    many = await asyncio.gather(
        *(integration.select_model_for_agent(AgentType.BA, t, base3, deadline_ms=5000) for t in tasks)
    )
    assert sum(a.fallback_used for a in many) == 0
    assert {
        integration.get_cached_assignment(AgentType.BA, t.id) is a for t, a in zip(tasks, many, strict=True)
    } == {True}


# --- Error Handling -------------------------------------------------------------------------------


async def test_error_handling(guide: Guide, caplog: pytest.LogCaptureFixture) -> None:
    agent_type, task = AgentType.PM, AgentTask(id="err-task")
    base_assignment = guide.model_optimizer.select_model_for_agent(agent_type, task)[1]

    for integration, expect_error in (
        (guide.integration, False),  # falls back by itself, so the except branch is not needed
        (
            # A caller that wants the error: no fallback, a deadline nothing can meet.
            ModelOptimizerIntegration(
                ModelSelector(
                    guide.registry,
                    guide.model_selector.health_checker,
                    guide.model_selector.rate_limiter,
                    guide.performance_monitor,
                    deadline_ms=1,
                ),
                guide.failover_manager,
                guide.performance_monitor,
                guide.cost_tracker,
                fallback_on_error=False,
            ),
            True,
        ),
    ):
        api_assignment = None
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="tests.guide"):
            try:
                api_assignment = await integration.select_model_for_agent(
                    agent_type=agent_type, task=task, base_assignment=base_assignment
                )
            except APIModelError as e:
                # Falls back to base assignment automatically
                logger.warning(f"API selection failed, using fallback: {e}")
                # api_assignment will use base_assignment.fallback_model

        if expect_error:
            assert api_assignment is None
            assert "API selection failed, using fallback: no selection reply within 1 ms" in caplog.text
            await integration.model_selector.client.close()
        else:
            assert api_assignment is not None
            check_live_selection(api_assignment, guide.registry)
            assert "API selection failed" not in caplog.text


# --- Troubleshooting ------------------------------------------------------------------------------


async def test_troubleshooting_model_selection_fails(
    guide: Guide, capsys: pytest.CaptureFixture[str]
) -> None:
    integration = guide.integration

    # Verify registry
    models = list(integration.model_selector.registry._models.values())
    enabled = [m for m in models if m.enabled]
    print(f"Enabled models: {len(enabled)}")

    in_file = list(ModelRegistry(config_path=REGISTRY_FILE, settings=guide.settings)._models.values())
    assert capsys.readouterr().out == f"Enabled models: {sum(m.enabled for m in in_file)}\n"
    # what workers select from is the same registry, read back from the compacted topic
    reader = ModelRegistry(settings=guide.settings, models={})
    assert await reader.load_from_topic() == {m.model_id: m for m in in_file}


async def test_troubleshooting_performance_not_tracked(guide: Guide) -> None:
    integration = guide.integration

    # Verify performance data structure
    performance_data = {
        "success": True,  # Required
        "latency_ms": 1500.0,  # Required
        "quality_score": 0.9,  # Required
        "cost": 0.15,  # Required for cost tracking
        "input_tokens": 500,  # Required for cost tracking
        "output_tokens": 1000,  # Required for cost tracking
    }

    await integration.report_performance_to_optimizer(AgentType.SA, "ts-task", "gpt-4o", performance_data)
    (event,) = [e for e in await task_completed_events(guide.settings) if e.task_id == "ts-task"]
    assert (event.success, event.latency_ms, event.quality_score, event.cost) == (True, 1500.0, 0.9, 0.15)
    assert (event.input_tokens, event.output_tokens, event.provider) == (500, 1000, "openai")


async def test_troubleshooting_failover_not_working(guide: Guide, capsys: pytest.CaptureFixture[str]) -> None:
    integration = guide.integration
    model_id = "gpt-4o"

    # Check model availability
    is_available = integration.model_selector.health_checker.is_model_available(model_id)
    is_rate_limited = integration.model_selector.rate_limiter.is_rate_limited(model_id)

    print(f"Available: {is_available}, Rate Limited: {is_rate_limited}")

    assert capsys.readouterr().out == "Available: True, Rate Limited: False\n"

    # After a rate limit (retry-after 120 s) and five failures reach the worker, both answers change.
    async with EventPublisher(guide.settings) as publisher:
        await publisher.rate_limited(agent_type="SA", model_id=model_id, provider="openai", retry_after_s=120)
        for i in range(5):
            await publisher.task_completed(
                agent_type="SA",
                task_id=f"fail-{i}",
                model_id=model_id,
                provider="openai",
                success=False,
                latency_ms=30_000.0,
                cost=0.0,
                input_tokens=0,
                output_tokens=0,
                error_type="error",
            )

    async def check() -> tuple[bool, bool]:
        return (
            integration.model_selector.health_checker.is_model_available(model_id),
            integration.model_selector.rate_limiter.is_rate_limited(model_id),
        )

    assert await eventually(check, lambda r: r == (False, True), timeout_s=20) == (False, True)
    remaining = integration.model_selector.rate_limiter.retry_after_s(model_id)
    assert remaining is not None and 60 < remaining <= 120
    assert "consecutive failures" in integration.model_selector.health_checker.health(model_id).why


async def test_troubleshooting_is_right_from_the_first_call_in_a_fresh_process(
    guide: Guide, capsys: pytest.CaptureFixture[str]
) -> None:
    """The snippet run on its own, before anything started: the first check reads the
    scorecards (blocking, up to first_read_timeout_s), so it sees a cooldown that is there."""
    model_id = "gpt-4o"
    async with EventPublisher(guide.settings) as publisher:
        await publisher.rate_limited(agent_type="SA", model_id=model_id, provider="openai", retry_after_s=120)
    started_limiter = guide.model_selector.rate_limiter
    assert await eventually(
        lambda: asyncio.sleep(0, result=started_limiter.is_rate_limited(model_id)), bool, timeout_s=20
    )

    integration = fresh_integration()
    try:
        assert not integration.model_selector.rate_limiter.scorecards.started

        # Check model availability
        is_available = integration.model_selector.health_checker.is_model_available(model_id)
        is_rate_limited = integration.model_selector.rate_limiter.is_rate_limited(model_id)

        print(f"Available: {is_available}, Rate Limited: {is_rate_limited}")

        assert capsys.readouterr().out == "Available: True, Rate Limited: True\n"
    finally:
        await integration.close()

    # The same from plain synchronous code (no event loop in the thread).
    integration = fresh_integration()
    try:
        limiter = integration.model_selector.rate_limiter
        assert await asyncio.to_thread(limiter.is_rate_limited, model_id) is True
    finally:
        await integration.close()


def fresh_integration() -> ModelOptimizerIntegration:
    """The guide's components as _initialize_api_integration builds them (MODELROUTER_* set by
    the fixture), none started."""
    registry = ModelRegistry(config_path=Path("config/model_registry.json"))
    health_checker = HealthChecker(registry=registry)
    rate_limiter = RateLimiter(registry=registry)
    performance_monitor = PerformanceMonitor(settings=Settings())
    cost_tracker = CostTracker(settings=Settings())
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


# --- The registry command ---------------------------------------------------------------------------


async def test_registry_command_publishes_and_tombstones_dropped_models(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    """`modelrouter registry load|show`: the topic ends up holding exactly the file."""
    env = {**os.environ, **kafka_settings.to_env()}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "modelrouter.cli", "registry", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    shipped = ModelRegistry(config_path=REGISTRY_FILE, settings=kafka_settings)
    topic = shipped.topic
    done = run("load", "--file", str(REGISTRY_FILE))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == (
        f"{topic}: {len(shipped)} published, 0 unchanged, 0 removed (from {REGISTRY_FILE})"
    )

    # A smaller file: two models dropped, one changed.
    data = loads(REGISTRY_FILE.read_bytes())
    kept = [m for m in data["models"] if m["model_id"] not in ("gpt-4", "o1")]
    kept[0] = {**kept[0], "enabled": False}
    smaller = tmp_path / "model_registry.json"
    smaller.write_bytes(dumps({"models": kept}))
    done = run("load", "--file", str(smaller))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"{topic}: 1 published, {len(kept) - 1} unchanged, 2 removed (from {smaller})",
        f"  published {kept[0]['model_id']}",
        "  removed   gpt-4",
        "  removed   o1",
    ]
    records = await read_topic(kafka_settings, topic)
    assert [(k, v) for k, v in records if v is None] == [(b"gpt-4", None), (b"o1", None)]
    reader = ModelRegistry(settings=kafka_settings, models={})
    now_in_topic = await reader.load_from_topic()
    assert sorted(now_in_topic) == sorted(m["model_id"] for m in kept)
    assert now_in_topic[kept[0]["model_id"]].enabled is False

    shown = run("show", "--json")
    assert shown.returncode == 0, shown.stderr
    listed = loads(shown.stdout)
    assert [m["model_id"] for m in listed] == sorted(m["model_id"] for m in kept)
    assert sum(m["enabled"] for m in listed) == sum(m.get("enabled", True) for m in kept)

    # A registry that follows the topic sees a later change without being asked.
    await reader.follow()
    try:
        again = run("load", "--file", str(REGISTRY_FILE))
        assert again.returncode == 0, again.stderr

        async def count() -> int:
            return len(reader._models)

        assert await eventually(count, lambda n: n == len(shipped), timeout_s=10) == len(shipped)
    finally:
        await reader.close()
