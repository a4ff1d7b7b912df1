"""The guide's facade: ModelOptimizerIntegration (selection on top of the hierarchy's base
assignment, performance and failover reporting, summaries, an assignment cache) and
EnhancedModelOptimizer (a ModelOptimizer that owns one).
"""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from typing import Any

from modelrouter.schemas import APIModelError, FailoverReason, Settings, utc_now

from .assignment import APIModelAssignment, ModelSelection, SelectionConstraints
from .failover import FailoverManager
from .health import HealthChecker, RateLimiter
from .lifecycle import AsyncResource
from .monitoring import CostTracker, PerformanceMonitor, summary_dict
from .optimizer import (
    AgentTask,
    AgentType,
    ModelAssignment,
    ModelOptimizer,
    ResourceConstraint,
    agent_type_name,
)
from .registry import ModelRegistry
from .registry_config import REGISTRY_FILENAME
from .selection_client import Strategy, fallback_reply
from .selector import ModelSelector

__all__ = ["EnhancedModelOptimizer", "ModelOptimizerIntegration"]

log = logging.getLogger("modelrouter.agents.facade")

BaseAssignmentArg = ModelAssignment | tuple[str, ModelAssignment]


def _as_assignment(base_assignment: BaseAssignmentArg) -> ModelAssignment:
    """A ModelAssignment, or ModelOptimizer.select_model_for_agent's whole (model_name, assignment)
    result, which the guide's Pattern 1 passes as it is."""
    if isinstance(base_assignment, ModelAssignment):
        return base_assignment
    if (
        isinstance(base_assignment, tuple)
        and len(base_assignment) == 2
        and isinstance(base_assignment[1], ModelAssignment)
    ):
        return base_assignment[1]
    raise TypeError(
        "base_assignment must be a ModelAssignment or the (model_name, ModelAssignment) pair "
        f"ModelOptimizer.select_model_for_agent returns, not {type(base_assignment).__name__}"
    )


def _with_role_capabilities(
    constraints: SelectionConstraints | None, base: ModelAssignment
) -> SelectionConstraints | None:
    """The constraints plus the capabilities the hierarchy requires of the role: a selection
    must not hand an architect a model that cannot write code because nobody repeated it."""
    if not base.required_capabilities:
        return constraints
    given = constraints or SelectionConstraints()
    wanted = tuple(dict.fromkeys((*base.required_capabilities, *given.required_capabilities)))
    if wanted == given.required_capabilities:
        return given
    return SelectionConstraints(
        wanted,
        given.max_cost_per_request,
        given.excluded_providers,
        given.max_latency_ms,
        given.excluded_models,
        given.min_success_rate,
    )


class ModelOptimizerIntegration(AsyncResource):
    """Coordinates the hierarchical ModelOptimizer with live selection over Kafka.

    `select_model_for_agent` asks the selection service, within its deadline, for a model with
    the capabilities the base assignment's role requires (added to any constraints given); when the
    service cannot answer (no reply in time, no broker, an error reply) it logs a warning
    and returns the base assignment's fallback model (`fallback_used` is then True), as the
    guide says. With `fallback_on_error=False` it raises instead: an APIModelError naming the
    part that failed (SelectionBrokerUnavailable, SelectionTimeout or WorkerErrorReply).
    """

    def __init__(
        self,
        model_selector: ModelSelector,
        failover_manager: FailoverManager,
        performance_monitor: PerformanceMonitor,
        cost_tracker: CostTracker,
        *,
        fallback_on_error: bool = True,
        cache_size: int = 10_000,
    ) -> None:
        self.model_selector = model_selector
        self.failover_manager = failover_manager
        self.performance_monitor = performance_monitor
        self.cost_tracker = cost_tracker
        self.fallback_on_error = fallback_on_error
        self._cache_size = cache_size
        self._cache: OrderedDict[tuple[str, str], APIModelAssignment] = OrderedDict()

    async def start(self, *, timeout_s: float = 15.0) -> None:
        """Connect to Kafka now (optional: everything connects on first use). Raises when the
        broker is unreachable; selection still falls back meanwhile."""
        await self.model_selector.start(timeout_s=timeout_s)

    async def close(self) -> None:
        await self.model_selector.close()
        await self.failover_manager.close()
        await self.performance_monitor.close()
        await self.cost_tracker.close()

    # --- selection -----------------------------------------------------------------

    async def select_model_for_agent(
        self,
        agent_type: AgentType | str,
        task: AgentTask,
        base_assignment: BaseAssignmentArg,
        constraints: SelectionConstraints | None = None,
        *,
        strategy: Strategy = "balanced",
        explore: bool = False,
        deadline_ms: int | None = None,
    ) -> APIModelAssignment:
        """The model this agent should call for this task, and why (see the class docstring)."""
        agent = agent_type_name(agent_type)
        base = _as_assignment(base_assignment)
        try:
            selection = await self.model_selector.select_model(
                agent,
                task,
                base_assignment=base,
                constraints=_with_role_capabilities(constraints, base),
                strategy=strategy,
                explore=explore,
                deadline_ms=deadline_ms,
                raise_on_timeout=not self.fallback_on_error,
            )
        except APIModelError as exc:
            if not self.fallback_on_error:
                raise
            why = f"selection failed ({exc})"
            log.warning(
                "selection for agent %s, task %s fell back to %s: %s",
                agent,
                task.id,
                base.fallback_model,
                why,
            )
            reply = fallback_reply(
                uuid.uuid4().hex, base.to_base_assignment(), why, self.model_selector.registry.get
            )
            selection = ModelSelection.from_reply(reply)
        assignment = APIModelAssignment(
            base_assignment=base,
            selected_model_id=selection.selected_model_id,
            model_selection=selection,
            api_provider=selection.provider,
            api_endpoint=selection.endpoint,
            selection_timestamp=utc_now(),
        )
        self._remember(agent, task.id, assignment)
        return assignment

    # --- reporting -----------------------------------------------------------------

    async def report_performance_to_optimizer(
        self,
        agent_type: AgentType | str,
        task_id: str,
        model_id: str,
        performance_data: dict[str, Any],
    ) -> None:
        """Publish the task's outcome (a TaskCompleted). performance_data needs success,
        latency_ms, cost, input_tokens and output_tokens; quality_score is optional.
        A missing or unknown key raises InvalidEventError naming it."""
        await self.performance_monitor.record(agent_type, task_id, model_id, performance_data)

    async def report_failover_event(
        self,
        agent_type: AgentType | str,
        task_id: str,
        original_model: str,
        alternative_model: str,
        reason: FailoverReason | str,
        *,
        retry_after_s: float | None = None,
    ) -> None:
        """Publish a Failover event, which steers the next selections away from the original
        model (FailoverManager.report_failover says how, per reason; `retry_after_s` is the
        provider's retry-after for a rate limit). The task's cached assignment is dropped: it
        names a model that just failed."""
        await self.failover_manager.report_failover(
            agent_type, task_id, original_model, alternative_model, reason, retry_after_s=retry_after_s
        )
        self._cache.pop((agent_type_name(agent_type), task_id), None)

    async def get_performance_summary(
        self, agent_type: AgentType | str | None = None, window_hours: float = 24.0
    ) -> dict[str, Any]:
        """Totals over the last window_hours: total_requests, total_cost, average_success_rate,
        cost_by_model, requests_by_model and per-model rows under "models". Raises
        SelectionBrokerUnavailable (the broker), SelectionTimeout (no worker answered) or
        WorkerErrorReply (the worker's error), all APIModelErrors, when there is no answer."""
        name = agent_type_name(agent_type) if agent_type is not None else None
        reply = await self.model_selector.client.summary(name, window_hours)
        return summary_dict(reply, name, window_hours)

    # --- cache ---------------------------------------------------------------------

    def _remember(self, agent: str, task_id: str, assignment: APIModelAssignment) -> None:
        key = (agent, task_id)
        self._cache[key] = assignment
        self._cache.move_to_end(key)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def get_cached_assignment(self, agent_type: AgentType | str, task_id: str) -> APIModelAssignment | None:
        """The last assignment made for this agent type and task, or None."""
        return self._cache.get((agent_type_name(agent_type), task_id))

    def clear_assignment_cache(self, agent_type: AgentType | str | None = None) -> int:
        """Forget the cached assignments of one agent type (or all); returns how many."""
        if agent_type is None:
            count = len(self._cache)
            self._cache.clear()
            return count
        name = agent_type_name(agent_type)
        keys = [k for k in self._cache if k[0] == name]
        for key in keys:
            del self._cache[key]
        return len(keys)


class EnhancedModelOptimizer(ModelOptimizer):
    """ModelOptimizer with API Model Management integration, as the guide extends it.

    Takes ModelOptimizer's arguments, plus `settings` (default `Settings()`, from MODELROUTER_*
    variables). The registry it selects from is the one the hierarchy was checked against.
    """

    def __init__(self, *args: Any, settings: Settings | None = None, **kwargs: Any) -> None:
        self.settings = settings if settings is not None else Settings()
        super().__init__(*args, **kwargs)
        self.api_integration = self._initialize_api_integration()

    def _initialize_api_integration(self) -> ModelOptimizerIntegration:
        registry = ModelRegistry(
            self.config_path.parent / REGISTRY_FILENAME, self.settings, models=self.registry
        )
        health_checker = HealthChecker(registry=registry)
        rate_limiter = RateLimiter(registry=registry, scorecards=health_checker.scorecards)  # one reader
        performance_monitor = PerformanceMonitor(self.settings, registry=registry)
        cost_tracker = CostTracker(self.settings, registry=registry)
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
        agent_type: AgentType | str,
        task: AgentTask,
        constraints: list[ResourceConstraint] | None = None,
    ) -> tuple[str, APIModelAssignment]:
        """The hierarchy's assignment, refined by live selection: (model id, assignment)."""
        _, base_assignment = self.select_model_for_agent(
            agent_type=agent_type, task=task, constraints=constraints
        )
        api_assignment = await self.api_integration.select_model_for_agent(
            agent_type=agent_type, task=task, base_assignment=base_assignment
        )
        return api_assignment.selected_model_id, api_assignment

    async def close(self) -> None:
        await self.api_integration.close()
