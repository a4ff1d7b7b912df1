"""ModelSelector: the guide's selector, as a client of the selection request/reply topics."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from modelrouter.schemas import BaseAssignment, Constraints, Settings, TaskInfo

from .assignment import ModelSelection, SelectionConstraints
from .health import HealthChecker, RateLimiter
from .monitoring import PerformanceMonitor
from .optimizer import AgentTask, AgentType, ModelAssignment, agent_type_name
from .registry import ModelRegistry
from .selection_client import SelectionClient, Strategy

__all__ = ["ModelSelector"]

log = logging.getLogger("modelrouter.agents.selector")


def _task_info(task: AgentTask | TaskInfo | str) -> TaskInfo:
    if isinstance(task, AgentTask):
        return task.to_task_info()
    if isinstance(task, str):
        return TaskInfo(task_id=task)
    return task


def _constraints(constraints: SelectionConstraints | Constraints | None) -> Constraints | None:
    if isinstance(constraints, SelectionConstraints):
        return constraints.to_constraints()
    return constraints


class ModelSelector:
    """Asks the selection service which model an agent should call.

    The service (a modelrouter worker) filters the registry by the constraints and by model
    health, ranks what is left and explains its choice. `health_checker` and `rate_limiter`
    answer the same questions locally, from the same scorecards; `start()` starts them
    with the client. `client` defaults to a SelectionClient of this selector's own.
    """

    def __init__(
        self,
        registry: ModelRegistry,
        health_checker: HealthChecker,
        rate_limiter: RateLimiter,
        performance_monitor: PerformanceMonitor,
        *,
        settings: Settings | None = None,
        client: SelectionClient | None = None,
        deadline_ms: int | None = None,
    ) -> None:
        self.registry = registry
        self.health_checker = health_checker
        self.rate_limiter = rate_limiter
        self.performance_monitor = performance_monitor
        self.settings = settings if settings is not None else registry.settings
        self._owns_client = client is None
        self.client = client if client is not None else SelectionClient(self.settings, lookup=registry.get)
        self.deadline_ms = deadline_ms
        self._warming: asyncio.Task[None] | None = None
        self._warm_failed_at: float | None = None
        self._retry_after_s = 5.0

    async def start(self, *, timeout_s: float = 15.0) -> None:
        """Connect the client and read the scorecards now (raises when the broker is unreachable)."""
        await self.client.start(timeout_s=timeout_s)
        await asyncio.gather(
            self.health_checker.start(timeout_s=timeout_s), self.rate_limiter.start(timeout_s=timeout_s)
        )

    def _warm_up(self) -> None:
        """Start the scorecard views in the background on first use (the client starts itself),
        and again a while after a failure."""
        task = self._warming
        loop = asyncio.get_running_loop()
        if task is not None and not (task.done() and self._warm_failed_at is not None):
            return
        if self._warm_failed_at is not None and loop.time() - self._warm_failed_at < self._retry_after_s:
            return

        async def warm() -> None:
            try:
                await asyncio.gather(self.health_checker.start(), self.rate_limiter.start())
                self._warm_failed_at = None
            except Exception as exc:  # a warning: selection falls back; checks read the topic themselves
                self._warm_failed_at = loop.time()
                log.warning("cannot read model health from Kafka yet: %s", exc)

        self._warming = asyncio.create_task(warm(), name="model-selector-warm-up")

    async def close(self) -> None:
        if self._warming is not None and not self._warming.done():
            self._warming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._warming
        await self.health_checker.close()
        await self.rate_limiter.close()
        if self._owns_client:
            await self.client.close()

    async def select_model(
        self,
        agent_type: AgentType | str,
        task: AgentTask | TaskInfo | str,
        *,
        base_assignment: ModelAssignment | BaseAssignment | None = None,
        constraints: SelectionConstraints | Constraints | None = None,
        strategy: Strategy = "balanced",
        explore: bool = False,
        deadline_ms: int | None = None,
        raise_on_timeout: bool = False,
    ) -> ModelSelection:
        """The service's selection; past the deadline, the base assignment's fallback
        (fallback_used=True). Raises SelectionTimeout without a base assignment or with
        raise_on_timeout, APIModelError when the service answers with an error."""
        self._warm_up()
        base = (
            base_assignment.to_base_assignment()
            if isinstance(base_assignment, ModelAssignment)
            else base_assignment
        )
        request = self.client.request(
            agent_type_name(agent_type),
            _task_info(task),
            base_assignment=base,
            constraints=_constraints(constraints),
            strategy=strategy,
            explore=explore,
        )
        reply = await self.client.select(
            request, deadline_ms=deadline_ms or self.deadline_ms, raise_on_timeout=raise_on_timeout
        )
        return ModelSelection.from_reply(reply)
