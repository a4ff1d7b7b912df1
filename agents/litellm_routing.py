"""ModelRouterRouting: a `litellm.Router` routing strategy that asks modelrouter's selection
service which of the requested model group's deployments to call. Part of the LiteLLM bridge
(`pip install 'modelrouter[litellm]'`); see litellm_bridge.install.

A deployment maps to a registry model through `model_info["modelrouter_model"]`, else its
`litellm_params.model` without the provider prefix ("openai/gpt-4o" -> "gpt-4o").
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from litellm import Router
from litellm.types.router import CustomRoutingStrategyBase

from modelrouter.schemas import BaseAssignment, SelectionReply, Settings, TaskInfo

from .selection_client import SelectionClient, Strategy

__all__ = [
    "REGISTRY_MODEL_KEY",
    "SELECTION_KEY",
    "ModelRouterRouting",
    "deployment_model",
    "registry_model_of",
]

log = logging.getLogger("modelrouter.agents.litellm")

REGISTRY_MODEL_KEY = "modelrouter_model"  # in a deployment's model_info: its registry model_id
SELECTION_KEY = "modelrouter_selection"  # in the call's metadata and the response's _hidden_params
_ID_MAX = 128
_NAME_MAX = 64


def registry_model_of(model_info: Any, model: Any) -> str:
    """The registry model_id of a deployment (or of a call LiteLLM logged)."""
    if isinstance(model_info, Mapping):
        named = model_info.get(REGISTRY_MODEL_KEY)
        if isinstance(named, str) and named:
            return named[:_ID_MAX]
    name = str(model) if model else "unknown"
    return name.split("/", 1)[-1][:_ID_MAX] or "unknown"


def deployment_model(deployment: Mapping[str, Any]) -> str:
    params = deployment.get("litellm_params") or {}
    return registry_model_of(deployment.get("model_info"), params.get("model"))


def _weight(deployment: Mapping[str, Any]) -> float:
    params = deployment.get("litellm_params") or {}
    for name in ("weight", "rpm", "tpm"):
        value = params.get(name)
        if isinstance(value, int | float) and value > 0:
            return float(value)
    return 1.0


class ModelRouterRouting(CustomRoutingStrategyBase):  # type: ignore[misc]  # litellm's base is untyped
    """Chooses a deployment of the requested group: LiteLLM's healthy deployments (its
    cooldowns applied) are offered to modelrouter, whose ranking decides; the first ranked
    model that the group has wins. No reply within `deadline_ms` (default
    `settings.litellm_deadline_ms`, 50 ms), or no group model ranked: LiteLLM's own pick
    stands (simple-shuffle, its default strategy). Either way the choice and its reasoning go
    into the call's metadata under "modelrouter_selection" (and, with the bridge's logger
    installed, onto the response's `_hidden_params`).
    """

    def __init__(
        self,
        router: Router,
        settings: Settings,
        *,
        client: SelectionClient | None = None,
        agent_type: str = "litellm",
        deadline_ms: int | None = None,
        strategy: Strategy = "balanced",
        rng: random.Random | None = None,
    ) -> None:
        self.router = router
        self.settings = settings
        self._own_client = client is None
        self.client = client if client is not None else SelectionClient(settings)
        self.agent_type = agent_type
        self.deadline_ms = deadline_ms or settings.litellm_deadline_ms
        self.strategy: Strategy = strategy
        self._rng = rng or random.Random()  # noqa: S311 - load spreading, not crypto
        self.followed = 0  # calls routed as modelrouter ranked them
        self.litellm_picks = 0  # calls where LiteLLM's own pick stood

    def register(self) -> None:
        """Make this the Router's strategy (`register_plugin`, or the older
        `set_custom_routing_strategy` on LiteLLM releases without it)."""
        register = getattr(self.router, "register_plugin", None)
        if register is None:
            register = self.router.set_custom_routing_strategy
        register(self)

    def _shuffle(self, deployments: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
        weights = [_weight(d) for d in deployments]
        return self._rng.choices(list(deployments), weights=weights)[0]

    async def async_get_available_deployment(
        self,
        model: str,
        messages: list[dict[str, str]] | None = None,
        input: str | list[object] | None = None,
        specific_deployment: bool | None = False,
        request_kwargs: dict[str, Any] | None = None,
    ) -> Mapping[str, Any]:
        kwargs = request_kwargs if isinstance(request_kwargs, dict) else {}
        # The deployments LiteLLM itself would choose among (cooldowns and checks applied).
        healthy = await self.router.select(model, dict(kwargs), kind="healthy")
        candidates = [healthy] if isinstance(healthy, Mapping) else list(healthy)
        if len(candidates) <= 1 or specific_deployment:
            return candidates[0] if candidates else healthy
        own = self._shuffle(candidates)
        metadata = kwargs.get("metadata")
        if not isinstance(metadata, dict):
            metadata = kwargs["metadata"] = {}
        reply = await self._ask(model, metadata, deployment_model(own))
        chosen, why, followed = self._choose(reply, candidates, own)
        metadata[SELECTION_KEY] = {
            "model_id": deployment_model(chosen),
            "deployment_id": (chosen.get("model_info") or {}).get("id"),
            "chosen_by": "modelrouter" if followed else "litellm",
            "reasoning": why,
            "score": reply.score if followed else None,
        }
        if followed:
            self.followed += 1
        else:
            self.litellm_picks += 1
        return chosen

    async def _ask(self, group: str, metadata: Mapping[str, Any], own_model: str) -> SelectionReply:
        agent = str(metadata.get("agent_type") or self.agent_type)[:_NAME_MAX]
        task_id = str(metadata.get("task_id") or uuid.uuid4().hex)[:_ID_MAX]
        # LiteLLM's pick is the base assignment: what stands when the reply is late.
        base = BaseAssignment(
            role_type="litellm-router", model_tier=group[:_NAME_MAX], primary_model=own_model,
            fallback_model=own_model,
        )  # fmt: skip
        request = self.client.request(
            agent, TaskInfo(task_id=task_id), base_assignment=base, strategy=self.strategy
        )
        return await self.client.select(request, deadline_ms=self.deadline_ms)

    @staticmethod
    def _choose(
        reply: SelectionReply, candidates: Sequence[Mapping[str, Any]], own: Mapping[str, Any]
    ) -> tuple[Mapping[str, Any], str, bool]:
        if reply.fallback_used:
            return own, f"LiteLLM's pick stands: {reply.reasoning}", False
        by_model: dict[str, Mapping[str, Any]] = {}
        for deployment in candidates:
            by_model.setdefault(deployment_model(deployment), deployment)
        ranked = [reply.selected_model_id, *(a.model_id for a in reply.alternatives)]
        for rank, model_id in enumerate(ranked):
            if model_id in by_model:
                if rank == 0:
                    return by_model[model_id], reply.reasoning, True
                return (
                    by_model[model_id],
                    f"{model_id}: ranked {rank + 1} by modelrouter, the best of this group's "
                    f"healthy deployments (modelrouter's first choice was {reply.selected_model_id})",
                    True,
                )
        rejected = "; ".join(f"{r.model_id}: {r.reason}" for r in reply.rejected if r.model_id in by_model)
        return (
            own,
            f"LiteLLM's pick stands: modelrouter ranked none of {sorted(by_model)} ({rejected})",
            False,
        )

    def get_available_deployment(
        self,
        model: str,
        messages: list[dict[str, str]] | None = None,
        input: str | list[object] | None = None,
        specific_deployment: bool | None = False,
        request_kwargs: dict[str, Any] | None = None,
    ) -> Mapping[str, Any] | None:
        """Sync calls (`router.completion`) cannot wait for a Kafka reply: LiteLLM's shuffle."""
        deployments = self.router.registry().deployments(model) or []
        return self._shuffle(deployments) if deployments else None

    async def close(self) -> None:
        if self._own_client:
            await self.client.close()
