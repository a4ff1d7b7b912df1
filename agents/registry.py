"""ModelRegistry: the models agents may call, from config/model_registry.json and the compacted
`registry` topic (`modelrouter registry load|show` is its command line)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaProducer

from modelrouter.schemas import (
    ModelSpec,
    Settings,
    TopicName,
    decoder,
    encode,
    encode_key,
    topic_specs,
)

from .kafka.admin import ensure_topics
from .kafka.topic_reader import read_to_end
from .kafka.topic_view import TopicView
from .registry_config import REGISTRY_FILENAME, default_config_dir, load_registry

__all__ = ["ModelRegistry", "RegistryUpdate"]


@dataclass(frozen=True, slots=True)
class RegistryUpdate:
    """What `ModelRegistry.publish` changed in the topic (model ids, sorted)."""

    published: tuple[str, ...]  # new or changed
    unchanged: tuple[str, ...]
    removed: tuple[str, ...]  # tombstoned: in the topic, not in the file


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
                out[model_id] = decoder(ModelSpec)(value)
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
                **self.settings.producer_kwargs(), acks="all", enable_idempotence=True
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
        view: TopicView[ModelSpec] = TopicView(self.settings, self.topic, decoder(ModelSpec))
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
