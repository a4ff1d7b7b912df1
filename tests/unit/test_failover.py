"""FailoverManager without a broker: which model is tried next, what is published, when it stops."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from modelrouter.agents import (
    AgentTask,
    APIModelAssignment,
    FailoverManager,
    HealthChecker,
    ModelAssignment,
    ModelRegistry,
    ModelSelection,
    ModelSelector,
    PerformanceMonitor,
    RateLimiter,
    SelectionClient,
)
from modelrouter.agents.failover import usage_of
from modelrouter.schemas import (
    Alternative,
    APIModelError,
    Event,
    Failover,
    FailoverReason,
    LimitKind,
    RateLimited,
    SelectionReply,
    SelectionRequest,
    Settings,
    TaskCompleted,
)

CONFIG = Path(__file__).resolve().parents[2] / "config"


class RateLimitError(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status_code = 429
        self.retry_after = retry_after


class ListPublisher:
    def __init__(self, fail: bool = False) -> None:
        self.events: list[Event] = []
        self.fail = fail

    async def publish(self, event: Event) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.events.append(event)


class Reselecting(SelectionClient):
    """Answers every selection with the first model of `offer` not excluded."""

    def __init__(self, settings: Settings, offer: list[str]) -> None:
        super().__init__(settings)
        self.offer = offer
        self.asked: list[SelectionRequest] = []

    async def select(
        self, request: SelectionRequest, *, deadline_ms: int | None = None, raise_on_timeout: bool = False
    ) -> SelectionReply:
        self.asked.append(request)
        excluded = set(request.constraints.excluded_models) if request.constraints else set()
        left = [m for m in self.offer if m not in excluded]
        if not left:
            raise APIModelError("no candidate")
        return SelectionReply(
            request_id=request.request_id,
            selected_model_id=left[0],
            provider="x",
            score=0.5,
            reasoning="re-selected",
            alternatives=tuple(Alternative(model_id=m, score=0.1) for m in left[1:]),
        )


@pytest.fixture
def registry(settings: Settings) -> ModelRegistry:
    return ModelRegistry(
        CONFIG / "model_registry.json", settings.model_copy(update={"bootstrap_servers": "127.0.0.1:1"})
    )


def selector(registry: ModelRegistry, offer: list[str] | None = None) -> tuple[ModelSelector, Reselecting]:
    client = Reselecting(registry.settings, offer or [])
    health = HealthChecker(registry=registry)
    limits = RateLimiter(registry=registry, scorecards=health.scorecards)
    sel = ModelSelector(registry, health, limits, PerformanceMonitor(registry=registry), client=client)
    sel._warm_up = lambda: None  # type: ignore[method-assign]  # no scorecards in unit tests
    return sel, client


def selection(model: str, *alternatives: str) -> ModelSelection:
    return ModelSelection(
        request_id="r",
        selected_model_id=model,
        provider="p",
        endpoint=None,
        score=1.0,
        reasoning="",
        alternatives=tuple(Alternative(model_id=m, score=0.5) for m in alternatives),
    )


class Script:
    """A model call that fails with the given errors, model by model, then answers."""

    def __init__(self, errors: dict[str, BaseException]) -> None:
        self.errors = errors
        self.calls: list[str] = []

    async def __call__(self, model_id: str) -> Any:
        self.calls.append(model_id)
        if model_id in self.errors:
            raise self.errors[model_id]
        return SimpleNamespace(
            text=f"done by {model_id}", usage=SimpleNamespace(prompt_tokens=1000, completion_tokens=500)
        )


async def test_a_rate_limit_fails_over_and_publishes_every_event(registry: ModelRegistry) -> None:
    sel, _ = selector(registry)
    events = ListPublisher()
    manager = FailoverManager(sel, max_retries=3, publisher=events)  # type: ignore[arg-type]
    call = Script({"claude-3-opus": RateLimitError("Rate limit reached on tokens per min", retry_after=20)})
    result = await manager.execute_with_failover(
        call, agent_type="SA", task=AgentTask(id="t1"), selection=selection("claude-3-opus", "gpt-4-turbo")
    )
    assert call.calls == ["claude-3-opus", "gpt-4-turbo"]
    assert result.value.text == "done by gpt-4-turbo"
    assert result.model_id == "gpt-4-turbo" and result.models_tried == ("claude-3-opus", "gpt-4-turbo")
    (attempt,) = result.failed_attempts
    assert (attempt.model_id, attempt.reason, attempt.retry_after_s) == (
        "claude-3-opus",
        FailoverReason.RATE_LIMITED,
        20.0,
    )

    limited, failed, moved, done = events.events
    assert isinstance(limited, RateLimited)
    assert (limited.model_id, limited.provider, limited.task_id) == ("claude-3-opus", "anthropic", "t1")
    assert (limited.retry_after_s, limited.limit_kind) == (20.0, LimitKind.TOKENS)
    assert isinstance(failed, TaskCompleted)
    assert (failed.model_id, failed.success, failed.error_type, failed.cost) == (
        "claude-3-opus",
        False,
        "rate_limited",
        0.0,
    )
    assert isinstance(moved, Failover)
    assert (moved.original_model, moved.alternative_model, moved.reason) == (
        "claude-3-opus",
        "gpt-4-turbo",
        FailoverReason.RATE_LIMITED,
    )
    assert isinstance(done, TaskCompleted)
    spec = registry.get("gpt-4-turbo")
    assert spec is not None
    assert (done.model_id, done.success, done.provider) == ("gpt-4-turbo", True, "openai")
    assert (done.input_tokens, done.output_tokens) == (1000, 500)
    assert done.cost == pytest.approx(spec.expected_cost(1000, 500))  # priced from the registry
    assert {e.agent_type for e in events.events} == {"SA"}


async def test_an_api_assignment_tries_its_alternatives_then_the_base_models(registry: ModelRegistry) -> None:
    base = ModelAssignment(
        role_type="architect",
        model_tier="premium",
        primary_model="claude-3-opus",
        fallback_model="gpt-4-turbo",
    )
    assignment = APIModelAssignment(
        base_assignment=base,
        selected_model_id="gemini-1.5-pro",
        model_selection=selection("gemini-1.5-pro", "claude-3.5-sonnet"),
        api_provider="google",
        api_endpoint=None,
    )
    down = ConnectionRefusedError("refused")
    call = Script({"gemini-1.5-pro": TimeoutError(), "claude-3.5-sonnet": down, "claude-3-opus": down})
    manager = FailoverManager(None, max_retries=3, publisher=ListPublisher())  # type: ignore[arg-type]
    result = await manager.execute_with_failover(call, agent_type="SA", task="t2", selection=assignment)
    assert call.calls == ["gemini-1.5-pro", "claude-3.5-sonnet", "claude-3-opus", "gpt-4-turbo"]
    assert [a.reason for a in result.failed_attempts] == [
        FailoverReason.TIMEOUT,
        FailoverReason.UNAVAILABLE,
        FailoverReason.UNAVAILABLE,
    ]
    assert result.model_id == "gpt-4-turbo"


async def test_max_retries_bounds_the_calls_and_the_last_error_is_the_cause(registry: ModelRegistry) -> None:
    boom = {m: RuntimeError(f"500 from {m}") for m in ("a", "b", "c", "d")}
    call = Script(boom)  # type: ignore[arg-type]
    events = ListPublisher()
    manager = FailoverManager(None, max_retries=2, publisher=events)  # type: ignore[arg-type]
    with pytest.raises(
        APIModelError, match=r"task t3: every model tried failed: a: error .*; b: error .*; c: error"
    ) as info:
        await manager.execute_with_failover(
            call, agent_type="SA", task="t3", selection=selection("a", "b", "c", "d")
        )
    assert call.calls == ["a", "b", "c"]  # 1 + max_retries
    assert info.value.__cause__ is boom["c"]
    assert [type(e).__name__ for e in events.events] == [
        "TaskCompleted",
        "Failover",
        "TaskCompleted",
        "Failover",
        "TaskCompleted",
    ]
    with pytest.raises(ValueError, match=r"max_retries must be >= 0"):
        FailoverManager(None, max_retries=-1)


async def test_when_alternatives_run_out_it_asks_for_a_new_selection_excluding_the_tried(
    registry: ModelRegistry,
) -> None:
    sel, client = selector(registry, offer=["claude-3-opus", "gpt-4o", "mistral-large"])
    call = Script({"claude-3-opus": RuntimeError("500")})
    manager = FailoverManager(sel, publisher=ListPublisher())  # type: ignore[arg-type]
    result = await manager.execute_with_failover(
        call, agent_type="PM", task=AgentTask(id="t4"), selection="claude-3-opus"
    )
    assert call.calls == ["claude-3-opus", "gpt-4o"]
    (asked,) = client.asked
    assert asked.constraints is not None and asked.constraints.excluded_models == ("claude-3-opus",)
    assert asked.task.task_id == "t4" and asked.agent_type == "PM"
    assert result.model_id == "gpt-4o"


async def test_no_further_model_stops_early(registry: ModelRegistry) -> None:
    sel, _ = selector(registry, offer=["only"])
    call = Script({"only": RuntimeError("500")})
    manager = FailoverManager(sel, max_retries=5, publisher=ListPublisher())  # type: ignore[arg-type]
    with pytest.raises(APIModelError, match=r"every model tried failed: only: error"):
        await manager.execute_with_failover(call, agent_type="PM", task="t5", selection="only")
    assert call.calls == ["only"]


async def test_publishing_trouble_is_logged_not_raised(
    registry: ModelRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    call = Script({"a": RateLimitError("429")})
    manager = FailoverManager(None, publisher=ListPublisher(fail=True))  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="modelrouter.agents.failover"):
        result = await manager.execute_with_failover(
            call, agent_type="SA", task="t6", selection=selection("a", "b")
        )
    assert result.model_id == "b"
    assert "could not publish rate_limited for task t6: broker down" in caplog.text
    assert "could not publish task_completed" in caplog.text


async def test_report_success_false_leaves_the_success_to_the_caller() -> None:
    events = ListPublisher()
    manager = FailoverManager(None, publisher=events)  # type: ignore[arg-type]
    result = await manager.execute_with_failover(
        Script({}), agent_type="SA", task="t7", selection="gpt-4o", report_success=False
    )
    assert result.model_id == "gpt-4o" and result.failed_attempts == ()
    assert events.events == []


async def test_cancellation_is_not_a_failure() -> None:
    events = ListPublisher()
    manager = FailoverManager(None, publisher=events)  # type: ignore[arg-type]
    call = Script({"a": asyncio.CancelledError()})
    with pytest.raises(asyncio.CancelledError):
        await manager.execute_with_failover(call, agent_type="SA", task="t8", selection=selection("a", "b"))
    assert call.calls == ["a"] and events.events == []


def test_usage_of_reads_sdk_shapes() -> None:
    openai_like = SimpleNamespace(usage=SimpleNamespace(prompt_tokens=10, completion_tokens=20))
    anthropic_like = SimpleNamespace(usage=SimpleNamespace(input_tokens=3, output_tokens=4))
    assert usage_of(openai_like) == {"input_tokens": 10, "output_tokens": 20}
    assert usage_of(anthropic_like) == {"input_tokens": 3, "output_tokens": 4}
    assert usage_of({"cost": 0.5, "input_tokens": 1, "quality_score": 0.9}) == {
        "cost": 0.5,
        "input_tokens": 1,
        "quality_score": 0.9,
    }
    assert usage_of("plain text") == {}
