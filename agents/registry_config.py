"""Finds the config folder and loads config/model_registry.json into validated ModelSpecs.

Pure reading and validation: nothing here talks to Kafka.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path

from modelrouter.schemas import ConfigurationError, InvalidEventError, ModelSpec, decode, dumps, loads
from modelrouter.schemas.errors import describe_errors

__all__ = [
    "CONFIG_DIR_ENV",
    "REGISTRY_FILENAME",
    "default_config_dir",
    "load_registry",
    "parse_registry",
    "read_config_file",
]

CONFIG_DIR_ENV = "MODELROUTER_CONFIG_DIR"
REGISTRY_FILENAME = "model_registry.json"

# "description" is free text for people: JSON has no comments.
_TOP_LEVEL_KEYS = frozenset({"models", "description"})


def default_config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """$MODELROUTER_CONFIG_DIR when set, else the sample files shipped in the package
    (`modelrouter.config`: config/ of the source checkout, inside a wheel as well)."""
    # The same variable as Settings.config_dir, read here too: the guide's code builds a
    # ModelOptimizer() or calls load_registry() without Settings, and must find the same folder.
    env = os.environ if environ is None else environ
    value = env.get(CONFIG_DIR_ENV, "").strip()
    if value:
        return Path(value).expanduser()
    return Path(str(resources.files("modelrouter.config")))


def read_config_file(path: Path, what: str) -> bytes:
    """The bytes of a config file; ConfigurationError says which file and how to point elsewhere."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(
            f"{what} file not found: {path}. Pass its path explicitly, or set {CONFIG_DIR_ENV} "
            "to a folder holding optimizer.json and model_registry.json"
        ) from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read {what} file {path}: {exc.strerror or exc}") from None


def load_registry(path: str | os.PathLike[str] | None = None) -> dict[str, ModelSpec]:
    """Every model of a registry file, by model_id, in file order.

    Default file: model_registry.json in `default_config_dir()`.
    """
    file = Path(path) if path is not None else default_config_dir() / REGISTRY_FILENAME
    return parse_registry(read_config_file(file, "model registry"), source=str(file))


def parse_registry(raw: bytes | str, *, source: str = "<model registry>") -> dict[str, ModelSpec]:
    """Validate registry JSON (`{"models": [ModelSpec, ...]}`) and key it by model_id.

    Every entry is checked as the `registry` topic would check it (JSON-mode ModelSpec:
    unknown fields refused). All problems are reported at once, each naming the entry
    (`models[3] ('gpt-4')`) and the field.
    """
    try:
        data = loads(raw)
    except ValueError as exc:
        raise ConfigurationError(f"model registry {source} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigurationError(
            f'model registry {source} must be a JSON object {{"models": [...]}}, not a {type(data).__name__}'
        )
    unknown = sorted(set(data) - _TOP_LEVEL_KEYS)
    if unknown:
        raise ConfigurationError(
            f"model registry {source} has unknown top-level keys {unknown}; "
            f"allowed: {sorted(_TOP_LEVEL_KEYS)}"
        )
    entries = data.get("models")
    if not isinstance(entries, list) or not entries:
        raise ConfigurationError(f'model registry {source} needs "models": a non-empty list of model entries')

    models: dict[str, ModelSpec] = {}
    first_at: dict[str, int] = {}
    problems: list[str] = []
    for index, entry in enumerate(entries):
        where = f"models[{index}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: expected an object, got {type(entry).__name__}")
            continue
        model_id = entry.get("model_id")
        label = f"{where} ({model_id!r})" if isinstance(model_id, str) else where
        try:
            spec = decode(ModelSpec, dumps(entry))
        except InvalidEventError as exc:
            problems.append(f"{label}: {describe_errors(exc.errors)}")
            continue
        if spec.model_id in first_at:
            problems.append(
                f"{label}: duplicate model_id {spec.model_id!r} "
                f"(first at models[{first_at[spec.model_id]}]); model ids must be unique"
            )
            continue
        first_at[spec.model_id] = index
        models[spec.model_id] = spec
    if problems:
        raise ConfigurationError(f"invalid model registry {source}: " + "; ".join(problems))
    return models
