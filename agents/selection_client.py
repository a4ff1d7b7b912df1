"""SelectionClient: asks the selection service which model to call, with a deadline per request;
past it (or with no broker), the base assignment's fallback model. Transport: ReplyChannel.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Literal

from aiokafka.errors import KafkaError

from modelrouter.schemas import (
    TEXT_MAX,
    Alternative,
    APIModelError,
    BaseAssignment,
    Constraints,
    ErrorReply,
    HealthReply,
    HealthRequest,
    ModelSpec,
    Reply,
    SelectionBrokerUnavailable,
    SelectionReply,
    SelectionRequest,
    SelectionTimeout,
    Settings,
    SummaryReply,
    SummaryRequest,
    TaskInfo,
    WorkerErrorReply,
    encode,
)

from .reply_channel import ReplyChannel, describe_exception

__all__ = ["SelectionClient", "Strategy", "fallback_reply"]

log = logging.getLogger("modelrouter.agents.selection")

Strategy = Literal["balanced", "cost", "latency", "quality"]
ModelLookup = Callable[[str], ModelSpec | None]

_UNKNOWN_PROVIDER = "unknown"


def fallback_reply(
    request_id: str, base: BaseAssignment, why: str, lookup: ModelLookup | None = None
) -> SelectionReply:
    """The answer to a request that got none: the base assignment's fallback model, saying why."""
    spec = lookup(base.fallback_model) if lookup is not None else None
    reasoning = f"{why}; using the base assignment's fallback model {base.fallback_model}"
    alternatives = (
        (Alternative(model_id=base.primary_model, score=0.0),)
        if base.primary_model != base.fallback_model
        else ()
    )
    return SelectionReply(
        request_id=request_id,
        selected_model_id=base.fallback_model,
        provider=spec.provider if spec is not None else _UNKNOWN_PROVIDER,
        endpoint=spec.endpoint if spec is not None else None,
        score=0.0,
        reasoning=reasoning[:TEXT_MAX],
        alternatives=alternatives,
        fallback_used=True,
    )


class SelectionClient(ReplyChannel):
    """Sends SelectionRequests and SummaryRequests and waits for their replies.

    `select()` never waits past its deadline (default `settings.selection_deadline_ms`): on
    time it returns the service's SelectionReply; late, or with no broker, it logs a warning
    and returns `fallback_reply` (fallback_used=True, the reason in `reasoning`), or raises
    when asked to (`raise_on_timeout=True`) or when there is no base assignment. Errors name
    the part that failed: SelectionBrokerUnavailable (the broker did not take the request),
    SelectionTimeout (it did; no worker answered), WorkerErrorReply (a worker answered with
    an error). All three are APIModelErrors.

    Use `async with SelectionClient(settings) as client:` to connect up front (raises when
    the broker is unreachable), or just call `select()`: it connects in the background.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        lookup: ModelLookup | None = None,
        summary_deadline_ms: int = 5000,
        reconnect_after_s: float = 2.0,
        connect_timeout_s: float = 15.0,
    ) -> None:
        super().__init__(settings, reconnect_after_s=reconnect_after_s, connect_timeout_s=connect_timeout_s)
        self._lookup = lookup
        self._summary_deadline_ms = summary_deadline_ms
        # Counters, for benchmarks and tests.
        self.answered = 0
        self.fallbacks = 0

    # --- requests ------------------------------------------------------------------

    def request(
        self,
        agent_type: str,
        task: TaskInfo,
        *,
        base_assignment: BaseAssignment | None = None,
        constraints: Constraints | None = None,
        strategy: Strategy = "balanced",
        explore: bool = False,
        deadline_ms: int | None = None,
    ) -> SelectionRequest:
        """A SelectionRequest addressed to this client's reply topic, with a fresh request_id."""
        return SelectionRequest(
            request_id=uuid.uuid4().hex,
            reply_to=self.reply_topic,
            agent_type=agent_type,
            task=task,
            base_assignment=base_assignment,
            constraints=constraints,
            strategy=strategy,
            explore=explore,
            deadline_ms=deadline_ms,
        )

    async def select(
        self,
        request: SelectionRequest,
        *,
        deadline_ms: int | None = None,
        raise_on_timeout: bool = False,
    ) -> SelectionReply:
        """The selection service's answer to `request` (its reply_to is set to this client's topic)."""
        deadline = deadline_ms or request.deadline_ms or self.settings.selection_deadline_ms
        if request.reply_to != self.reply_topic or request.deadline_ms != deadline:
            request = request.model_copy(update={"reply_to": self.reply_topic, "deadline_ms": deadline})
        servers = self.settings.bootstrap_servers
        try:
            reply = await self._round_trip(request.request_id, encode(request), deadline, "selection")
        except SelectionBrokerUnavailable as exc:
            return self._fall_back(request, str(exc), raise_on_timeout, exc)
        except TimeoutError:
            why = (
                f"no selection reply within {deadline} ms (deadline): no worker answered "
                f"(the broker at {servers} is connected)"
            )
            return self._fall_back(request, why, raise_on_timeout, None)
        except (KafkaError, OSError) as exc:
            why = f"broker unreachable: cannot reach Kafka at {servers} ({describe_exception(exc)})"
            error = SelectionBrokerUnavailable(why, servers)
            return self._fall_back(request, why, raise_on_timeout, error)
        if isinstance(reply, ErrorReply):
            raise WorkerErrorReply(
                f"the worker answered with an error: {reply.error.code}: {reply.error.message}",
                reply.error.code,
            )
        if not isinstance(reply, SelectionReply):
            raise APIModelError(
                f"expected a selection reply to {request.request_id}, got a {reply.kind} reply"
            )
        self.answered += 1
        return reply

    def _fall_back(
        self,
        request: SelectionRequest,
        why: str,
        raise_on_timeout: bool,
        broker_error: SelectionBrokerUnavailable | None,
    ) -> SelectionReply:
        """The fallback reply; or, when asked to raise (or with no base assignment), the
        error of the part that failed: the broker (SelectionBrokerUnavailable) or no worker
        answering (SelectionTimeout)."""
        base = request.base_assignment
        if raise_on_timeout or base is None:
            if base is None:
                why += "; the request has no base assignment to fall back on"
            servers = self.settings.bootstrap_servers
            if broker_error is not None:
                raise SelectionBrokerUnavailable(
                    f"{why}; check that the broker runs and MODELROUTER_BOOTSTRAP_SERVERS ({servers})",
                    servers,
                ) from broker_error.__cause__
            raise SelectionTimeout(f"{why}; retry, or check that a modelrouter worker runs")
        reply = fallback_reply(request.request_id, base, why, self._lookup)
        self.fallbacks += 1
        log.warning(
            "selection for agent %s, task %s fell back to %s: %s",
            request.agent_type,
            request.task.task_id,
            reply.selected_model_id,
            why,
        )
        return reply

    async def summary(
        self, agent_type: str | None, window_hours: float = 24.0, *, deadline_ms: int | None = None
    ) -> SummaryReply:
        """Totals over the last `window_hours` for one agent type (None: all agents).

        No fallback: raises SelectionBrokerUnavailable when the broker is unreachable,
        SelectionTimeout when no worker replies in time, WorkerErrorReply on an error reply.
        """
        request = SummaryRequest(
            request_id=uuid.uuid4().hex,
            reply_to=self.reply_topic,
            agent_type=agent_type,
            window_hours=float(window_hours),
        )
        reply = await self._query(request.request_id, encode(request), "summary", deadline_ms)
        if not isinstance(reply, SummaryReply):
            raise APIModelError(f"expected a summary reply to {request.request_id}, got a {reply.kind} reply")
        return reply

    async def health(self, *, deadline_ms: int | None = None) -> HealthReply:
        """Every model's circuit state, cooldown and recent failures, as a worker's selection
        judges them now. Raises as summary() does."""
        request = HealthRequest(request_id=uuid.uuid4().hex, reply_to=self.reply_topic)
        reply = await self._query(request.request_id, encode(request), "health", deadline_ms)
        if not isinstance(reply, HealthReply):
            raise APIModelError(f"expected a health reply to {request.request_id}, got a {reply.kind} reply")
        return reply

    async def _query(self, request_id: str, value: bytes, what: str, deadline_ms: int | None) -> Reply:
        """The reply to a summary or health request; raises as summary() documents."""
        deadline = deadline_ms or self._summary_deadline_ms
        servers = self.settings.bootstrap_servers
        try:
            reply = await self._round_trip(request_id, value, deadline, what)
        except SelectionBrokerUnavailable as exc:
            raise SelectionBrokerUnavailable(
                f"{exc}; check that the broker runs and MODELROUTER_BOOTSTRAP_SERVERS ({servers})",
                servers,
            ) from None
        except TimeoutError:
            raise SelectionTimeout(
                f"no {what} reply within {deadline} ms: no worker answered (the broker at "
                f"{servers} is connected); check that a modelrouter worker runs"
            ) from None
        except (KafkaError, OSError) as exc:
            raise SelectionBrokerUnavailable(
                f"broker unreachable: cannot reach Kafka at {servers} ({describe_exception(exc)}); "
                "check that the broker runs and MODELROUTER_BOOTSTRAP_SERVERS",
                servers,
            ) from exc
        if isinstance(reply, ErrorReply):
            raise WorkerErrorReply(
                f"the worker answered the {what} with an error: {reply.error.code}: {reply.error.message}",
                reply.error.code,
            )
        return reply
