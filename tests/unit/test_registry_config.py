"""config/model_registry.json and its loader: the shipped file's values, and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from modelrouter.agents.registry_config import (
    CONFIG_DIR_ENV,
    REGISTRY_FILENAME,
    default_config_dir,
    load_registry,
    parse_registry,
)
from modelrouter.schemas import ConfigurationError, ModelSpec, dumps, loads

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config"
SHIPPED = REPO_CONFIG / REGISTRY_FILENAME

# The capability names the shipped registry uses; "analysis" and "code-generation" are the
# guide's own (Pattern 2), the rest follow its spelling.
CAPABILITIES = {
    "chat",
    "analysis",
    "code-generation",
    "vision",
    "function-calling",
    "long-context",
    "reasoning",
}


def entry(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "model_id": "m-1",
        "provider": "openai",
        "endpoint": "https://api.openai.com/v1/chat/completions",
        "capabilities": ["chat"],
        "tier": "standard",
        "context_window": 128000,
        "input_cost_per_1k": 0.0025,
        "output_cost_per_1k": 0.01,
        "enabled": True,
    }
    return base | overrides


def registry_json(*entries: dict[str, Any]) -> bytes:
    return dumps({"models": list(entries)})


@pytest.fixture
def shipped() -> dict[str, ModelSpec]:
    return load_registry(SHIPPED)


# --- the shipped registry -------------------------------------------------------------


def test_shipped_registry_has_twenty_models_from_five_providers(shipped: dict[str, ModelSpec]) -> None:
    assert len(shipped) == 20
    providers = {spec.provider for spec in shipped.values()}
    assert providers == {"openai", "anthropic", "google", "mistral", "ollama"}
    assert list(shipped) == [spec.model_id for spec in shipped.values()]


def test_every_shipped_entry_validates_as_a_model_spec() -> None:
    raw = loads(SHIPPED.read_bytes())
    for item in raw["models"]:
        spec = ModelSpec.model_validate_json(dumps(item))
        assert spec.model_id == item["model_id"]


def test_shipped_prices_and_windows_are_the_published_ones(shipped: dict[str, ModelSpec]) -> None:
    # USD per 1k tokens, list prices.
    expected = {
        "gpt-4": (0.03, 0.06, 8192),
        "gpt-4-turbo": (0.01, 0.03, 128000),
        "gpt-4o": (0.0025, 0.01, 128000),
        "gpt-4o-mini": (0.00015, 0.0006, 128000),
        "claude-3-opus": (0.015, 0.075, 200000),
        "claude-3.5-sonnet": (0.003, 0.015, 200000),
        "claude-3-haiku": (0.00025, 0.00125, 200000),
        "gemini-1.5-pro": (0.00125, 0.005, 2097152),
        "mistral-large-latest": (0.002, 0.006, 131072),
    }
    for model_id, (cost_in, cost_out, window) in expected.items():
        spec = shipped[model_id]
        assert (spec.input_cost_per_1k, spec.output_cost_per_1k, spec.context_window) == (
            cost_in,
            cost_out,
            window,
        ), model_id


def test_shipped_tiers_and_local_models(shipped: dict[str, ModelSpec]) -> None:
    assert {spec.tier for spec in shipped.values()} == {"premium", "standard", "economy", "local"}
    local = {m for m, spec in shipped.items() if spec.provider == "ollama"}
    assert local == {"llama3.1:8b", "qwen2.5-coder:7b"}
    for model_id in local:
        spec = shipped[model_id]
        assert spec.tier == "local"
        assert spec.input_cost_per_1k == spec.output_cost_per_1k == 0.0
        assert spec.endpoint == "http://localhost:11434/api/chat"
        assert spec.rpm_limit is None
        assert spec.tpm_limit is None


def test_shipped_endpoints_match_providers(shipped: dict[str, ModelSpec]) -> None:
    hosts = {
        "openai": "https://api.openai.com/",
        "anthropic": "https://api.anthropic.com/",
        "google": "https://generativelanguage.googleapis.com/",
        "mistral": "https://api.mistral.ai/",
        "ollama": "http://localhost:11434/",
    }
    for spec in shipped.values():
        assert spec.endpoint is not None
        assert spec.endpoint.startswith(hosts[spec.provider]), spec.model_id


def test_shipped_capabilities_use_one_vocabulary(shipped: dict[str, ModelSpec]) -> None:
    for spec in shipped.values():
        assert set(spec.capabilities) <= CAPABILITIES, spec.model_id
        assert "chat" in spec.capabilities, spec.model_id
        # long-context means a window of 100k tokens or more, and every such model says so
        assert ("long-context" in spec.capabilities) == (spec.context_window >= 100_000), spec.model_id


def test_guide_pattern_2_constraints_have_candidates(shipped: dict[str, ModelSpec]) -> None:
    # Pattern 2: analysis + code-generation, max $1.00 a request, no ollama.
    fits = [
        spec.model_id
        for spec in shipped.values()
        if spec.enabled
        and spec.provider != "ollama"
        and {"analysis", "code-generation"} <= set(spec.capabilities)
        and spec.expected_cost(1000, 1000) <= 1.0
    ]
    assert len(fits) >= 10
    assert {"gpt-4", "gpt-4-turbo", "claude-3-opus"} <= set(fits)


def test_one_shipped_model_is_disabled(shipped: dict[str, ModelSpec]) -> None:
    assert [m for m, spec in shipped.items() if not spec.enabled] == ["claude-3-sonnet"]


def test_original_optimizer_model_names_are_registered(shipped: dict[str, ModelSpec]) -> None:
    # The model names of the ModelOptimizer this project's guide sits beside.
    for model_id in (
        "gpt-4-turbo",
        "gpt-4",
        "claude-3.5-sonnet",
        "claude-3-sonnet",
        "gpt-3.5-turbo",
        "claude-3-haiku",
    ):
        assert model_id in shipped


# --- locating the config folder -------------------------------------------------------


def test_default_config_dir_holds_the_repositorys_config_files() -> None:
    # The package's copy (modelrouter.config): the checkout's config/ through the editable
    # install's link tree, site-packages/modelrouter/config in a wheel.
    for name in (REGISTRY_FILENAME, "optimizer.json"):
        assert (default_config_dir({}) / name).read_bytes() == (REPO_CONFIG / name).read_bytes()


def test_default_config_dir_honours_the_environment(tmp_path: Path) -> None:
    assert default_config_dir({CONFIG_DIR_ENV: str(tmp_path)}) == tmp_path
    assert default_config_dir({CONFIG_DIR_ENV: "  "}) == default_config_dir({})


def test_load_registry_without_a_path_reads_the_env_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / REGISTRY_FILENAME).write_bytes(registry_json(entry(model_id="only-one")))
    monkeypatch.setenv(CONFIG_DIR_ENV, str(tmp_path))
    assert list(load_registry()) == ["only-one"]


# --- errors ----------------------------------------------------------------------------


def test_missing_file_names_the_path_and_the_env_var(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(ConfigurationError) as err:
        load_registry(missing)
    assert str(missing) in str(err.value)
    assert CONFIG_DIR_ENV in str(err.value)


def test_a_folder_instead_of_a_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read model registry file"):
        load_registry(tmp_path)


def test_invalid_json_is_named() -> None:
    with pytest.raises(ConfigurationError, match="is not valid JSON"):
        parse_registry(b'{"models": [', source="reg.json")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"[]", "must be a JSON object"),
        (b'{"modles": []}', r"unknown top-level keys \['modles'\]"),
        (b"{}", 'needs "models"'),
        (b'{"models": []}', 'needs "models"'),
        (b'{"models": {"gpt-4": {}}}', 'needs "models"'),
    ],
)
def test_wrong_file_shape_says_what_is_expected(raw: bytes, expected: str) -> None:
    with pytest.raises(ConfigurationError, match=expected):
        parse_registry(raw, source="reg.json")


def test_duplicate_ids_name_both_entries() -> None:
    raw = registry_json(entry(model_id="a"), entry(model_id="b"), entry(model_id="a"))
    with pytest.raises(ConfigurationError) as err:
        parse_registry(raw, source="reg.json")
    message = str(err.value)
    assert "reg.json" in message
    assert "models[2] ('a'): duplicate model_id 'a' (first at models[0])" in message


def test_an_invalid_entry_names_the_entry_and_the_field() -> None:
    raw = registry_json(entry(model_id="ok"), entry(model_id="cheap", input_cost_per_1k=-0.5))
    with pytest.raises(ConfigurationError) as err:
        parse_registry(raw, source="reg.json")
    message = str(err.value)
    assert "models[1] ('cheap'): input_cost_per_1k:" in message
    assert "greater than or equal to 0" in message
    assert "-0.5" in message


def test_every_problem_is_reported_at_once() -> None:
    bad_window = entry(model_id="w", context_window=0)
    no_tier = {k: v for k, v in entry(model_id="t").items() if k != "tier"}
    typo = entry(model_id="c") | {"capabilites": ["chat"]}
    raw = registry_json(bad_window, no_tier, typo, "not-an-object")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError) as err:
        parse_registry(raw)
    message = str(err.value)
    assert "models[0] ('w'): context_window:" in message
    assert "models[1] ('t'): tier: Field required" in message
    assert "models[2] ('c'): capabilites: Extra inputs are not permitted" in message
    assert "models[3]: expected an object, got str" in message


def test_a_string_number_is_refused_as_on_the_wire() -> None:
    with pytest.raises(ConfigurationError, match=r"models\[0\] \('s'\): context_window"):
        parse_registry(registry_json(entry(model_id="s", context_window="8192")))


def test_entry_without_model_id_is_named_by_position() -> None:
    no_id = {k: v for k, v in entry().items() if k != "model_id"}
    with pytest.raises(ConfigurationError, match=r"models\[0\]: model_id: Field required"):
        parse_registry(registry_json(no_id))


def test_parse_returns_specs_in_file_order() -> None:
    specs = parse_registry(registry_json(entry(model_id="z"), entry(model_id="a", enabled=False)))
    assert list(specs) == ["z", "a"]
    assert specs["a"].enabled is False
    assert specs["z"].capabilities == ("chat",)
