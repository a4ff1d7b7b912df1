"""PerformanceMonitor and CostTracker: publish what a task cost and how it went (TaskCompleted),
and read windowed totals back from the selection service (summary requests).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from modelrouter.schemas import InvalidEventError, ModelSpec, Settings, SummaryReply, TaskCompleted

from .lazy_publisher import LazyPublisher
from .optimizer import AgentType, agent_type_name
from .publisher import EventPublisher
from .registry import ModelRegistry
from .selection_client import SelectionClient

__all__ = [
    "OPTIONAL_PERFORMANCE_KEYS",
    "REQUIRED_PERFORMANCE_KEYS",
    "CostTracker",
    "PerformanceMonitor",
    "summary_dict",
    "task_completed_from",
]

log = logging.getLogger("modelrouter.agents.monitoring")

# The guide's performance_data keys are TaskCompleted's fields. quality_score may be left out
# or None (not every task is judged); the others are needed to count the task at all.
REQUIRED_PERFORMANCE_KEYS = ("success", "latency_ms", "cost", "input_tokens", "output_tokens")
OPTIONAL_PERFORMANCE_KEYS = ("quality_score", "error_type", "provider", "occurred_at", "event_id")

Models = ModelRegistry | Mapping[str, ModelSpec]


def task_completed_from(
    agent_type: AgentType | str,
    task_id: str,
    model_id: str,
    performance_data: Mapping[str, Any],
    provider: str | None,
) -> TaskCompleted:
    """A TaskCompleted from the guide's performance_data dict.

    Raises InvalidEventError naming each missing or unknown key, or each bad value
    (`performance_data.cost: required key missing`).
    """
    if not isinstance(performance_data, Mapping):
        raise TypeError(f"performance_data must be a dict, not {type(performance_data).__name__}")
    errors: list[dict[str, Any]] = [
        {
            "loc": ("performance_data", key),
            "msg": f"required key missing (needs {', '.join(REQUIRED_PERFORMANCE_KEYS)})",
        }
        for key in REQUIRED_PERFORMANCE_KEYS
        if key not in performance_data
    ]
    allowed = set(REQUIRED_PERFORMANCE_KEYS) | set(OPTIONAL_PERFORMANCE_KEYS)
    errors += [
        {"loc": ("performance_data", str(key)), "msg": f"unknown key (allowed: {', '.join(sorted(allowed))})"}
        for key in performance_data
        if key not in allowed
    ]
    provider = performance_data.get("provider") or provider
    if provider is None:
        errors.append(
            {
                "loc": ("performance_data", "provider"),
                "msg": f"model {model_id!r} is not in the registry: give its provider in performance_data",
            }
        )
    if errors:
        raise InvalidEventError("performance_data", errors)
    fields = {k: v for k, v in performance_data.items() if k != "provider"}
    try:
        return TaskCompleted.model_validate(
            {
                **fields,
                "agent_type": agent_type_name(agent_type),
                "task_id": task_id,
                "model_id": model_id,
                "provider": provider,
            }
        )
    except ValidationError as exc:
        raise InvalidEventError("performance_data", exc.errors(include_url=False)) from None


def summary_dict(reply: SummaryReply, agent_type: str | None, window_hours: float) -> dict[str, Any]:
    """The guide's summary dict: total_requests, total_cost, average_success_rate,
    cost_by_model, requests_by_model, and one row per model under "models"; the totals include
    buckets still open: provisional_requests/provisional_cost say how much, data_through and
    data_age_s how old the newest data is."""
    return {
        "agent_type": agent_type,
        "window_hours": window_hours,
        "total_requests": reply.total_requests,
        "total_cost": reply.total_cost,
        "average_success_rate": reply.average_success_rate,
        "cost_by_model": dict(reply.cost_by_model),
        "requests_by_model": dict(reply.requests_by_model),
        "models": [row.model_dump() for row in reply.models],
        "provisional_requests": reply.provisional_requests,
        "provisional_cost": reply.provisional_cost,
        "data_through": reply.data_through,
        "data_age_s": reply.data_age_s,
    }


class _TaskReporter:
    def __init__(
        self,
        settings: Settings | None = None,
        *,
        registry: Models | None = None,
        publisher: EventPublisher | None = None,
        client: SelectionClient | None = None,
    ) -> None:
        if settings is None:
            settings = registry.settings if isinstance(registry, ModelRegistry) else Settings()
        self.settings = settings
        self._registry = registry
        self._publisher = LazyPublisher(settings, publisher)
        self._client = client
        self._owns_client = client is None

    def _models(self) -> Models:
        if self._registry is None:
            self._registry = ModelRegistry(settings=self.settings)  # the default registry file
        return self._registry

    def provider_of(self, model_id: str) -> str | None:
        spec = self._models().get(model_id)
        return spec.provider if spec is not None else None

    @property
    def client(self) -> SelectionClient:
        if self._client is None:
            models = self._models()
            self._client = SelectionClient(self.settings, lookup=models.get)
        return self._client

    async def record(
        self,
        agent_type: AgentType | str,
        task_id: str,
        model_id: str,
        performance_data: Mapping[str, Any],
    ) -> TaskCompleted:
        """Publish one TaskCompleted from the guide's performance_data; returns it once Kafka has it."""
        event = task_completed_from(
            agent_type, task_id, model_id, performance_data, self.provider_of(model_id)
        )
        await self._publisher.publish(event)
        return event

    async def _summary(self, agent_type: AgentType | str | None, window_hours: float) -> dict[str, Any]:
        name = agent_type_name(agent_type) if agent_type is not None else None
        reply = await self.client.summary(name, window_hours)
        return summary_dict(reply, name, window_hours)

    async def close(self) -> None:
        await self._publisher.close()
        if self._owns_client and self._client is not None:
            await self._client.close()


class PerformanceMonitor(_TaskReporter):
    """Publishes task outcomes (`record`) and reads back windowed per-model performance
    (`get_summary`). The guide's `db_path` is gone: the state is in Kafka (`settings`)."""

    async def get_summary(
        self, agent_type: AgentType | str | None = None, window_hours: float = 24.0
    ) -> dict[str, Any]:
        """Totals over the last `window_hours` (see summary_dict); agent_type None: all agents."""
        return await self._summary(agent_type, window_hours)


class CostTracker(_TaskReporter):
    """Expected cost from registry prices, and spend read back from the streams.

    `record` publishes a TaskCompleted like PerformanceMonitor's: publish each task once,
    through one of them (the facade uses PerformanceMonitor), or it counts twice.
    """

    def estimate_cost(self, model_id: str, input_tokens: int, output_tokens: int) -> float:
        """USD at the registry's list prices; KeyError for a model not in the registry."""
        spec = self._models().get(model_id)
        if spec is None:
            raise KeyError(f"model {model_id!r} is not in the registry")
        return spec.expected_cost(input_tokens, output_tokens)

    async def get_cost_summary(
        self, agent_type: AgentType | str | None = None, window_hours: float = 24.0
    ) -> dict[str, Any]:
        """total_cost and cost_by_model (and the rest of summary_dict) over the window."""
        return await self._summary(agent_type, window_hours)
