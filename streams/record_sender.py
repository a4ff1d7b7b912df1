"""RecordSender: sends raw records to the worker's output topics through faust's producer."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import faust

__all__ = ["Record", "RecordSender"]

Record = tuple[str, bytes, Any]  # (topic, key, value bytes or None for a tombstone)


class RecordSender:
    """One faust Topic per name, made once; every send returns the future of its delivery."""

    def __init__(self, app: faust.App) -> None:
        self._app = app
        self._topics: dict[str, Any] = {}

    def topic(self, name: str) -> Any:
        t = self._topics.get(name)
        if t is None:
            t = self._topics[name] = self._app.topic(name, key_type=bytes, value_type=bytes)
        return t

    def send(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Mapping[str, bytes] | None = None
    ) -> asyncio.Future[Any]:
        if headers is None:
            return self.topic(topic).send_soon(key=key, value=value)  # type: ignore[no-any-return]
        return self.topic(topic).send_soon(key=key, value=value, headers=headers)  # type: ignore[no-any-return]

    def send_all(self, records: Sequence[Record]) -> list[asyncio.Future[Any]]:
        return [self.send(topic, key, value) for topic, key, value in records]
