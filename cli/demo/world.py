"""The demo's simulated world: the agents' tasks, the models' latency, cost, quality and failures,
and the timeline of a provider outage and a rate-limit storm.

Pure and deterministic: what one call does is a function of (seed, model, task, time offset) only,
never of what was called before. So the live run (selection over Kafka) and a fixed assignment
replayed offline meet exactly the same tasks, the same latencies and the same outage windows.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from modelrouter.agents.selection_client import Strategy
from modelrouter.schemas import ConfigurationError, ModelSpec

from .timeline import Timeline

__all__ = [
    "AGENTS",
    "PROFILES",
    "AgentProfile",
    "CallOutcome",
    "Failure",
    "ModelProfile",
    "SimTask",
    "TaskResult",
    "World",
    "fleet_agents",
    "task_stream",
]


# --- models ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """How a model behaves when its provider is healthy. Latency is lognormal around
    first_token_s + output_tokens / tokens_per_s; the rates are per call."""

    first_token_s: float
    tokens_per_s: float
    quality: float
    error_rate: float = 0.008  # HTTP 500
    timeout_rate: float = 0.003
    rate_limit_rate: float = 0.0005  # HTTP 429 outside any storm
    latency_sigma: float = 0.35


# Latency figures keep the models' real order (time to first token, output speed) but run about
# four times faster than the providers do, so a one-minute demo sees thousands of tasks finish.
# Quality orders the models as their tiers do. Not measurements. Unknown models get their tier's.
PROFILES: Mapping[str, ModelProfile] = MappingProxyType(
    {
        "gpt-4": ModelProfile(0.9, 160, 0.85),
        "gpt-4-turbo": ModelProfile(0.8, 200, 0.87),
        "gpt-4o": ModelProfile(0.45, 400, 0.88),
        "gpt-4o-mini": ModelProfile(0.35, 500, 0.80),
        "gpt-3.5-turbo": ModelProfile(0.3, 550, 0.70),
        "o1": ModelProfile(3.0, 300, 0.95),
        "o3-mini": ModelProfile(1.5, 500, 0.89),
        "claude-3-opus": ModelProfile(1.1, 180, 0.93),
        "claude-3.5-sonnet": ModelProfile(0.7, 320, 0.91),
        "claude-3-sonnet": ModelProfile(0.8, 280, 0.86),
        "claude-3.5-haiku": ModelProfile(0.5, 420, 0.82),
        "claude-3-haiku": ModelProfile(0.35, 550, 0.76),
        "gemini-2.5-pro": ModelProfile(1.5, 350, 0.92),
        "gemini-1.5-pro": ModelProfile(0.8, 300, 0.86),
        "gemini-2.0-flash": ModelProfile(0.3, 700, 0.80),
        "mistral-large-latest": ModelProfile(0.6, 280, 0.85),
        "mistral-small-latest": ModelProfile(0.3, 500, 0.74),
        "codestral-latest": ModelProfile(0.3, 550, 0.80),
        "llama3.1:8b": ModelProfile(0.2, 180, 0.70, error_rate=0.02),
        "qwen2.5-coder:7b": ModelProfile(0.2, 200, 0.72, error_rate=0.02),
    }
)
_TIER_PROFILES: Mapping[str, ModelProfile] = MappingProxyType(
    {
        "premium": ModelProfile(1.0, 200, 0.90),
        "standard": ModelProfile(0.6, 320, 0.85),
        "economy": ModelProfile(0.35, 500, 0.76),
        "local": ModelProfile(0.2, 180, 0.70, error_rate=0.02),
    }
)
_DEFAULT_PROFILE = ModelProfile(0.6, 320, 0.80)


class Failure(StrEnum):
    """How a call fails; the fleet raises the matching provider exception."""

    RATE_LIMITED = "rate_limited"  # HTTP 429 with a retry-after
    TIMEOUT = "timeout"  # no answer within the client's timeout
    SERVER_ERROR = "server_error"  # HTTP 500
    OVERLOADED = "overloaded"  # HTTP 529: the provider sheds load (or is down)


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """What one call to one model did: how long it took, and its cost and quality or its failure."""

    model_id: str
    provider: str
    latency_ms: float
    failure: Failure | None
    input_tokens: int
    output_tokens: int
    cost: float  # USD; 0 when the call failed
    quality: float | None
    retry_after_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


# --- agents and their tasks -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """One kind of agent in the fleet: its share of the traffic, the size of its tasks, and the
    selection strategy it asks for."""

    agent_type: str
    weight: float
    task_type: str
    input_tokens: int  # median
    output_tokens: int  # median
    strategy: Strategy


AGENTS: tuple[AgentProfile, ...] = (
    AgentProfile("SA", 0.20, "system-design", 3000, 450, "quality"),
    AgentProfile("PM", 0.15, "requirements", 1800, 350, "quality"),
    AgentProfile("BA", 0.20, "process-analysis", 2500, 400, "quality"),
    AgentProfile("RESEARCH", 0.15, "literature-review", 12000, 400, "quality"),
    AgentProfile("QUALITY_JUDGE", 0.15, "review", 2500, 120, "quality"),
    # Code changes are judged by tests, not by taste: this agent asks for the cheapest fit.
    AgentProfile("IMPLEMENTATION", 0.15, "code-change", 3500, 600, "cost"),
)


def fleet_agents(agent_types: Iterable[str]) -> tuple[AgentProfile, ...]:
    """Profiles for these agent types (the optimizer config's): the known ones from AGENTS,
    any other with a middling profile and a small share."""
    known = {a.agent_type: a for a in AGENTS}
    out = [
        known.get(t) or AgentProfile(t, 0.08, "general", 2000, 300, "balanced")
        for t in dict.fromkeys(agent_types)
    ]
    if not out:
        raise ConfigurationError("the fleet needs at least one agent type")
    return tuple(out)


@dataclass(frozen=True, slots=True)
class SimTask:
    index: int
    at_s: float  # when the agent starts it, from the start of the run
    agent_type: str
    task_type: str
    input_tokens: int
    output_tokens: int
    strategy: Strategy

    @property
    def task_id(self) -> str:
        return f"task-{self.index:05d}"


def task_stream(
    seed: int, seconds: float, rate: float, agents: Sequence[AgentProfile] = AGENTS
) -> list[SimTask]:
    """Poisson arrivals at `rate` tasks/s over `seconds`, agent types by weight, token counts lognormal."""
    if rate <= 0:
        raise ConfigurationError(f"the task rate must be positive, got {rate}")
    rng = random.Random(f"{seed}:tasks")  # noqa: S311 - a simulation, not security
    weights = [a.weight for a in agents]
    tasks: list[SimTask] = []
    t = rng.expovariate(rate)
    while t < seconds:
        agent = rng.choices(agents, weights)[0]
        tokens_in = max(50, round(agent.input_tokens * rng.lognormvariate(0.0, 0.4)))
        tokens_out = min(4096, max(20, round(agent.output_tokens * rng.lognormvariate(0.0, 0.4))))
        tasks.append(
            SimTask(
                len(tasks),
                round(t, 4),
                agent.agent_type,
                agent.task_type,
                tokens_in,
                tokens_out,
                agent.strategy,
            )
        )
        t += rng.expovariate(rate)
    return tasks


# --- the world -------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    """Answers "what happens if this task calls this model at this moment" (`call`)."""

    seed: int
    timeline: Timeline
    registry: Mapping[str, ModelSpec]
    profiles: Mapping[str, ModelProfile] = field(default_factory=lambda: PROFILES)
    timeout_s: float = 8.0  # the agents' client timeout
    storm_share: float = 0.9  # of calls to the storm model that get a 429 during the storm

    def profile(self, model_id: str) -> ModelProfile:
        found = self.profiles.get(model_id)
        if found is not None:
            return found
        spec = self.registry.get(model_id)
        return _TIER_PROFILES.get(spec.tier, _DEFAULT_PROFILE) if spec is not None else _DEFAULT_PROFILE

    def call(self, model_id: str, task: SimTask, t: float) -> CallOutcome:
        """The outcome of `task` calling `model_id` at `t` seconds into the run.

        The random draws depend on (seed, model, task) only and are always made in the same
        order; the time decides only whether the outage or the storm overrides them. An outage
        also fails the calls in flight when it begins: their connections drop at that moment.
        """
        spec = self.registry.get(model_id)
        if spec is None:
            raise KeyError(f"model {model_id!r} is not in the demo's registry")
        p = self.profile(model_id)
        rng = random.Random(f"{self.seed}:{model_id}:{task.index}")  # noqa: S311 - a simulation
        z_latency, z_quality = rng.gauss(0.0, 1.0), rng.gauss(0.0, 1.0)
        u_fail, u_phase, u_retry, u_fast = rng.random(), rng.random(), rng.random(), rng.random()
        latency_s = (p.first_token_s + task.output_tokens / p.tokens_per_s) * math.exp(
            p.latency_sigma * z_latency
        )
        fast_fail_s = 0.1 + 0.5 * u_fast  # an error answers quickly
        retry_after = float(1 + int(u_retry * 4))  # 1..4 s

        failure: Failure | None = None
        waited_s = fast_fail_s
        outage = self.timeline.outage
        storming = model_id == self.timeline.storm_model and t in self.timeline.storm
        running_until = t + min(latency_s, self.timeout_s)
        if (
            spec.provider == self.timeline.outage_provider
            and t < outage.end_s
            and running_until > outage.start_s
        ):
            failure = Failure.OVERLOADED if u_phase < 0.7 else Failure.SERVER_ERROR
            if t < outage.start_s:  # in flight when the outage began
                waited_s = outage.start_s - t
        elif (storming and u_phase < self.storm_share) or u_fail < p.rate_limit_rate:
            failure = Failure.RATE_LIMITED
        elif u_fail < p.rate_limit_rate + p.timeout_rate or latency_s > self.timeout_s:
            failure = Failure.TIMEOUT
        elif u_fail < p.rate_limit_rate + p.timeout_rate + p.error_rate:
            failure = Failure.SERVER_ERROR

        if failure is None:
            return CallOutcome(
                model_id=model_id,
                provider=spec.provider,
                latency_ms=round(latency_s * 1000.0, 3),
                failure=None,
                input_tokens=task.input_tokens,
                output_tokens=task.output_tokens,
                cost=spec.expected_cost(task.input_tokens, task.output_tokens),
                quality=round(min(1.0, max(0.0, p.quality + 0.05 * z_quality)), 4),
            )
        if failure is Failure.TIMEOUT:
            waited_s = self.timeout_s
        return CallOutcome(
            model_id=model_id,
            provider=spec.provider,
            latency_ms=round(waited_s * 1000.0, 3),
            failure=failure,
            input_tokens=task.input_tokens,
            output_tokens=0,
            cost=0.0,
            quality=None,
            retry_after_s=retry_after if failure is Failure.RATE_LIMITED else None,
        )


@dataclass(frozen=True, slots=True)
class TaskResult:
    """What happened to one task under one policy: every call it made, in order."""

    index: int
    at_s: float
    agent_type: str
    attempts: tuple[CallOutcome, ...]
    finished: bool = True  # False: still running when the run ended (counts as failed)

    @property
    def success(self) -> bool:
        return self.finished and bool(self.attempts) and self.attempts[-1].ok

    @property
    def latency_ms(self) -> float:
        """How long the agent waited for its calls (selection's round trip not included)."""
        return sum(a.latency_ms for a in self.attempts)

    @property
    def cost(self) -> float:
        return sum(a.cost for a in self.attempts)

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(a.model_id for a in self.attempts)
