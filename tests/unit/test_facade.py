"""The guide's facade without a broker: constraints mapping, assignments, the cache, fallbacks,
performance reporting, summaries, health and rate limits from scorecards.

The selection service is replaced by a canned SelectionClient, the scorecards topic by a
static board and Kafka publishing by a list of events.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from modelrouter.agents import (
    AgentTask,
    AgentType,
    APIModelAssignment,
    CostTracker,
    EnhancedModelOptimizer,
    FailoverManager,
    FailoverReason,
    HealthChecker,
    ModelAssignment,
    ModelOptimizer,
    ModelOptimizerIntegration,
    ModelRegistry,
    ModelSelector,
    PerformanceMonitor,
    RateLimiter,
    ScorecardBoard,
    SelectionClient,
    SelectionConstraints,
)
from modelrouter.agents.health import circuit_state, cooldown_remaining_s
from modelrouter.schemas import (
    APIModelError,
    Constraints,
    Event,
    InvalidEventError,
    Scorecard,
    SelectionReply,
    SelectionRequest,
    SelectionTimeout,
    Settings,
    SummaryReply,
    SummaryRow,
    TaskCompleted,
    utc_now,
)

CONFIG = Path(__file__).resolve().parents[2] / "config"
NOW = datetime.fromisoformat("2026-03-01T12:00:00+00:00")

Answer = Callable[[SelectionRequest], SelectionReply | Exception]


def pick(model: str, provider: str = "anthropic") -> Answer:
    def answer(request: SelectionRequest) -> SelectionReply:
        return SelectionReply(
            request_id=request.request_id,
            selected_model_id=model,
            provider=provider,
            endpoint=f"https://{provider}.example/v1",
            score=0.75,
            reasoning=f"{model} scored best",
            factors={"success": 0.9},
            alternatives=({"model_id": "gpt-4o", "score": 0.7},),  # type: ignore[arg-type]
        )

    return answer


class CannedClient(SelectionClient):
    """Answers select() from a function and summary() from a fixed reply; records what was asked."""

    def __init__(self, settings: Settings, answer: Answer) -> None:
        super().__init__(settings)
        self.answer = answer
        self.asked: list[tuple[SelectionRequest, int | None, bool]] = []
        self.summaries: list[tuple[str | None, float]] = []

    async def start(self, *, timeout_s: float | None = None) -> None:
        pass

    async def select(
        self, request: SelectionRequest, *, deadline_ms: int | None = None, raise_on_timeout: bool = False
    ) -> SelectionReply:
        self.asked.append((request, deadline_ms, raise_on_timeout))
        reply = self.answer(request)
        if isinstance(reply, Exception):
            raise reply
        return reply

    async def summary(
        self, agent_type: str | None, window_hours: float = 24.0, *, deadline_ms: int | None = None
    ) -> SummaryReply:
        self.summaries.append((agent_type, window_hours))
        return SummaryReply(
            request_id="r",
            total_requests=10,
            total_cost=1.25,
            average_success_rate=0.9,
            cost_by_model={"gpt-4o": 1.0, "claude-3.5-sonnet": 0.25},
            requests_by_model={"gpt-4o": 6, "claude-3.5-sonnet": 4},
            models=(
                SummaryRow(model_id="gpt-4o", requests=6, successes=5, success_rate=5 / 6, cost_total=1.0),
            ),
        )


class StaticBoard(ScorecardBoard):
    def __init__(self, settings: Settings, cards: dict[str, Scorecard] | None = None) -> None:
        super().__init__(settings)
        self.cards = cards or {}

    def get(self, model_id: str) -> Scorecard | None:
        return self.cards.get(model_id)

    async def start(self, *, timeout_s: float = 30.0) -> None:
        pass

    async def close(self) -> None:
        pass


class ListPublisher:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def publish(self, event: Event) -> None:
        self.events.append(event)


@pytest.fixture
def unit_settings(settings: Settings) -> Settings:
    # Nothing here may reach a broker: a closed port makes any slip fail fast.
    return settings.model_copy(update={"bootstrap_servers": "127.0.0.1:1"})


@pytest.fixture
def registry(unit_settings: Settings) -> ModelRegistry:
    return ModelRegistry(CONFIG / "model_registry.json", unit_settings)


@pytest.fixture
def optimizer() -> ModelOptimizer:
    return ModelOptimizer(CONFIG / "optimizer.json")


class Parts:
    def __init__(
        self, registry: ModelRegistry, answer: Answer, cards: dict[str, Scorecard] | None = None
    ) -> None:
        settings = registry.settings
        self.client = CannedClient(settings, answer)
        self.board = StaticBoard(settings, cards)
        self.events = ListPublisher()
        self.health = HealthChecker(registry=registry, scorecards=self.board, clock=lambda: NOW)
        self.limits = RateLimiter(registry=registry, scorecards=self.board, clock=lambda: NOW)
        self.monitor = PerformanceMonitor(settings, registry=registry, publisher=self.events)  # type: ignore[arg-type]
        self.costs = CostTracker(settings, registry=registry, publisher=self.events)  # type: ignore[arg-type]
        self.selector = ModelSelector(registry, self.health, self.limits, self.monitor, client=self.client)
        self.failover = FailoverManager(self.selector, max_retries=3, publisher=self.events)  # type: ignore[arg-type]

    def integration(self, **kwargs: Any) -> ModelOptimizerIntegration:
        return ModelOptimizerIntegration(self.selector, self.failover, self.monitor, self.costs, **kwargs)


# --- SelectionConstraints -----------------------------------------------------------


def test_selection_constraints_map_one_to_one_onto_the_wire() -> None:
    constraints = SelectionConstraints(
        required_capabilities=["analysis", "code-generation"],
        max_cost_per_request=1.0,
        excluded_providers=["ollama"],
        max_latency_ms=3000.0,
        excluded_models=["gpt-4"],
        min_success_rate=0.9,
    )
    assert constraints.to_constraints() == Constraints(
        required_capabilities=("analysis", "code-generation"),
        max_cost_per_request=1.0,
        excluded_providers=("ollama",),
        excluded_models=("gpt-4",),
        max_latency_ms=3000.0,
        min_success_rate=0.9,
    )
    assert set(Constraints.model_fields) == {
        "required_capabilities",
        "max_cost_per_request",
        "excluded_providers",
        "excluded_models",
        "max_latency_ms",
        "min_success_rate",
    }
    assert SelectionConstraints().to_constraints() == Constraints()
    # ints where floats are meant, as people write them
    assert (
        SelectionConstraints(max_cost_per_request=1, max_latency_ms=3000).to_constraints().max_latency_ms
        == 3000.0
    )


def test_selection_constraints_refuse_bad_values_naming_the_field() -> None:
    with pytest.raises(
        InvalidEventError, match=r"max_cost_per_request: Input should be greater than or equal to 0"
    ):
        SelectionConstraints(max_cost_per_request=-1.0)
    with pytest.raises(InvalidEventError, match=r"min_success_rate"):
        SelectionConstraints(min_success_rate=1.5)
    with pytest.raises(TypeError, match=r"must be a list of strings, not a string"):
        SelectionConstraints(excluded_providers="ollama")


def test_excluding_adds_models_once() -> None:
    c = SelectionConstraints(excluded_models=["a"], max_latency_ms=10).excluding("b", "a")
    assert c.excluded_models == ("a", "b") and c.max_latency_ms == 10


# --- selection through the facade ------------------------------------------------------


async def test_select_model_for_agent_accepts_patterns_tuple_and_reads_through(
    registry: ModelRegistry, optimizer: ModelOptimizer
) -> None:
    parts = Parts(registry, pick("claude-3.5-sonnet"))
    integration = parts.integration()
    task = AgentTask(id="task-1", type="design", estimated_input_tokens=2000, estimated_output_tokens=500)
    base_tuple = optimizer.select_model_for_agent(agent_type=AgentType.SA, task=task)
    _model_name, assignment = base_tuple
    constraints = SelectionConstraints(required_capabilities=["analysis"], excluded_providers=["ollama"])

    api = await integration.select_model_for_agent(
        agent_type=AgentType.SA, task=task, base_assignment=base_tuple, constraints=constraints
    )
    assert isinstance(api, APIModelAssignment)
    assert api.selected_model_id == "claude-3.5-sonnet"
    assert (api.api_provider, api.api_endpoint) == ("anthropic", "https://anthropic.example/v1")
    assert api.base_assignment is assignment
    assert api.model_selection.reasoning == "claude-3.5-sonnet scored best"
    assert api.alternatives == ("gpt-4o",) and api.fallback_used is False
    for name in (
        "role_type",
        "model_tier",
        "primary_model",
        "fallback_model",
        "required_capabilities",
        "max_tokens",
        "temperature",
        "max_concurrent_instances",
        "recommended_model",
    ):
        assert getattr(api, name) == getattr(assignment, name), name
    assert api.get_effective_model(prefer_fallback=True) == assignment.fallback_model
    assert abs((utc_now() - api.selection_timestamp).total_seconds()) < 5

    (request, deadline, raise_on_timeout), *_ = parts.client.asked
    assert request.agent_type == "SA"
    assert request.task.task_id == "task-1" and request.task.estimated_input_tokens == 2000
    assert request.base_assignment == assignment.to_base_assignment()
    # the role's required capabilities (architect: analysis, code-generation) join the caller's
    assert assignment.required_capabilities == ("analysis", "code-generation")
    assert request.constraints == Constraints(
        required_capabilities=("analysis", "code-generation"), excluded_providers=("ollama",)
    )
    assert (request.strategy, request.explore, deadline, raise_on_timeout) == ("balanced", False, None, False)

    # a plain ModelAssignment works the same; without constraints, the role's capabilities are asked
    again = await integration.select_model_for_agent(AgentType.SA, task, assignment)
    assert again.base_assignment is assignment
    assert parts.client.asked[-1][0].constraints == Constraints(
        required_capabilities=("analysis", "code-generation")
    )
    loose = ModelAssignment(
        role_type="r", model_tier="t", primary_model="gpt-4o", fallback_model="gpt-4o-mini"
    )
    await integration.select_model_for_agent(AgentType.SA, task, loose)
    assert parts.client.asked[-1][0].constraints is None
    with pytest.raises(TypeError, match=r"base_assignment must be a ModelAssignment"):
        await integration.select_model_for_agent(AgentType.SA, task, "claude-3-opus")  # type: ignore[arg-type]


async def test_an_error_from_the_service_falls_back_to_the_base_fallback_with_a_warning(
    registry: ModelRegistry, optimizer: ModelOptimizer, caplog: pytest.LogCaptureFixture
) -> None:
    parts = Parts(registry, lambda r: APIModelError("selection failed: no_registry: empty"))
    integration = parts.integration()
    task = AgentTask(id="t-err")
    base = optimizer.select_model_for_agent(AgentType.PM, task)
    with caplog.at_level(logging.WARNING, logger="modelrouter.agents.facade"):
        api = await integration.select_model_for_agent(AgentType.PM, task, base)
    assert api.selected_model_id == base[1].fallback_model == "gpt-4-turbo"
    assert api.fallback_used and api.api_provider == "openai"
    assert "selection failed (selection failed: no_registry: empty)" in api.model_selection.reasoning
    assert "fell back to gpt-4-turbo" in caplog.text

    strict = parts.integration(fallback_on_error=False)
    with pytest.raises(APIModelError, match=r"no_registry"):
        await strict.select_model_for_agent(AgentType.PM, task, base)
    parts.client.answer = lambda r: SelectionTimeout("no selection reply within 250 ms")
    with pytest.raises(SelectionTimeout):
        await strict.select_model_for_agent(AgentType.PM, task, base)
    assert parts.client.asked[-1][2] is True  # raise_on_timeout passed down


# --- cache ---------------------------------------------------------------------------


async def test_the_assignment_cache(registry: ModelRegistry, optimizer: ModelOptimizer) -> None:
    parts = Parts(registry, pick("gpt-4o", "openai"))
    integration = parts.integration(cache_size=3)
    tasks = {agent: AgentTask(id=f"task-{agent}") for agent in (AgentType.SA, AgentType.PM, AgentType.BA)}
    made = {}
    for agent, task in tasks.items():
        made[agent] = await integration.select_model_for_agent(
            agent, task, optimizer.select_model_for_agent(agent, task)
        )
    assert integration.get_cached_assignment(AgentType.SA, "task-SA") is made[AgentType.SA]
    assert integration.get_cached_assignment("SA", "task-SA") is made[AgentType.SA]  # the wire string too
    assert integration.get_cached_assignment(AgentType.SA, "task-PM") is None
    assert integration.get_cached_assignment(AgentType.RESEARCH, "task-SA") is None

    assert integration.clear_assignment_cache(agent_type=AgentType.SA) == 1
    assert integration.get_cached_assignment(AgentType.SA, "task-SA") is None
    assert integration.get_cached_assignment(AgentType.PM, "task-PM") is made[AgentType.PM]

    await integration.report_failover_event(
        AgentType.PM, "task-PM", "gpt-4o", "claude-3-opus", FailoverReason.RATE_LIMITED
    )
    assert integration.get_cached_assignment(AgentType.PM, "task-PM") is None  # it named a failed model

    for i in range(5):  # bounded: the oldest go first
        task = AgentTask(id=f"many-{i}")
        await integration.select_model_for_agent(
            AgentType.BA, task, optimizer.select_model_for_agent(AgentType.BA, task)
        )
    assert integration.get_cached_assignment(AgentType.BA, "task-BA") is None
    assert integration.get_cached_assignment(AgentType.BA, "many-4") is not None
    assert integration.clear_assignment_cache() == 3
    assert integration.get_cached_assignment(AgentType.BA, "many-4") is None


# --- reporting -----------------------------------------------------------------------


async def test_report_performance_publishes_one_task_completed(registry: ModelRegistry) -> None:
    parts = Parts(registry, pick("gpt-4o"))
    integration = parts.integration()
    performance_data = {
        "success": True,
        "latency_ms": 1500.0,
        "quality_score": 0.9,
        "cost": 0.15,
        "input_tokens": 500,
        "output_tokens": 1000,
    }
    await integration.report_performance_to_optimizer(
        AgentType.SA, "task-1", "claude-3.5-sonnet", performance_data
    )
    (event,) = parts.events.events
    assert isinstance(event, TaskCompleted)
    assert (event.agent_type, event.task_id, event.model_id, event.provider) == (
        "SA",
        "task-1",
        "claude-3.5-sonnet",
        "anthropic",
    )
    assert (event.success, event.latency_ms, event.quality_score, event.cost) == (True, 1500.0, 0.9, 0.15)
    assert (event.input_tokens, event.output_tokens) == (500, 1000)

    # quality_score may be left out; ints are fine for floats
    lean = {"success": False, "latency_ms": 20, "cost": 0, "input_tokens": 1, "output_tokens": 0}
    await integration.report_performance_to_optimizer("BA", "task-2", "gpt-4o", lean)
    assert parts.events.events[-1].quality_score is None  # type: ignore[union-attr]


async def test_report_performance_names_a_missing_or_unknown_key(registry: ModelRegistry) -> None:
    parts = Parts(registry, pick("gpt-4o"))
    integration = parts.integration()
    with pytest.raises(InvalidEventError, match=r"performance_data\.cost: required key missing"):
        await integration.report_performance_to_optimizer(
            AgentType.SA,
            "t",
            "gpt-4o",
            {"success": True, "latency_ms": 1.0, "input_tokens": 1, "output_tokens": 1},
        )
    with pytest.raises(InvalidEventError, match=r"performance_data\.qualty_score: unknown key"):
        await integration.report_performance_to_optimizer(
            AgentType.SA,
            "t",
            "gpt-4o",
            {
                "success": True,
                "latency_ms": 1.0,
                "cost": 0.0,
                "input_tokens": 1,
                "output_tokens": 1,
                "qualty_score": 1,
            },
        )
    with pytest.raises(InvalidEventError, match=r"latency_ms: Input should be greater than or equal to 0"):
        await integration.report_performance_to_optimizer(
            AgentType.SA,
            "t",
            "gpt-4o",
            {"success": True, "latency_ms": -1, "cost": 0.0, "input_tokens": 1, "output_tokens": 1},
        )
    with pytest.raises(InvalidEventError, match=r"'my-model' is not in the registry: give its provider"):
        await integration.report_performance_to_optimizer(
            AgentType.SA,
            "t",
            "my-model",
            {"success": True, "latency_ms": 1, "cost": 0.0, "input_tokens": 1, "output_tokens": 1},
        )
    assert parts.events.events == []
    await integration.report_performance_to_optimizer(
        AgentType.SA,
        "t",
        "my-model",
        {
            "success": True,
            "latency_ms": 1,
            "cost": 0.0,
            "input_tokens": 1,
            "output_tokens": 1,
            "provider": "acme",
        },
    )
    assert parts.events.events[-1].provider == "acme"  # type: ignore[union-attr]


async def test_report_failover_event_publishes_a_failover(registry: ModelRegistry) -> None:
    parts = Parts(registry, pick("gpt-4o"))
    await parts.integration().report_failover_event(
        agent_type=AgentType.SA,
        task_id="task-1",
        original_model="claude-3-opus",
        alternative_model="gpt-4-turbo",
        reason=FailoverReason.RATE_LIMITED,
    )
    (event,) = parts.events.events
    assert (event.type, event.original_model, event.alternative_model, event.reason) == (  # type: ignore[union-attr]
        "failover",
        "claude-3-opus",
        "gpt-4-turbo",
        FailoverReason.RATE_LIMITED,
    )


async def test_performance_summary_is_the_guides_dict(registry: ModelRegistry) -> None:
    parts = Parts(registry, pick("gpt-4o"))
    summary = await parts.integration().get_performance_summary(agent_type=AgentType.SA, window_hours=24)
    assert parts.client.summaries == [("SA", 24)]
    assert summary["total_requests"] == 10
    assert f"${summary['total_cost']:.2f}" == "$1.25"
    assert f"{summary['average_success_rate']:.2%}" == "90.00%"
    assert dict(summary["cost_by_model"].items()) == {"gpt-4o": 1.0, "claude-3.5-sonnet": 0.25}
    assert summary["models"][0]["model_id"] == "gpt-4o"


def test_cost_tracker_estimates_from_list_prices(registry: ModelRegistry) -> None:
    costs = CostTracker(registry=registry)
    spec = registry.get("gpt-4o")
    assert spec is not None
    assert costs.estimate_cost("gpt-4o", 1000, 1000) == pytest.approx(
        spec.input_cost_per_1k + spec.output_cost_per_1k
    )
    with pytest.raises(KeyError, match=r"not in the registry"):
        costs.estimate_cost("nope", 1, 1)


# --- health and rate limits --------------------------------------------------------------


def card(model_id: str, **fields: Any) -> Scorecard:
    return Scorecard(model_id=model_id, updated_at=NOW - timedelta(seconds=1), **fields)


def test_circuit_and_cooldown_from_scorecards(unit_settings: Settings) -> None:
    s = unit_settings
    assert circuit_state(None, NOW, s) == ("closed", "")
    streak = card("m", requests=5, successes=0, failure_streak=5, last_failure_at=NOW - timedelta(seconds=10))
    assert circuit_state(streak, NOW, s) == ("open", "after 5 consecutive failures")
    assert circuit_state(streak, NOW + timedelta(seconds=s.circuit_open_s), s)[0] == "half_open"
    assert circuit_state(card("m", failure_streak=4), NOW, s) == ("closed", "")
    rate = card("m", requests=20, successes=10, success_rate=0.5)
    assert circuit_state(rate, NOW, s) == ("open", "with failure rate 0.50 over 20 calls")
    assert circuit_state(card("m", requests=19, successes=0, success_rate=0.0), NOW, s)[0] == "closed"
    limited = card("m", cooldown_until=NOW + timedelta(seconds=20))
    assert cooldown_remaining_s(limited, NOW) == 20.0
    assert cooldown_remaining_s(limited, NOW + timedelta(seconds=20)) is None
    assert cooldown_remaining_s(card("m"), NOW) is None


def test_health_checker_and_rate_limiter_answer_from_the_board(registry: ModelRegistry) -> None:
    cards = {
        "gpt-4o": card("gpt-4o", cooldown_until=NOW + timedelta(seconds=30)),
        "claude-3-opus": card("claude-3-opus", failure_streak=7, last_failure_at=NOW),
    }
    parts = Parts(registry, pick("gpt-4o"), cards)
    integration = parts.integration()
    health = integration.model_selector.health_checker
    limits = integration.model_selector.rate_limiter
    assert health.is_model_available("gpt-4o") is True  # rate limited is not unhealthy
    assert limits.is_rate_limited("gpt-4o") is True
    assert limits.retry_after_s("gpt-4o") == 30.0
    assert health.is_model_available("claude-3-opus") is False
    assert health.health("claude-3-opus").why == "after 7 consecutive failures"
    assert limits.is_rate_limited("claude-3-opus") is False
    assert health.is_model_available("claude-3.5-sonnet") is True  # no evidence: healthy
    assert health.is_model_available("no-such-model") is False
    disabled = [m.model_id for m in registry.models.values() if not m.enabled]
    for model_id in disabled:
        assert health.is_model_available(model_id) is False


# --- the registry, and the EnhancedModelOptimizer's wiring -----------------------------------


def test_model_registry_from_the_file(registry: ModelRegistry) -> None:
    models = list(registry._models.values())
    enabled = [m for m in models if m.enabled]
    assert len(models) >= 20 and 0 < len(enabled) <= len(models)
    assert {m.provider for m in models} >= {"openai", "anthropic", "google", "mistral", "ollama"}
    assert registry.topic == f"{registry.settings.topic_prefix}registry"
    assert registry.provider_of("gpt-4o") == "openai" and registry.provider_of("nope") is None
    assert "gpt-4o" in registry and len(registry) == len(models)


async def test_enhanced_model_optimizer_falls_back_when_no_broker(
    unit_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    optimizer = EnhancedModelOptimizer(CONFIG / "optimizer.json", settings=unit_settings)
    try:
        task = AgentTask(id="t-enhanced")
        _name, assignment = optimizer.select_model_for_agent(agent_type=AgentType.SA, task=task)
        with caplog.at_level(logging.WARNING, logger="modelrouter"):
            model_id, api = await optimizer.select_model_for_agent_enhanced(
                agent_type=AgentType.SA, task=task
            )
        assert model_id == api.selected_model_id == assignment.fallback_model
        assert api.fallback_used and "broker unreachable: cannot reach Kafka" in api.model_selection.reasoning
        assert api.role_type == assignment.role_type and api.model_tier == assignment.model_tier
        assert "fell back to" in caplog.text
        integration = optimizer.api_integration
        assert integration.model_selector.registry._models == dict(optimizer.registry)
        assert integration.failover_manager.max_retries == 3
        assert integration.failover_manager.model_selector is integration.model_selector
        assert isinstance(integration.model_selector.health_checker.scorecards, ScorecardBoard)
    finally:
        await optimizer.close()


def test_model_assignment_stays_importable_from_agents() -> None:
    assert ModelAssignment.__module__ == "modelrouter.agents.optimizer"
