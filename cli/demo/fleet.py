"""The live fleet: simulated agents that ask the selection service for a model, run the call
through the FailoverManager against simulated models, and so publish real events to Kafka.

The models are the World's (world.py); a failed call raises an exception shaped like the
providers' SDK errors (status code, error body, retry-after), so failures.py classifies it
as it would a real one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelrouter.agents import (
    EventPublisher,
    FailoverManager,
    ModelOptimizer,
    ModelSelection,
    SelectionConstraints,
)
from modelrouter.agents.selection_client import SelectionClient, fallback_reply
from modelrouter.schemas import APIModelError, Event, ModelSpec, SelectionReply

from .analysis import CallRecord, RejectionRecord, SelectionRecord
from .baseline import agent_task
from .world import CallOutcome, Failure, SimTask, TaskResult, World

__all__ = [
    "CountingPublisher",
    "Fleet",
    "FleetRecords",
    "ProviderAPIError",
    "ProviderOverloadedError",
    "ProviderRateLimitError",
    "ProviderServerError",
    "ProviderTimeoutError",
    "SimulatedResponse",
    "provider_error",
]

log = logging.getLogger("modelrouter.demo.fleet")

# The demo's agents run in the cloud: there is no local Ollama server for them to call.
EXCLUDED_PROVIDERS = ("ollama",)
# A rejection worth showing: the service saw the model fail or get rate limited.
_HEALTH_REJECTIONS = ("circuit", "rate-limited")


# --- what the simulated models raise -----------------------------------------------------


class ProviderAPIError(Exception):
    """An error as the providers' SDKs raise it: `status_code`, `body` {"error": {type, message}}
    and response `headers`."""

    status_code = 500
    error_type = "api_error"

    def __init__(self, message: str, *, model_id: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"Error code: {self.status_code} - {message}")
        self.model_id = model_id
        self.body = {"error": {"type": self.error_type, "message": message}}
        self.headers = headers or {}


class ProviderServerError(ProviderAPIError):
    """HTTP 500."""


class ProviderOverloadedError(ProviderAPIError):
    """HTTP 529, Anthropic's "overloaded_error": the provider is shedding load or down."""

    status_code = 529
    error_type = "overloaded_error"


class ProviderRateLimitError(ProviderAPIError):
    """HTTP 429 with a retry-after header (and attribute)."""

    status_code = 429
    error_type = "rate_limit_error"

    def __init__(self, message: str, *, model_id: str, retry_after_s: float) -> None:
        super().__init__(message, model_id=model_id, headers={"retry-after": f"{retry_after_s:g}"})
        self.retry_after = retry_after_s


class ProviderTimeoutError(ProviderAPIError, TimeoutError):
    """The client gave up waiting (the SDKs' APITimeoutError)."""

    status_code = 408
    error_type = "timeout"


def provider_error(outcome: CallOutcome) -> ProviderAPIError:
    """The exception a failed call raises."""
    model = outcome.model_id
    if outcome.failure is Failure.RATE_LIMITED:
        wait = outcome.retry_after_s if outcome.retry_after_s is not None else 1.0
        return ProviderRateLimitError(
            f"Rate limit reached for {model} on requests per min (RPM). Please try again in {wait:g}s.",
            model_id=model,
            retry_after_s=wait,
        )
    if outcome.failure is Failure.TIMEOUT:
        return ProviderTimeoutError(
            f"Request timed out after {outcome.latency_ms / 1000:g} s", model_id=model
        )
    if outcome.failure is Failure.OVERLOADED:
        return ProviderOverloadedError(f"{outcome.provider} is overloaded", model_id=model)
    return ProviderServerError("Internal server error", model_id=model)


@dataclass(frozen=True, slots=True)
class SimulatedResponse:
    """A successful call's result; FailoverManager reads cost, tokens and quality off it (usage_of)."""

    model_id: str
    cost: float
    input_tokens: int
    output_tokens: int
    quality_score: float | None


# --- publishing, counted -----------------------------------------------------------------


class CountingPublisher(EventPublisher):
    """An EventPublisher that counts what Kafka acknowledged, by event type."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.published: dict[str, int] = {"task_completed": 0, "rate_limited": 0, "failover": 0}

    async def publish(self, event: Event, *, wait: bool = True) -> asyncio.Future[Any] | None:
        future = await super().publish(event, wait=wait)
        if future is None:
            self.published[event.type] += 1
        else:
            future.add_done_callback(
                lambda f: None if f.cancelled() or f.exception() else self._count(event.type)
            )
        return future

    def _count(self, kind: str) -> None:
        self.published[kind] += 1


# --- the fleet ---------------------------------------------------------------------------


@dataclass
class FleetRecords:
    """Everything the fleet saw, in the order it happened."""

    selections: list[SelectionRecord] = field(default_factory=list)
    calls: list[CallRecord] = field(default_factory=list)
    rejections: list[RejectionRecord] = field(default_factory=list)
    results: dict[int, TaskResult] = field(default_factory=dict)
    started: int = 0
    _last_rejection: dict[tuple[str, str], float] = field(default_factory=dict)

    def note_rejections(self, at_s: float, reply: SelectionReply) -> None:
        """Keep health rejections (circuit open, rate-limited), at most one per model and kind a second."""
        for r in reply.rejected:
            kind = next((k for k in _HEALTH_REJECTIONS if r.reason.startswith(k)), None)
            if kind is None:
                continue
            last = self._last_rejection.get((r.model_id, kind))
            if last is None or at_s - last >= 1.0:
                self._last_rejection[(r.model_id, kind)] = at_s
                self.rejections.append(RejectionRecord(at_s, r.model_id, r.reason))


class Fleet:
    """Starts each task at its time (SimTask.at_s) and runs it: base assignment from the
    ModelOptimizer, a selection from the service, the call through the FailoverManager."""

    def __init__(
        self,
        world: World,
        tasks: Sequence[SimTask],
        optimizer: ModelOptimizer,
        client: SelectionClient,
        failover: FailoverManager,
        *,
        deadline_ms: int,
        lookup: Mapping[str, ModelSpec],
    ) -> None:
        self.world = world
        self.tasks = tasks
        self.optimizer = optimizer
        self.client = client
        self.failover = failover
        self.deadline_ms = deadline_ms
        self.records = FleetRecords()
        self._lookup = lookup
        self._start: float | None = None
        # Long enough for a task that fails over through every attempt, each timing out.
        self.drain_s = (failover.max_retries + 1) * world.timeout_s + 5.0

    def elapsed(self) -> float:
        """Seconds since the fleet started (0 before)."""
        if self._start is None:
            return 0.0
        return asyncio.get_running_loop().time() - self._start

    async def run(self) -> None:
        """Run every task; return when all have finished (or after drain_s, cancelling the rest)."""
        loop = asyncio.get_running_loop()
        self._start = loop.time()
        running: set[asyncio.Task[None]] = set()
        failed: list[BaseException] = []

        def done(t: asyncio.Task[None]) -> None:
            running.discard(t)
            if not t.cancelled() and (exc := t.exception()) is not None:
                failed.append(exc)

        try:
            for task in self.tasks:
                delay = task.at_s - self.elapsed()
                if delay > 0:
                    await asyncio.sleep(delay)
                if failed:
                    break
                job = asyncio.create_task(self._run_task(task), name=f"demo:{task.task_id}")
                running.add(job)
                job.add_done_callback(done)
                self.records.started += 1
            if running:
                await asyncio.wait(set(running), timeout=self.drain_s)
        finally:
            leftover = set(running)
            for job in leftover:
                job.cancel()
            await asyncio.gather(*leftover, return_exceptions=True)
        if failed:
            raise failed[0]

    async def _select(self, task: SimTask) -> tuple[SelectionReply, SelectionConstraints]:
        _, assignment = self.optimizer.select_model_for_agent(task.agent_type, agent_task(task))
        constraints = SelectionConstraints(
            required_capabilities=assignment.required_capabilities, excluded_providers=EXCLUDED_PROVIDERS
        )
        base = assignment.to_base_assignment()
        request = self.client.request(
            task.agent_type,
            agent_task(task).to_task_info(),
            base_assignment=base,
            constraints=constraints.to_constraints(),
            strategy=task.strategy,
        )
        try:
            reply = await self.client.select(request, deadline_ms=self.deadline_ms)
        except APIModelError as exc:  # the service answered with an error: do what a timeout does
            reply = fallback_reply(request.request_id, base, f"selection failed ({exc})", self._lookup.get)
        return reply, constraints

    async def _run_task(self, task: SimTask) -> None:
        attempts: list[CallOutcome] = []
        finished = False
        try:
            asked = self.elapsed()
            reply, constraints = await self._select(task)
            now = self.elapsed()
            self.records.selections.append(
                SelectionRecord(
                    at_s=now,
                    agent_type=task.agent_type,
                    model_id=reply.selected_model_id,
                    provider=reply.provider,
                    fallback_used=reply.fallback_used,
                    round_trip_ms=(now - asked) * 1000.0,
                )
            )
            self.records.note_rejections(now, reply)

            async def call(model_id: str) -> SimulatedResponse:
                at = self.elapsed()
                outcome = self.world.call(model_id, task, at)
                attempts.append(outcome)
                self.records.calls.append(CallRecord(at, outcome))
                await asyncio.sleep(outcome.latency_ms / 1000.0)
                if outcome.failure is not None:
                    raise provider_error(outcome)
                return SimulatedResponse(
                    model_id, outcome.cost, outcome.input_tokens, outcome.output_tokens, outcome.quality
                )

            try:
                await self.failover.execute_with_failover(
                    call,
                    agent_type=task.agent_type,
                    task=agent_task(task).to_task_info(),
                    selection=ModelSelection.from_reply(reply),
                    constraints=constraints,
                )
            except APIModelError as exc:  # every model tried failed: the attempts say so
                log.info("task %s failed: %s", task.task_id, exc)
            finished = True
        finally:
            self.records.results[task.index] = TaskResult(
                task.index, task.at_s, task.agent_type, tuple(attempts), finished
            )
