"""LiteLLM to modelrouter (`pip install 'modelrouter[litellm]'`): a CustomLogger that publishes
every `litellm.acompletion` / `litellm.Router` call as events, quality reported after the fact,
and `install()`, the one call that wires both (and modelrouter's routing) in.

    from modelrouter.agents import litellm_bridge
    bridge = litellm_bridge.install(settings, router=router)  # router optional

Imported on its own, never from `modelrouter.agents`: the core does not need litellm.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import litellm
from litellm import Router
from litellm.integrations.custom_logger import CustomLogger

from modelrouter.schemas import (
    Failover,
    FailoverReason,
    ModelRouterError,
    QualityReported,
    RateLimited,
    Settings,
    TaskCompleted,
)

from .event_queue import EventQueue
from .failures import classify_failure, limit_kind_of, retry_after_seconds
from .litellm_routing import SELECTION_KEY, ModelRouterRouting, registry_model_of
from .publisher import EventPublisher, build_event

__all__ = ["DEFAULT_AGENT_TYPE", "LiteLLMBridge", "ModelRouterLogger", "install"]

log = logging.getLogger("modelrouter.agents.litellm")

DEFAULT_AGENT_TYPE = "litellm"  # when a call's metadata names no agent_type
_UNKNOWN_PROVIDER = "unknown"
_REMEMBERED_TASKS = 10_000  # task_id -> (model, agent type), for report_quality


def _metadata(kwargs: Mapping[str, Any]) -> Mapping[str, Any]:
    params = kwargs.get("litellm_params") or {}
    found = params.get("metadata") or kwargs.get("metadata") or {}
    return found if isinstance(found, Mapping) else {}


def _text(value: Any, default: str, limit: int) -> str:
    return str(value)[:limit] if value not in (None, "") else default


def _ms_between(start: Any, end: Any) -> float:
    if isinstance(start, datetime) and isinstance(end, datetime):
        return max(0.0, (end - start) / timedelta(milliseconds=1))
    if isinstance(start, int | float) and isinstance(end, int | float):
        return max(0.0, (end - start) * 1000.0)
    return 0.0


def _usage(response: Any) -> tuple[int, int]:
    usage = getattr(response, "usage", None)
    if usage is None and isinstance(response, Mapping):
        usage = response.get("usage")
    if usage is None:
        return 0, 0

    def field(name: str) -> int:
        value = usage.get(name) if isinstance(usage, Mapping) else getattr(usage, name, None)
        return value if isinstance(value, int) and value >= 0 else 0

    return field("prompt_tokens"), field("completion_tokens")


class ModelRouterLogger(CustomLogger):  # type: ignore[misc]  # litellm's base class is untyped
    """Publishes, for every LiteLLM call: a TaskCompleted on success and on failure, a
    RateLimited on a 429 (retry-after from the response headers), and a Failover when a
    Router falls back from one model group to another. `agent_type` and `task_id` come from
    the call's `metadata` (defaults: "litellm" and LiteLLM's call id).

    Events go through an EventQueue: nothing here awaits the broker, and nothing raises into
    LiteLLM. `dropped` says how many events were lost (broker down and queue full).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        publisher: EventPublisher | None = None,
        max_queued: int = 10_000,
        default_agent_type: str = DEFAULT_AGENT_TYPE,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.events = EventQueue(settings, publisher=publisher, max_events=max_queued)
        self.default_agent_type = default_agent_type
        self._tasks: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._group_models: dict[str, str] = {}  # Router model group -> registry model seen last
        self._deployment_models: dict[str, str] = {}  # Router deployment id -> registry model

    @property
    def dropped(self) -> int:
        return self.events.dropped

    # --- what a call is ------------------------------------------------------------------

    def _call_fields(self, kwargs: Mapping[str, Any], start: Any, end: Any) -> dict[str, Any]:
        metadata = _metadata(kwargs)
        model = registry_model_of(metadata.get("model_info"), kwargs.get("model"))
        group = metadata.get("model_group")
        if isinstance(group, str) and group:
            self._group_models[group] = model
        info = metadata.get("model_info")
        if isinstance(info, Mapping) and isinstance(info.get("id"), str):
            self._deployment_models[info["id"]] = model
        task_id = _text(metadata.get("task_id") or kwargs.get("litellm_call_id"), "unknown", 128)
        return {
            "agent_type": _text(metadata.get("agent_type"), self.default_agent_type, 64),
            "task_id": task_id,
            "model_id": model,
            "provider": _text(kwargs.get("custom_llm_provider"), _UNKNOWN_PROVIDER, 64),
            "latency_ms": _ms_between(start, end),
        }

    def _remember(self, task_id: str, model: str, agent_type: str) -> None:
        self._tasks[task_id] = (model, agent_type)
        self._tasks.move_to_end(task_id)
        while len(self._tasks) > _REMEMBERED_TASKS:
            self._tasks.popitem(last=False)

    def _put(self, build: type[Any], **fields: Any) -> None:
        try:
            self.events.put(build(**fields))
        except Exception:  # a value LiteLLM gave us breaks the contract: say so, never raise
            log.exception("could not build a %s event from a LiteLLM call", build.__name__)

    # --- LiteLLM's hooks -----------------------------------------------------------------

    async def async_log_success_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        fields = self._call_fields(kwargs, start_time, end_time)
        input_tokens, output_tokens = _usage(response_obj)
        cost = kwargs.get("response_cost")
        self._remember(fields["task_id"], fields["model_id"], fields["agent_type"])
        self._put(
            TaskCompleted,
            **fields,
            success=True,
            cost=float(cost) if isinstance(cost, int | float) and cost >= 0 else 0.0,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
        )

    async def async_log_failure_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        fields = self._call_fields(kwargs, start_time, end_time)
        exc = kwargs.get("exception")
        reason = classify_failure(exc) if isinstance(exc, BaseException) else FailoverReason.ERROR
        self._put(
            TaskCompleted,
            **fields,
            success=False,
            cost=0.0,
            input_tokens=0,
            output_tokens=0,
            error_type=reason.value,
        )
        if reason is FailoverReason.RATE_LIMITED and isinstance(exc, BaseException):
            self._put(
                RateLimited,
                agent_type=fields["agent_type"],
                task_id=fields["task_id"],
                model_id=fields["model_id"],
                provider=fields["provider"],
                retry_after_s=retry_after_seconds(exc),
                limit_kind=limit_kind_of(exc),
            )

    async def log_success_fallback_event(
        self, original_model_group: str, kwargs: dict[str, Any], original_exception: Exception
    ) -> None:
        self._fallback(original_model_group, kwargs, original_exception)

    async def log_failure_fallback_event(
        self, original_model_group: str, kwargs: dict[str, Any], original_exception: Exception
    ) -> None:
        self._fallback(original_model_group, kwargs, original_exception)

    def _fallback(self, original_group: str, kwargs: Mapping[str, Any], exc: BaseException) -> None:
        metadata = _metadata(kwargs)
        # The fallback call's metadata names the deployment it went to, and lists the
        # deployments tried before it (`previous_models`), the failed one last.
        alternative = registry_model_of(
            metadata.get("model_info"), metadata.get("deployment") or kwargs.get("model")
        )
        original = self._group_models.get(original_group, original_group)
        previous = metadata.get("previous_models")
        if isinstance(previous, list | tuple):
            tried = [p for p in previous if isinstance(p, Mapping) and p.get("model_group") == original_group]
            if tried:
                last = tried[-1]
                original = self._deployment_models.get(
                    str(last.get("deployment_id")), ""
                ) or registry_model_of(None, last.get("model"))
        self._put(
            Failover,
            agent_type=_text(metadata.get("agent_type"), self.default_agent_type, 64),
            task_id=_text(metadata.get("task_id") or kwargs.get("litellm_call_id"), "unknown", 128),
            original_model=original[:128],
            alternative_model=alternative,
            reason=classify_failure(exc),
        )

    async def async_post_call_success_deployment_hook(
        self, request_data: dict[str, Any], response: Any, call_type: Any
    ) -> Any:
        """Puts modelrouter's choice (and its reasoning) on the response's `_hidden_params`."""
        selection = _metadata(request_data).get(SELECTION_KEY)
        hidden = getattr(response, "_hidden_params", None)
        if selection is not None and isinstance(hidden, dict):
            hidden[SELECTION_KEY] = selection
        return response

    # --- after the call ------------------------------------------------------------------

    def report_quality(
        self, task_id: str, score: float, *, model_id: str | None = None, agent_type: str | None = None
    ) -> QualityReported:
        """Publish the quality (0..1) of a task this logger saw (or name its model_id).

        Returns the event at once (validated: InvalidEventError for a score outside 0..1);
        it is sent in the background like the others.
        """
        known = self._tasks.get(task_id)
        model = model_id or (known[0] if known else None)
        if model is None:
            raise ModelRouterError(
                f"no LiteLLM call with task_id {task_id!r} was seen here (or it is older than the "
                f"last {_REMEMBERED_TASKS} calls); pass model_id= to report its quality"
            )
        agent = agent_type or (known[1] if known else self.default_agent_type)
        event = build_event(
            QualityReported,
            {"task_id": task_id, "model_id": model, "agent_type": agent, "quality_score": score},
        )
        self.events.put(event)
        return event

    async def flush(self, timeout_s: float = 10.0) -> bool:
        return await self.events.flush(timeout_s)

    def unregister(self) -> None:
        """Leave every litellm callback list (litellm copies `callbacks` into several, and adds
        no second logger with the same class and public settings while this one is there)."""
        manager = getattr(litellm, "logging_callback_manager", None)
        if manager is not None:
            manager.remove_callback_from_all_lists(self)
        elif self in litellm.callbacks:
            litellm.callbacks.remove(self)

    async def close(self, timeout_s: float = 10.0) -> None:
        """Leave litellm's callbacks, send what is queued (for at most `timeout_s`), stop."""
        self.unregister()
        await self.events.close(timeout_s)


class LiteLLMBridge:
    """What `install()` wired in: the logger, and the routing strategy when a Router was given."""

    def __init__(self, logger: ModelRouterLogger, routing: ModelRouterRouting | None) -> None:
        self.logger = logger
        self.routing = routing

    def report_quality(self, task_id: str, score: float, **kwargs: Any) -> QualityReported:
        return self.logger.report_quality(task_id, score, **kwargs)

    async def close(self) -> None:
        """Remove the logger from litellm's callbacks, flush its events, close the selection client."""
        await self.logger.close()
        if self.routing is not None:
            await self.routing.close()


def install(
    settings: Settings,
    *,
    router: Router | None = None,
    agent_type: str = DEFAULT_AGENT_TYPE,
    publisher: EventPublisher | None = None,
) -> LiteLLMBridge:
    """Publish every LiteLLM call to modelrouter and, with a Router, let modelrouter choose its
    deployments. LiteLLM keeps one global callback list, so the logger goes there."""
    logger = ModelRouterLogger(settings, publisher=publisher, default_agent_type=agent_type)
    litellm.callbacks.append(logger)
    routing = None
    if router is not None:
        routing = ModelRouterRouting(router, settings, agent_type=agent_type)
        routing.register()
    return LiteLLMBridge(logger, routing)
