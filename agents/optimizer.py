"""The guide's ModelOptimizer: a hierarchical base assigner (agent type -> role -> tier -> models)
read from config/optimizer.json, and the value types it trades in (AgentType, AgentTask, ModelAssignment).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelrouter.schemas import (
    ID_MAX,
    NAME_MAX,
    BaseAssignment,
    ConfigurationError,
    InvalidEventError,
    ModelSpec,
    TaskInfo,
)
from modelrouter.schemas.base import Id, Name
from modelrouter.schemas.errors import describe_errors

from .registry_config import REGISTRY_FILENAME, default_config_dir, load_registry, read_config_file

__all__ = [
    "OPTIMIZER_FILENAME",
    "AgentTask",
    "AgentType",
    "ModelAssignment",
    "ModelOptimizer",
    "ResourceConstraint",
    "agent_type_name",
]

log = logging.getLogger(__name__)

OPTIMIZER_FILENAME = "optimizer.json"


class AgentType(StrEnum):
    """The guide's agent types. The value is what goes on the wire (`"SA"`, `"PM"`, ...);
    any other string up to 64 characters is a valid agent type too."""

    PM = "PM"  # product manager
    BA = "BA"  # business analyst
    SA = "SA"  # solution architect
    RESEARCH = "RESEARCH"
    QUALITY_JUDGE = "QUALITY_JUDGE"
    IMPLEMENTATION = "IMPLEMENTATION"


class ResourceConstraint(StrEnum):
    """What `select_model_for_agent` weighs when choosing between an assignment's two models.

    BUDGET prefers the cheaper model for the task's estimated tokens (1k in, 1k out when
    the task gives no estimate); THROUGHPUT the higher tokens-per-minute limit; CONCURRENCY
    the higher requests-per-minute limit (no limit beats any limit). LATENCY cannot be told
    from static config: it leaves the choice alone, and the selection service answers it
    from measured p95 latency (`Constraints.max_latency_ms`).
    """

    BUDGET = "budget"
    CONCURRENCY = "concurrency"
    LATENCY = "latency"
    THROUGHPUT = "throughput"


def agent_type_name(agent_type: AgentType | str) -> str:
    """The wire string of an agent type: the enum's value, or the string itself."""
    name = agent_type.value if isinstance(agent_type, AgentType) else agent_type
    if not isinstance(name, str):
        raise TypeError(f"agent_type must be an AgentType or a str, not {type(agent_type).__name__}")
    if not 1 <= len(name) <= NAME_MAX:
        raise ValueError(f"agent_type must be 1 to {NAME_MAX} characters, got {name!r:.80}")
    return name


def _new_task_id() -> str:
    return uuid.uuid4().hex


@dataclass(kw_only=True, slots=True)
class AgentTask:
    """A task an agent is about to run. The guide reads `task.id`; `task_id`/`task_type` are
    the wire names. Token estimates, when given, let the optimizer and the selection
    service check context windows and expected cost."""

    id: str = field(default_factory=_new_task_id)
    type: str = ""
    description: str = ""
    estimated_input_tokens: int | None = None
    estimated_output_tokens: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not 1 <= len(self.id) <= ID_MAX:
            raise ValueError(f"AgentTask.id must be a string of 1 to {ID_MAX} characters")
        if not isinstance(self.type, str) or len(self.type) > NAME_MAX:
            raise ValueError(f"AgentTask.type must be a string of at most {NAME_MAX} characters")
        for name in ("estimated_input_tokens", "estimated_output_tokens"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"AgentTask.{name} must be a non-negative int or None, got {value!r}")

    @property
    def task_id(self) -> str:
        return self.id

    @property
    def task_type(self) -> str | None:
        return self.type or None

    @property
    def estimated_total_tokens(self) -> int | None:
        """Input plus output estimate (what must fit a context window); None if neither is known."""
        if self.estimated_input_tokens is None and self.estimated_output_tokens is None:
            return None
        return (self.estimated_input_tokens or 0) + (self.estimated_output_tokens or 0)

    def to_task_info(self) -> TaskInfo:
        """The task as a selection request carries it."""
        return TaskInfo(
            task_id=self.id,
            task_type=self.task_type,
            estimated_input_tokens=self.estimated_input_tokens,
            estimated_output_tokens=self.estimated_output_tokens,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelAssignment:
    """What the hierarchy assigns an agent type: its role, the role's tier, a primary and a
    fallback model, and the call settings for the role."""

    role_type: str
    model_tier: str
    primary_model: str
    fallback_model: str
    required_capabilities: tuple[str, ...] = ()
    max_tokens: int | None = None
    temperature: float | None = None
    max_concurrent_instances: int = 1

    @property
    def recommended_model(self) -> str:
        """The original ModelOptimizer's name for the primary model."""
        return self.primary_model

    def get_effective_model(self, prefer_fallback: bool = False) -> str:
        return self.fallback_model if prefer_fallback else self.primary_model

    def to_base_assignment(self) -> BaseAssignment:
        """The assignment as a selection request carries it (`base_assignment`)."""
        try:
            return BaseAssignment(
                role_type=self.role_type,
                model_tier=self.model_tier,
                primary_model=self.primary_model,
                fallback_model=self.fallback_model,
            )
        except ValidationError as exc:
            raise InvalidEventError("BaseAssignment", exc.errors(include_url=False)) from None


# --- config/optimizer.json -------------------------------------------------------------


class _Entry(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid", allow_inf_nan=False)


class _AgentTypeEntry(_Entry):
    role: Name
    aliases: tuple[Name, ...] = ()
    description: str = ""


class _RoleEntry(_Entry):
    tier: Name
    primary_model: Id | None = None
    fallback_model: Id | None = None
    required_capabilities: tuple[Name, ...] = ()
    max_tokens: Annotated[int, Field(gt=0)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    max_concurrent_instances: Annotated[int, Field(gt=0)] = 1
    description: str = ""


class _TierEntry(_Entry):
    primary_model: Id
    fallback_model: Id
    description: str = ""


class _OptimizerFile(_Entry):
    description: str = ""
    default_role: Name
    agent_types: dict[Name, _AgentTypeEntry]
    roles: dict[Name, _RoleEntry]
    tiers: dict[Name, _TierEntry]


@dataclass(frozen=True, slots=True)
class _Hierarchy:
    by_agent_type: dict[str, ModelAssignment]  # canonical agent type -> assignment
    names: dict[str, str]  # casefolded name or alias -> canonical agent type
    default: ModelAssignment


def _model_problems(
    where: str, model_id: str, registry: Mapping[str, ModelSpec], tier: str | None
) -> list[str]:
    """Problems with one model named at `where`; `tier` is the tier a primary model must have."""
    spec = registry.get(model_id)
    if spec is None:
        return [
            f"{where}: {model_id!r} is not in the model registry; add it there or name one of "
            f"{sorted(registry)}"
        ]
    if not spec.enabled:
        return [f"{where}: {model_id!r} is disabled in the model registry; enable it or name another model"]
    if tier is not None and spec.tier != tier:
        return [f"{where}: {model_id!r} is a {spec.tier!r} model in the registry, not {tier!r}"]
    return []


def _build_hierarchy(cfg: _OptimizerFile, registry: Mapping[str, ModelSpec]) -> _Hierarchy:
    problems: list[str] = []

    for tier_name, tier in cfg.tiers.items():
        where = f"tiers.{tier_name}"
        problems += _model_problems(f"{where}.primary_model", tier.primary_model, registry, tier_name)
        problems += _model_problems(f"{where}.fallback_model", tier.fallback_model, registry, None)
        if tier.primary_model == tier.fallback_model:
            problems.append(f"{where}: primary_model and fallback_model are both {tier.primary_model!r}")

    by_role: dict[str, ModelAssignment] = {}
    for role_name, role in cfg.roles.items():
        where = f"roles.{role_name}"
        role_tier = cfg.tiers.get(role.tier)
        if role_tier is None:
            problems.append(f"{where}.tier: unknown tier {role.tier!r}; known tiers: {sorted(cfg.tiers)}")
            continue
        found = True
        if role.primary_model is not None:
            bad = _model_problems(f"{where}.primary_model", role.primary_model, registry, role.tier)
            problems += bad
            found = found and not bad
        if role.fallback_model is not None:
            bad = _model_problems(f"{where}.fallback_model", role.fallback_model, registry, None)
            problems += bad
            found = found and not bad
        primary = role.primary_model or role_tier.primary_model
        fallback = role.fallback_model or role_tier.fallback_model
        overridden = role.primary_model is not None or role.fallback_model is not None
        if overridden and primary == fallback:
            problems.append(f"{where}: primary and fallback model are both {primary!r}")
        if not (found and primary in registry and fallback in registry):
            continue  # already reported, under the role or its tier
        for kind, model_id in (("primary", primary), ("fallback", fallback)):
            missing = [c for c in role.required_capabilities if c not in registry[model_id].capabilities]
            if missing:
                problems.append(
                    f"{where}.required_capabilities: {kind} model {model_id!r} lacks {missing} "
                    "in the model registry"
                )
        by_role[role_name] = ModelAssignment(
            role_type=role_name,
            model_tier=role.tier,
            primary_model=primary,
            fallback_model=fallback,
            required_capabilities=role.required_capabilities,
            max_tokens=role.max_tokens,
            temperature=role.temperature,
            max_concurrent_instances=role.max_concurrent_instances,
        )

    if cfg.default_role not in cfg.roles:
        problems.append(f"default_role: unknown role {cfg.default_role!r}; known roles: {sorted(cfg.roles)}")

    names: dict[str, str] = {}
    for agent_type, entry in cfg.agent_types.items():
        where = f"agent_types.{agent_type}"
        if entry.role not in cfg.roles:
            problems.append(f"{where}.role: unknown role {entry.role!r}; known roles: {sorted(cfg.roles)}")
        for name in (agent_type, *entry.aliases):
            owner = names.setdefault(name.casefold(), agent_type)
            if owner != agent_type:
                problems.append(
                    f"{where}: {name!r} already names agent type {owner!r} "
                    "(names and aliases are matched ignoring case)"
                )

    if problems:
        raise ConfigurationError("; ".join(problems))
    return _Hierarchy(
        by_agent_type={t: by_role[e.role] for t, e in cfg.agent_types.items()},
        names=names,
        default=by_role[cfg.default_role],
    )


def _constraint_key(constraint: ResourceConstraint, spec: ModelSpec, task: AgentTask) -> float:
    """Lower is better."""
    if constraint is ResourceConstraint.BUDGET:
        return spec.expected_cost(
            1000 if task.estimated_input_tokens is None else task.estimated_input_tokens,
            1000 if task.estimated_output_tokens is None else task.estimated_output_tokens,
        )
    if constraint is ResourceConstraint.THROUGHPUT:
        return -float("inf") if spec.tpm_limit is None else -float(spec.tpm_limit)
    if constraint is ResourceConstraint.CONCURRENCY:
        return -float("inf") if spec.rpm_limit is None else -float(spec.rpm_limit)
    return 0.0  # LATENCY: no static evidence


def _as_constraints(constraints: Iterable[ResourceConstraint | str] | None) -> tuple[ResourceConstraint, ...]:
    out = []
    for item in constraints or ():
        try:
            out.append(ResourceConstraint(item.lower() if isinstance(item, str) else item))
        except ValueError:
            known = [c.value for c in ResourceConstraint]
            raise ValueError(f"unknown resource constraint {item!r}; expected one of {known}") from None
    return tuple(out)


class ModelOptimizer:
    """Assigns each agent type a role, tier, primary and fallback model from config/optimizer.json.

    Agent types are matched by name or alias, ignoring case. An agent type the config does
    not name gets the config's `default_role` (the shipped config: "generalist", on the
    standard tier), with one warning per agent type; the wire accepts any agent type, so an
    unknown one is not an error.

    `config_path` defaults to optimizer.json in `default_config_dir()` ($MODELROUTER_CONFIG_DIR,
    else the repository's config/). The models come from `registry` if given, else from
    `registry_path`, else from model_registry.json beside the optimizer config. Every
    problem in the files raises ConfigurationError naming the file and the field.
    """

    def __init__(
        self,
        config_path: str | os.PathLike[str] | None = None,
        *,
        registry: Mapping[str, ModelSpec] | None = None,
        registry_path: str | os.PathLike[str] | None = None,
    ) -> None:
        if registry is not None and registry_path is not None:
            raise ValueError("pass registry or registry_path, not both")
        self.config_path = (
            Path(config_path) if config_path is not None else default_config_dir() / OPTIMIZER_FILENAME
        )
        if registry is None:
            registry = load_registry(
                registry_path if registry_path is not None else self.config_path.parent / REGISTRY_FILENAME
            )
        self._registry: Mapping[str, ModelSpec] = MappingProxyType(dict(registry))
        raw = read_config_file(self.config_path, "optimizer config")
        try:
            cfg = _OptimizerFile.model_validate_json(raw)
            self._hierarchy = _build_hierarchy(cfg, self._registry)
        except ValidationError as exc:
            problems = describe_errors(exc.errors(include_url=False))
            raise ConfigurationError(f"invalid optimizer config {self.config_path}: {problems}") from None
        except ConfigurationError as exc:
            raise ConfigurationError(f"invalid optimizer config {self.config_path}: {exc}") from None
        self._warned: set[str] = set()

    @property
    def registry(self) -> Mapping[str, ModelSpec]:
        """The models the hierarchy was checked against (read-only)."""
        return self._registry

    @property
    def agent_types(self) -> tuple[str, ...]:
        """The agent types the config names (not their aliases)."""
        return tuple(self._hierarchy.by_agent_type)

    @property
    def default_assignment(self) -> ModelAssignment:
        """What an agent type the config does not name gets."""
        return self._hierarchy.default

    def resolve_agent_type(self, agent_type: AgentType | str) -> str | None:
        """The configured agent type this name or alias stands for, or None if unknown."""
        return self._hierarchy.names.get(agent_type_name(agent_type).casefold())

    def assignment_for(self, agent_type: AgentType | str) -> ModelAssignment:
        """The hierarchy's assignment for an agent type (the default role's if unknown)."""
        known = self.resolve_agent_type(agent_type)
        if known is not None:
            return self._hierarchy.by_agent_type[known]
        name = agent_type_name(agent_type)
        default = self._hierarchy.default
        if name not in self._warned:
            self._warned.add(name)
            log.warning(
                "agent type %r is not in %s; using default role %r (tier %r)",
                name,
                self.config_path,
                default.role_type,
                default.model_tier,
            )
        return default

    def select_model_for_agent(
        self,
        agent_type: AgentType | str,
        task: AgentTask,
        constraints: Iterable[ResourceConstraint | str] | None = None,
    ) -> tuple[str, ModelAssignment]:
        """The model to call and the assignment it came from.

        The model is the assignment's primary unless: the task's token estimate does not fit
        the primary's context window but fits the fallback's; or a constraint, weighed in
        the order given, favours the fallback (see ResourceConstraint). Ties keep the primary.
        """
        wanted = _as_constraints(constraints)
        assignment = self.assignment_for(agent_type)
        specs = [self._registry[assignment.primary_model], self._registry[assignment.fallback_model]]
        need = task.estimated_total_tokens
        if need is not None:
            fitting = [s for s in specs if s.context_window >= need]
            specs = fitting or [max(specs, key=lambda s: s.context_window)]
        if wanted:
            specs.sort(key=lambda s: tuple(_constraint_key(c, s, task) for c in wanted))
        return specs[0].model_id, assignment
