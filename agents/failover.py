"""FailoverManager: runs a model call, and on failure moves to the next alternative model,
publishing what happened (task-completed, rate-limited and failover events) on the way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from modelrouter.schemas import (
    APIModelError,
    Event,
    Failover,
    FailoverReason,
    RateLimited,
    Settings,
    TaskCompleted,
    TaskInfo,
)

from .assignment import APIModelAssignment, ModelSelection, SelectionConstraints
from .failures import classify_failure, limit_kind_of, retry_after_seconds
from .lazy_publisher import LazyPublisher
from .optimizer import AgentTask, AgentType, ModelAssignment, agent_type_name
from .publisher import EventPublisher
from .reply_channel import describe_exception

if TYPE_CHECKING:
    from .selector import ModelSelector

__all__ = ["FailoverAttempt", "FailoverManager", "FailoverResult", "usage_of"]

log = logging.getLogger("modelrouter.agents.failover")

T = TypeVar("T")

_UNKNOWN_PROVIDER = "unknown"


@dataclass(frozen=True, slots=True)
class FailoverAttempt:
    """One failed call: the model, why it failed, the error text and how long it took."""

    model_id: str
    reason: FailoverReason
    error: str
    latency_ms: float
    retry_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class FailoverResult(Generic[T]):
    """The call's value, the model that produced it, and the failed attempts before it."""

    value: T
    model_id: str
    failed_attempts: tuple[FailoverAttempt, ...] = ()

    @property
    def models_tried(self) -> tuple[str, ...]:
        return (*(a.model_id for a in self.failed_attempts), self.model_id)


def _field(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def usage_of(value: Any) -> dict[str, Any]:
    """cost, input_tokens, output_tokens and quality_score found on a call's result: its own
    attributes or keys, or an SDK's `usage` (OpenAI prompt/completion_tokens, Anthropic
    input/output_tokens). Only what is there is returned."""
    out: dict[str, Any] = {}
    usage = _field(value, "usage")
    sources = (value, usage) if usage is not None else (value,)
    for key, names in (
        ("input_tokens", ("input_tokens", "prompt_tokens")),
        ("output_tokens", ("output_tokens", "completion_tokens")),
        ("cost", ("cost",)),
        ("quality_score", ("quality_score",)),
    ):
        for source in sources:
            found = next((v for n in names if (v := _field(source, n)) is not None), None)
            if isinstance(found, int | float) and not isinstance(found, bool):
                out[key] = found
                break
    return out


class FailoverManager:
    """Runs `call(model_id)` with the selected model; when it raises, classifies the error
    (classify_failure), publishes it, and calls again with the next alternative: the
    selection's alternatives first, then (with a model_selector) a new selection that
    excludes every model tried. At most `max_retries` failovers, so 1 + max_retries calls.

    Each failed call publishes a TaskCompleted (success false, error_type the reason), a
    rate limit also a RateLimited (retry_after_s from the error), and each move a Failover.
    The successful call publishes a TaskCompleted with the cost and tokens found on its
    result (usage_of) unless `report_success=False`: report each task once, here or via
    `report_performance_to_optimizer`. Publishing problems are logged, never raised: the
    caller's call matters more than its telemetry.
    """

    def __init__(
        self,
        model_selector: ModelSelector | None = None,
        max_retries: int = 3,
        *,
        publisher: EventPublisher | None = None,
        settings: Settings | None = None,
    ) -> None:
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if settings is None:
            settings = model_selector.settings if model_selector is not None else Settings()
        self.model_selector = model_selector
        self.max_retries = max_retries
        self.settings = settings
        self._publisher = LazyPublisher(settings, publisher)

    async def close(self) -> None:
        await self._publisher.close()

    def _provider(self, model_id: str) -> str:
        if self.model_selector is None:
            return _UNKNOWN_PROVIDER
        spec = self.model_selector.registry.get(model_id)
        return spec.provider if spec is not None else _UNKNOWN_PROVIDER

    async def _publish(self, event: Event) -> None:
        try:
            await self._publisher.publish(event)
        except Exception as exc:  # telemetry must not fail the task: log it and go on
            log.warning(
                "could not publish %s for task %s: %s", event.type, getattr(event, "task_id", "-"), exc
            )

    async def report_failover(
        self,
        agent_type: AgentType | str,
        task_id: str,
        original_model: str,
        alternative_model: str,
        reason: FailoverReason | str,
        *,
        retry_after_s: float | None = None,
    ) -> Failover:
        """Publish one Failover event (raises if it cannot be published). The workers fold it
        into the original model's health: `rate_limited` cools it down for `retry_after_s`
        (default_cooldown_s without one), `unavailable`/`timeout`/`error` count as a failure,
        `quality`/`cost` lower its standing for this agent type (docs/design.md)."""
        event = Failover(
            agent_type=agent_type_name(agent_type),
            task_id=task_id,
            original_model=original_model,
            alternative_model=alternative_model,
            reason=FailoverReason(reason),
            retry_after_s=retry_after_s,
        )
        await self._publisher.publish(event)
        return event

    async def execute_with_failover(
        self,
        call: Callable[[str], Awaitable[T]],
        *,
        agent_type: AgentType | str,
        task: AgentTask | TaskInfo | str,
        selection: APIModelAssignment | ModelSelection | str,
        alternatives: Sequence[str] | None = None,
        constraints: SelectionConstraints | None = None,
        report_success: bool = True,
    ) -> FailoverResult[T]:
        """`await call(model_id)` on the selected model, failing over as described above.

        `selection` is what select_model_for_agent returned (or a model id); `alternatives`
        overrides its ranked alternatives. Raises APIModelError, from the last error, when
        every model tried failed.
        """
        agent = agent_type_name(agent_type)
        task_id = task if isinstance(task, str) else task.task_id
        queue, base = self._plan(selection, alternatives)
        model_id = queue.pop(0)
        failed: list[FailoverAttempt] = []
        last_exc: Exception | None = None
        while True:
            started = time.perf_counter()
            try:
                value = await call(model_id)
            except Exception as exc:
                latency_ms = (time.perf_counter() - started) * 1000.0
                attempt = await self._failed(agent, task_id, model_id, exc, latency_ms)
                failed.append(attempt)
                last_exc = exc
                tried = {a.model_id for a in failed}
                if len(failed) > self.max_retries:
                    break
                next_model = await self._next_model(queue, tried, agent, task, base, constraints)
                if next_model is None:
                    break
                await self._publish(
                    Failover(
                        agent_type=agent,
                        task_id=task_id,
                        original_model=model_id,
                        alternative_model=next_model,
                        reason=attempt.reason,
                        retry_after_s=attempt.retry_after_s,
                    )
                )
                log.info("task %s: %s failed (%s); trying %s", task_id, model_id, attempt.reason, next_model)
                model_id = next_model
                continue
            if report_success:
                latency_ms = (time.perf_counter() - started) * 1000.0
                await self._publish(self._completed(agent, task_id, model_id, latency_ms, usage_of(value)))
            return FailoverResult(value, model_id, tuple(failed))
        summary = "; ".join(f"{a.model_id}: {a.reason.value} ({a.error})" for a in failed)
        raise APIModelError(f"task {task_id}: every model tried failed: {summary}") from last_exc

    @staticmethod
    def _plan(
        selection: APIModelAssignment | ModelSelection | str, alternatives: Sequence[str] | None
    ) -> tuple[list[str], ModelAssignment | None]:
        if isinstance(selection, APIModelAssignment):
            first, ranked, base = (
                selection.selected_model_id,
                selection.alternatives,
                selection.base_assignment,
            )
        elif isinstance(selection, ModelSelection):
            first, ranked, base = selection.selected_model_id, selection.alternative_model_ids, None
        else:
            first, ranked, base = selection, (), None
        ranked = tuple(alternatives) if alternatives is not None else ranked
        queue = list(dict.fromkeys((first, *ranked)))
        if base is not None:  # the hierarchy's own models, last, when nothing better is known
            queue += [m for m in (base.primary_model, base.fallback_model) if m not in queue]
        return queue, base

    async def _next_model(
        self,
        queue: list[str],
        tried: set[str],
        agent: str,
        task: AgentTask | TaskInfo | str,
        base: ModelAssignment | None,
        constraints: SelectionConstraints | None,
    ) -> str | None:
        while queue:
            candidate = queue.pop(0)
            if candidate not in tried:
                return candidate
        if self.model_selector is None:
            return None
        try:
            selection = await self.model_selector.select_model(
                agent,
                task,
                base_assignment=base,
                constraints=(constraints or SelectionConstraints()).excluding(*sorted(tried)),
            )
        except APIModelError as exc:
            task_id = task if isinstance(task, str) else task.task_id
            log.warning("task %s: no further model to fail over to: %s", task_id, exc)
            return None
        ranked = (selection.selected_model_id, *selection.alternative_model_ids)
        return next((m for m in ranked if m not in tried), None)

    async def _failed(
        self, agent: str, task_id: str, model_id: str, exc: Exception, latency_ms: float
    ) -> FailoverAttempt:
        reason = classify_failure(exc)
        retry_after = retry_after_seconds(exc) if reason is FailoverReason.RATE_LIMITED else None
        provider = self._provider(model_id)
        if reason is FailoverReason.RATE_LIMITED:
            await self._publish(
                RateLimited(
                    agent_type=agent,
                    model_id=model_id,
                    provider=provider,
                    task_id=task_id,
                    retry_after_s=retry_after,
                    limit_kind=limit_kind_of(exc),
                )
            )
        await self._publish(
            TaskCompleted(
                agent_type=agent,
                task_id=task_id,
                model_id=model_id,
                provider=provider,
                success=False,
                latency_ms=latency_ms,
                cost=0.0,
                input_tokens=0,
                output_tokens=0,
                error_type=reason.value,
            )
        )
        return FailoverAttempt(model_id, reason, describe_exception(exc)[:500], latency_ms, retry_after)

    def _completed(
        self, agent: str, task_id: str, model_id: str, latency_ms: float, usage: dict[str, Any]
    ) -> TaskCompleted:
        input_tokens = int(usage.get("input_tokens", 0))
        output_tokens = int(usage.get("output_tokens", 0))
        cost = usage.get("cost")
        if cost is None:
            spec = self.model_selector.registry.get(model_id) if self.model_selector is not None else None
            cost = spec.expected_cost(input_tokens, output_tokens) if spec is not None else 0.0
        quality = usage.get("quality_score")
        return TaskCompleted(
            agent_type=agent,
            task_id=task_id,
            model_id=model_id,
            provider=self._provider(model_id),
            success=True,
            latency_ms=latency_ms,
            quality_score=float(quality) if quality is not None and 0.0 <= quality <= 1.0 else None,
            cost=float(max(cost, 0.0)),
            input_tokens=max(input_tokens, 0),
            output_tokens=max(output_tokens, 0),
        )
