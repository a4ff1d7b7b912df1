"""ModelOptimizer: the hierarchy in config/optimizer.json, the guide's value types, config errors."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import pytest

from modelrouter.agents.optimizer import (
    AgentTask,
    AgentType,
    ModelAssignment,
    ModelOptimizer,
    ResourceConstraint,
    agent_type_name,
)
from modelrouter.agents.registry_config import CONFIG_DIR_ENV, load_registry
from modelrouter.schemas import BaseAssignment, ConfigurationError, InvalidEventError, TaskInfo, dumps, loads

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"
SHIPPED_OPTIMIZER = REPO_CONFIG / "optimizer.json"
SHIPPED_REGISTRY = REPO_CONFIG / "model_registry.json"

# agent type -> (role, tier, primary, fallback) in the shipped config/optimizer.json
EXPECTED = {
    AgentType.PM: ("strategist", "premium", "claude-3-opus", "gpt-4-turbo"),
    AgentType.BA: ("analyst", "standard", "claude-3.5-sonnet", "gpt-4o"),
    AgentType.SA: ("architect", "premium", "claude-3-opus", "gpt-4-turbo"),
    AgentType.RESEARCH: ("researcher", "standard", "gpt-4o", "claude-3.5-sonnet"),
    AgentType.QUALITY_JUDGE: ("reviewer", "standard", "gpt-4o", "claude-3.5-sonnet"),
    AgentType.IMPLEMENTATION: ("developer", "economy", "gpt-4o-mini", "claude-3-haiku"),
}


@pytest.fixture(scope="module")
def optimizer() -> ModelOptimizer:
    return ModelOptimizer(SHIPPED_OPTIMIZER)


def shipped_config() -> dict[str, Any]:
    config: dict[str, Any] = loads(SHIPPED_OPTIMIZER.read_bytes())
    return config


def write_config(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "optimizer.json"
    path.write_bytes(dumps(config))
    return path


def config_error(tmp_path: Path, config: dict[str, Any]) -> str:
    path = write_config(tmp_path, config)
    with pytest.raises(ConfigurationError) as err:
        ModelOptimizer(path, registry=load_registry(SHIPPED_REGISTRY))
    message = str(err.value)
    assert str(path) in message
    return message


# --- the shipped hierarchy ------------------------------------------------------------


@pytest.mark.parametrize("agent_type", list(AgentType))
def test_each_agent_type_resolves_through_role_and_tier(
    optimizer: ModelOptimizer, agent_type: AgentType
) -> None:
    model_name, assignment = optimizer.select_model_for_agent(agent_type, AgentTask(type="design"))
    role, tier, primary, fallback = EXPECTED[agent_type]
    assert (assignment.role_type, assignment.model_tier) == (role, tier)
    assert (assignment.primary_model, assignment.fallback_model) == (primary, fallback)
    assert model_name == primary
    assert assignment.fallback_model != assignment.primary_model


def test_every_enum_member_is_configured(optimizer: ModelOptimizer) -> None:
    assert set(optimizer.agent_types) == {t.value for t in AgentType}


def test_role_settings_come_from_the_config(optimizer: ModelOptimizer) -> None:
    architect = optimizer.assignment_for(AgentType.SA)
    assert architect.required_capabilities == ("analysis", "code-generation")
    assert (architect.max_tokens, architect.temperature, architect.max_concurrent_instances) == (4096, 0.2, 2)
    developer = optimizer.assignment_for(AgentType.IMPLEMENTATION)
    assert (developer.max_tokens, developer.temperature, developer.max_concurrent_instances) == (4096, 0.1, 5)


def test_every_model_in_the_hierarchy_is_an_enabled_registry_model() -> None:
    registry = load_registry(SHIPPED_REGISTRY)
    config = shipped_config()
    named = [m for tier in config["tiers"].values() for m in (tier["primary_model"], tier["fallback_model"])]
    named += [
        role[k] for role in config["roles"].values() for k in ("primary_model", "fallback_model") if k in role
    ]
    assert len(named) == 10
    for model_id in named:
        assert model_id in registry, model_id
        assert registry[model_id].enabled, model_id


def test_tier_primaries_are_models_of_that_tier(optimizer: ModelOptimizer) -> None:
    for tier_name, tier in shipped_config()["tiers"].items():
        assert optimizer.registry[tier["primary_model"]].tier == tier_name


def test_fallback_differs_from_primary_for_every_role(optimizer: ModelOptimizer) -> None:
    for name in [*optimizer.agent_types, "someone-new"]:
        assignment = optimizer.assignment_for(name)
        assert assignment.primary_model != assignment.fallback_model


def test_role_models_have_the_role_capabilities(optimizer: ModelOptimizer) -> None:
    for name in optimizer.agent_types:
        assignment = optimizer.assignment_for(name)
        for model_id in (assignment.primary_model, assignment.fallback_model):
            assert set(assignment.required_capabilities) <= set(optimizer.registry[model_id].capabilities)


# --- agent type names ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["SA", "sa", "Sa", "solution_architect", "SOLUTION_ARCHITECT"])
def test_agent_types_match_by_name_or_alias_ignoring_case(optimizer: ModelOptimizer, name: str) -> None:
    assert optimizer.resolve_agent_type(name) == "SA"
    assert optimizer.assignment_for(name) == optimizer.assignment_for(AgentType.SA)


def test_aliases_of_the_original_optimizer(optimizer: ModelOptimizer) -> None:
    # The original AgentType values, and two common names.
    assert optimizer.resolve_agent_type("product_manager") == "PM"
    assert optimizer.resolve_agent_type("business_analyst") == "BA"
    assert optimizer.resolve_agent_type("implementation") == "IMPLEMENTATION"
    assert optimizer.resolve_agent_type("developer") == "IMPLEMENTATION"
    assert optimizer.resolve_agent_type("qa") == "QUALITY_JUDGE"
    assert optimizer.resolve_agent_type("quality_judge") == "QUALITY_JUDGE"


def test_agent_type_values_are_the_wire_strings() -> None:
    assert AgentType.SA == "SA"
    assert agent_type_name(AgentType.QUALITY_JUDGE) == "QUALITY_JUDGE"
    assert agent_type_name("data_scientist") == "data_scientist"
    with pytest.raises(ValueError, match="1 to 64 characters"):
        agent_type_name("")
    with pytest.raises(ValueError, match="1 to 64 characters"):
        agent_type_name("x" * 65)
    with pytest.raises(TypeError, match="AgentType or a str"):
        agent_type_name(3)  # type: ignore[arg-type]


def test_unknown_agent_type_gets_the_default_role_and_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    optimizer = ModelOptimizer(SHIPPED_OPTIMIZER)
    with caplog.at_level(logging.WARNING, logger="modelrouter.agents.optimizer"):
        model_name, assignment = optimizer.select_model_for_agent("data_scientist", AgentTask())
        optimizer.select_model_for_agent("data_scientist", AgentTask())
    assert optimizer.resolve_agent_type("data_scientist") is None
    assert (assignment.role_type, assignment.model_tier) == ("generalist", "standard")
    assert (assignment.primary_model, assignment.fallback_model) == ("gpt-4o", "claude-3.5-sonnet")
    assert model_name == "gpt-4o"
    assert assignment == optimizer.default_assignment
    warnings = [r for r in caplog.records if "data_scientist" in r.getMessage()]
    assert len(warnings) == 1
    assert "default role 'generalist'" in warnings[0].getMessage()


# --- choosing between primary and fallback ---------------------------------------------


def test_the_guide_call_shape_works_with_keywords(optimizer: ModelOptimizer) -> None:
    task = AgentTask(type="system_architecture", description="design the payment service")
    model_name, assignment = optimizer.select_model_for_agent(agent_type=AgentType.SA, task=task)
    assert model_name == "claude-3-opus"
    assert assignment.role_type == "architect"


def test_budget_picks_the_cheaper_model(optimizer: ModelOptimizer) -> None:
    task = AgentTask(estimated_input_tokens=2000, estimated_output_tokens=1000)
    # claude-3-opus: 2*0.015 + 0.075 = 0.105; gpt-4-turbo: 2*0.01 + 0.03 = 0.05
    model_name, _ = optimizer.select_model_for_agent(AgentType.SA, task, [ResourceConstraint.BUDGET])
    assert model_name == "gpt-4-turbo"
    model_name, _ = optimizer.select_model_for_agent(AgentType.SA, task, ["BUDGET"])
    assert model_name == "gpt-4-turbo"


def test_budget_without_estimates_prices_a_thousand_tokens_each_way(optimizer: ModelOptimizer) -> None:
    # BA: claude-3.5-sonnet 0.003+0.015=0.018 vs gpt-4o 0.0025+0.01=0.0125
    model_name, assignment = optimizer.select_model_for_agent(AgentType.BA, AgentTask(), ["budget"])
    assert model_name == "gpt-4o"
    assert assignment.primary_model == "claude-3.5-sonnet"


def test_throughput_and_concurrency_prefer_higher_limits(optimizer: ModelOptimizer) -> None:
    # SA: claude-3-opus 50 rpm / 20k tpm; gpt-4-turbo 500 rpm / 30k tpm
    assert optimizer.select_model_for_agent("SA", AgentTask(), ["throughput"])[0] == "gpt-4-turbo"
    assert optimizer.select_model_for_agent("SA", AgentTask(), ["concurrency"])[0] == "gpt-4-turbo"
    # IMPLEMENTATION: gpt-4o-mini 200k tpm beats claude-3-haiku 50k tpm; primary kept
    assert optimizer.select_model_for_agent("IMPLEMENTATION", AgentTask(), ["throughput"])[0] == "gpt-4o-mini"


def test_latency_alone_keeps_the_primary(optimizer: ModelOptimizer) -> None:
    assert optimizer.select_model_for_agent("SA", AgentTask(), ["latency"])[0] == "claude-3-opus"
    assert optimizer.select_model_for_agent("SA", AgentTask(), [])[0] == "claude-3-opus"


def test_constraints_are_weighed_in_the_order_given(optimizer: ModelOptimizer) -> None:
    # IMPLEMENTATION: gpt-4o-mini (0.00075 per 1k+1k, 500 rpm) vs claude-3-haiku (0.0015, 50 rpm)
    first = optimizer.select_model_for_agent("IMPLEMENTATION", AgentTask(), ["latency", "budget"])
    assert first[0] == "gpt-4o-mini"


def test_unknown_constraint_is_refused(optimizer: ModelOptimizer) -> None:
    with pytest.raises(ValueError, match="unknown resource constraint 'speed'"):
        optimizer.select_model_for_agent("SA", AgentTask(), ["speed"])


def test_a_task_too_big_for_the_primary_goes_to_the_fallback(optimizer: ModelOptimizer) -> None:
    # RESEARCH: gpt-4o has 128k tokens, claude-3.5-sonnet 200k
    task = AgentTask(estimated_input_tokens=150_000, estimated_output_tokens=4_000)
    model_name, assignment = optimizer.select_model_for_agent(AgentType.RESEARCH, task)
    assert (model_name, assignment.primary_model) == ("claude-3.5-sonnet", "gpt-4o")
    # the context window outranks the budget
    model_name, _ = optimizer.select_model_for_agent(AgentType.RESEARCH, task, ["budget"])
    assert model_name == "claude-3.5-sonnet"


def test_a_task_too_big_for_both_gets_the_larger_window(optimizer: ModelOptimizer) -> None:
    task = AgentTask(estimated_input_tokens=500_000)
    assert optimizer.select_model_for_agent(AgentType.RESEARCH, task)[0] == "claude-3.5-sonnet"
    assert optimizer.select_model_for_agent(AgentType.SA, task)[0] == "claude-3-opus"


# --- value types --------------------------------------------------------------------------


def test_agent_task_defaults_and_wire_names() -> None:
    first, second = AgentTask(), AgentTask()
    assert first.id != second.id
    assert len(first.id) == 32
    assert first.task_id == first.id
    assert first.task_type is None
    assert first.estimated_total_tokens is None
    task = AgentTask(id="t-1", type="design", estimated_input_tokens=1200)
    assert task.task_type == "design"
    assert task.estimated_total_tokens == 1200
    assert task.to_task_info() == TaskInfo(task_id="t-1", task_type="design", estimated_input_tokens=1200)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"id": ""}, "AgentTask.id"),
        ({"id": "x" * 129}, "AgentTask.id"),
        ({"type": "t" * 65}, "AgentTask.type"),
        ({"estimated_input_tokens": -1}, "estimated_input_tokens"),
        ({"estimated_output_tokens": True}, "estimated_output_tokens"),
    ],
)
def test_agent_task_refuses_what_the_wire_would(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AgentTask(**fields)


def test_model_assignment_converts_to_the_wire_base_assignment(optimizer: ModelOptimizer) -> None:
    base = optimizer.assignment_for(AgentType.SA).to_base_assignment()
    assert base == BaseAssignment(
        role_type="architect",
        model_tier="premium",
        primary_model="claude-3-opus",
        fallback_model="gpt-4-turbo",
    )


def test_an_assignment_the_wire_refuses_raises_invalid_event_error() -> None:
    bad = ModelAssignment(role_type="", model_tier="premium", primary_model="a", fallback_model="b")
    with pytest.raises(InvalidEventError, match="role_type"):
        bad.to_base_assignment()


def test_model_assignment_is_frozen_and_keeps_the_original_names() -> None:
    assignment = ModelAssignment(
        role_type="architect", model_tier="premium", primary_model="a", fallback_model="b"
    )
    assert assignment.recommended_model == "a"
    assert assignment.get_effective_model() == "a"
    assert assignment.get_effective_model(prefer_fallback=True) == "b"
    with pytest.raises(dataclasses.FrozenInstanceError):
        assignment.primary_model = "c"  # type: ignore[misc]
    assert hash(assignment) == hash(dataclasses.replace(assignment))


# --- where the config comes from -------------------------------------------------------


def test_default_paths_honour_the_config_dir_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = shipped_config()
    config["agent_types"]["SA"]["role"] = "developer"
    write_config(tmp_path, config)
    (tmp_path / "model_registry.json").write_bytes(SHIPPED_REGISTRY.read_bytes())
    monkeypatch.setenv(CONFIG_DIR_ENV, str(tmp_path))
    optimizer = ModelOptimizer()
    assert optimizer.config_path == tmp_path / "optimizer.json"
    assert optimizer.assignment_for("SA").role_type == "developer"


def test_the_registry_defaults_to_the_file_beside_the_config(tmp_path: Path) -> None:
    path = write_config(tmp_path, shipped_config())
    with pytest.raises(ConfigurationError) as err:
        ModelOptimizer(path)
    assert str(tmp_path / "model_registry.json") in str(err.value)


def test_registry_path_and_registry_argument(tmp_path: Path) -> None:
    by_path = ModelOptimizer(SHIPPED_OPTIMIZER, registry_path=SHIPPED_REGISTRY)
    by_value = ModelOptimizer(SHIPPED_OPTIMIZER, registry=load_registry(SHIPPED_REGISTRY))
    assert by_path.assignment_for("BA") == by_value.assignment_for("BA")
    with pytest.raises(ValueError, match="not both"):
        ModelOptimizer(SHIPPED_OPTIMIZER, registry=by_value.registry, registry_path=SHIPPED_REGISTRY)


def test_the_registry_view_is_read_only(optimizer: ModelOptimizer) -> None:
    with pytest.raises(TypeError):
        optimizer.registry["x"] = optimizer.registry["gpt-4"]  # type: ignore[index]


def test_a_local_tier_config(tmp_path: Path) -> None:
    config = shipped_config()
    config["roles"]["developer"]["tier"] = "local"
    optimizer = ModelOptimizer(write_config(tmp_path, config), registry=load_registry(SHIPPED_REGISTRY))
    model_name, assignment = optimizer.select_model_for_agent("IMPLEMENTATION", AgentTask())
    assert (model_name, assignment.fallback_model) == ("llama3.1:8b", "qwen2.5-coder:7b")


# --- config errors ------------------------------------------------------------------------


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as err:
        ModelOptimizer(tmp_path / "optimizer.json", registry=load_registry(SHIPPED_REGISTRY))
    assert "optimizer config file not found" in str(err.value)
    assert CONFIG_DIR_ENV in str(err.value)


def test_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "optimizer.json"
    path.write_text('{"default_role": ')
    with pytest.raises(ConfigurationError, match="Invalid JSON"):
        ModelOptimizer(path, registry=load_registry(SHIPPED_REGISTRY))


def test_misspelt_and_missing_fields(tmp_path: Path) -> None:
    config = shipped_config()
    config["roles"]["architect"]["temprature"] = 0.2
    del config["default_role"]
    message = config_error(tmp_path, config)
    assert "roles.architect.temprature: Extra inputs are not permitted" in message
    assert "default_role: Field required" in message


def test_out_of_range_values(tmp_path: Path) -> None:
    config = shipped_config()
    config["roles"]["reviewer"]["temperature"] = 3.5
    config["roles"]["reviewer"]["max_tokens"] = 0
    message = config_error(tmp_path, config)
    assert "roles.reviewer.temperature" in message
    assert "roles.reviewer.max_tokens" in message


def test_unknown_role_and_tier(tmp_path: Path) -> None:
    config = shipped_config()
    config["agent_types"]["SA"]["role"] = "archtect"
    config["roles"]["developer"]["tier"] = "platinum"
    config["default_role"] = "nobody"
    message = config_error(tmp_path, config)
    assert "agent_types.SA.role: unknown role 'archtect'" in message
    assert "roles.developer.tier: unknown tier 'platinum'" in message
    assert "default_role: unknown role 'nobody'" in message
    assert "'architect'" in message  # lists the known roles


def test_unknown_model(tmp_path: Path) -> None:
    config = shipped_config()
    config["tiers"]["premium"]["primary_model"] = "gpt-5-ultra"
    config["roles"]["analyst"]["fallback_model"] = "claude-9"
    message = config_error(tmp_path, config)
    assert "tiers.premium.primary_model: 'gpt-5-ultra' is not in the model registry" in message
    assert "roles.analyst.fallback_model: 'claude-9' is not in the model registry" in message


def test_disabled_model(tmp_path: Path) -> None:
    config = shipped_config()
    config["tiers"]["standard"]["fallback_model"] = "claude-3-sonnet"
    message = config_error(tmp_path, config)
    assert "tiers.standard.fallback_model: 'claude-3-sonnet' is disabled in the model registry" in message


def test_primary_of_the_wrong_tier(tmp_path: Path) -> None:
    config = shipped_config()
    config["tiers"]["premium"]["primary_model"] = "gpt-4o-mini"
    message = config_error(tmp_path, config)
    assert (
        "tiers.premium.primary_model: 'gpt-4o-mini' is a 'economy' model in the registry, not 'premium'"
        in message
    )


def test_fallback_equal_to_primary(tmp_path: Path) -> None:
    config = shipped_config()
    config["tiers"]["economy"]["fallback_model"] = "gpt-4o-mini"
    config["roles"]["analyst"]["fallback_model"] = "claude-3.5-sonnet"
    message = config_error(tmp_path, config)
    assert "tiers.economy: primary_model and fallback_model are both 'gpt-4o-mini'" in message
    assert "roles.analyst: primary and fallback model are both 'claude-3.5-sonnet'" in message


def test_models_without_the_role_capabilities(tmp_path: Path) -> None:
    config = shipped_config()
    config["roles"]["developer"]["required_capabilities"] = ["code-generation", "reasoning"]
    message = config_error(tmp_path, config)
    assert "roles.developer.required_capabilities: primary model 'gpt-4o-mini' lacks ['reasoning']" in message
    assert "fallback model 'claude-3-haiku' lacks ['reasoning']" in message


def test_colliding_names(tmp_path: Path) -> None:
    config = shipped_config()
    config["agent_types"]["BA"]["aliases"] = ["business_analyst", "Solution_Architect"]
    message = config_error(tmp_path, config)
    # BA comes first in the file, so SA's own alias is the one reported
    assert "agent_types.SA: 'solution_architect' already names agent type 'BA'" in message
    assert "matched ignoring case" in message


def test_registry_errors_surface_through_the_optimizer(tmp_path: Path) -> None:
    write_config(tmp_path, shipped_config())
    (tmp_path / "model_registry.json").write_bytes(b'{"models": [{"model_id": "x"}]}')
    with pytest.raises(ConfigurationError, match=r"models\[0\] \('x'\): provider: Field required"):
        ModelOptimizer(tmp_path / "optimizer.json")
