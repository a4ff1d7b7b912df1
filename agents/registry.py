"""ModelRegistry: the models agents may call, from config/model_registry.json and the compacted
`registry` topic; and `modelrouter-registry load|show`, which publishes the file to the topic.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaProducer
from pydantic import ValidationError

from modelrouter.schemas import ModelSpec, Settings, TopicName, decode, encode, encode_key, topic_specs

from .admin import ensure_topics
from .reader import read_to_end
from .registry_config import REGISTRY_FILENAME, default_config_dir, load_registry
from .views import TopicView

__all__ = ["ModelRegistry", "RegistryUpdate", "main"]


@dataclass(frozen=True, slots=True)
class RegistryUpdate:
    """What `ModelRegistry.publish` changed in the topic (model ids, sorted)."""

    published: tuple[str, ...]  # new or changed
    unchanged: tuple[str, ...]
    removed: tuple[str, ...]  # tombstoned: in the topic, not in the file


def _decode_spec(raw: bytes) -> ModelSpec:
    return decode(ModelSpec, raw)


class ModelRegistry:
    """The models agents may call, by model_id.

    Built from a registry file (`config_path`, default model_registry.json in
    `settings.config_dir`, else `default_config_dir()`), so `registry._models` (the guide's
    name) is complete at once.
    `publish()` writes the file to the `registry` topic; `load_from_topic()` replaces the
    models with the topic's; `follow()` keeps them equal to the topic from then on.
    `settings` default to `Settings()` (MODELROUTER_* variables): the guide builds a
    registry from a path alone.
    """

    def __init__(
        self,
        config_path: str | os.PathLike[str] | None = None,
        settings: Settings | None = None,
        *,
        models: Mapping[str, ModelSpec] | None = None,
    ) -> None:
        self.settings = settings if settings is not None else Settings()
        if config_path is not None:
            self.config_path = Path(config_path)
        else:
            folder = (
                self.settings.config_dir if self.settings.config_dir is not None else default_config_dir()
            )
            self.config_path = folder / REGISTRY_FILENAME
        self._models: dict[str, ModelSpec] = (
            dict(models) if models is not None else load_registry(self.config_path)
        )
        self._view: TopicView[ModelSpec] | None = None

    @property
    def topic(self) -> str:
        return self.settings.topic(TopicName.REGISTRY)

    @property
    def models(self) -> Mapping[str, ModelSpec]:
        return self._models

    def get(self, model_id: str) -> ModelSpec | None:
        return self._models.get(model_id)

    def enabled_models(self) -> list[ModelSpec]:
        return [m for m in self._models.values() if m.enabled]

    def provider_of(self, model_id: str) -> str | None:
        spec = self._models.get(model_id)
        return spec.provider if spec is not None else None

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._models

    def __iter__(self) -> Iterator[str]:
        return iter(self._models)

    def __len__(self) -> int:
        return len(self._models)

    async def _ensure_topic(self) -> None:
        await ensure_topics(self.settings, [topic_specs(self.settings)[TopicName.REGISTRY]])

    async def read_topic(self, *, timeout_s: float = 30.0) -> dict[str, ModelSpec]:
        """The models now in the topic (latest value per key; tombstones remove)."""
        out: dict[str, ModelSpec] = {}
        for key, value in await read_to_end(self.settings, self.topic, timeout_s=timeout_s):
            if key is None:
                continue
            model_id = key.decode("utf-8", errors="replace")
            if value is None:
                out.pop(model_id, None)
            else:
                out[model_id] = _decode_spec(value)
        return out

    async def publish(self, *, timeout_s: float = 30.0) -> RegistryUpdate:
        """Make the topic hold exactly this registry's models.

        New or changed models are written, unchanged ones skipped, and every model in the
        topic but not here gets a tombstone (a null value), so compaction removes it.
        """
        await self._ensure_topic()
        current = await self.read_topic(timeout_s=timeout_s)
        changed = sorted(m for m, spec in self._models.items() if current.get(m) != spec)
        unchanged = sorted(m for m in self._models if m not in changed)
        removed = sorted(set(current) - set(self._models))
        if changed or removed:
            producer = AIOKafkaProducer(
                **self.settings.aiokafka_kwargs(), acks="all", enable_idempotence=True
            )
            try:
                await producer.start()
                futures = [
                    await producer.send(self.topic, key=encode_key(m), value=encode(self._models[m]))
                    for m in changed
                ]
                futures += [await producer.send(self.topic, key=encode_key(m), value=None) for m in removed]
                await asyncio.wait_for(asyncio.gather(*futures), timeout=timeout_s)
            finally:
                await producer.stop()
        return RegistryUpdate(tuple(changed), tuple(unchanged), tuple(removed))

    async def load_from_topic(self, *, timeout_s: float = 30.0) -> dict[str, ModelSpec]:
        """Replace the models with the topic's content (what workers select from); returns them."""
        self._models = await self.read_topic(timeout_s=timeout_s)
        return dict(self._models)

    async def follow(self, *, timeout_s: float = 30.0) -> None:
        """Load the topic, then keep `_models` equal to it as records arrive, until `close()`."""
        if self._view is not None:
            return
        await self._ensure_topic()
        view: TopicView[ModelSpec] = TopicView(self.settings, self.topic, _decode_spec)
        live: dict[str, ModelSpec] = {}

        def apply(model_id: str, spec: ModelSpec | None) -> None:
            if spec is None:
                live.pop(model_id, None)
            else:
                live[model_id] = spec

        view.on_change(apply)
        await view.start(timeout_s=timeout_s)
        self._view = view
        self._models = live  # complete now; the view keeps it current

    async def close(self) -> None:
        if self._view is not None:
            view, self._view = self._view, None
            await view.stop()
            self._models = dict(self._models)  # frozen as last seen


# --- modelrouter-registry --------------------------------------------------------------


def _table(models: Mapping[str, ModelSpec]) -> str:
    rows = [("model", "provider", "tier", "context", "in $/1k", "out $/1k", "enabled")]
    for m in sorted(models.values(), key=lambda s: (s.provider, s.model_id)):
        rows.append(
            (
                m.model_id,
                m.provider,
                m.tier,
                str(m.context_window),
                f"{m.input_cost_per_1k:.5f}",
                f"{m.output_cost_per_1k:.5f}",
                "yes" if m.enabled else "no",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


async def _run(command: str, config: Path | None, settings: Settings) -> int:
    if command == "load":
        registry = ModelRegistry(config, settings)
        update = await registry.publish()
        print(
            f"{registry.topic}: published {len(update.published)}, unchanged {len(update.unchanged)}, "
            f"removed {len(update.removed)} (from {registry.config_path})"
        )
        for model_id in update.removed:
            print(f"  removed {model_id}")
        return 0
    registry = ModelRegistry(settings=settings, models={})
    models = await registry.load_from_topic()
    if not models:
        print(f"{registry.topic} holds no models: run `modelrouter-registry load`")
        return 1
    print(_table(models))
    print(f"{len(models)} models in {registry.topic}, {sum(m.enabled for m in models.values())} enabled")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="modelrouter-registry",
        description="Publish the model registry file to the compacted registry topic, or show the topic. "
        "Configure the broker and topic prefix with MODELROUTER_* variables.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    load = sub.add_parser("load", help="publish the registry file; models no longer in it are removed")
    load.add_argument(
        "--config",
        type=Path,
        default=None,
        help="registry file (default: model_registry.json in $MODELROUTER_CONFIG_DIR or config/)",
    )
    sub.add_parser("show", help="print the models now in the registry topic")
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        parser.exit(2, f"modelrouter-registry: invalid settings: {exc}\n")
    return asyncio.run(_run(args.command, getattr(args, "config", None), settings))


if __name__ == "__main__":
    raise SystemExit(main())
