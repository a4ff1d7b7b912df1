"""Helpers for integration tests: polling until a condition holds, reading worker tables."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from modelrouter.agents import EventPublisher
from modelrouter.agents.kafka import read_table, read_to_end
from modelrouter.agents.workload import totals
from modelrouter.schemas import Event, Settings
from modelrouter.streams.table_totals import TOTAL_FIELDS, bucket_totals

T = TypeVar("T")

__all__ = [
    "TOTAL_FIELDS",
    "bucket_totals",
    "differences",
    "eventually",
    "free_port_pair",
    "publish_all",
    "read_topic",
    "table_state",
    "truth",
]

read_topic = read_to_end


async def eventually(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], *, timeout_s: float, every_s: float = 0.5
) -> T:
    """Poll `probe` until `done(value)` or the timeout; return the last value (tests assert on it)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value = await probe()
        if done(value) or loop.time() >= deadline:
            return value
        await asyncio.sleep(every_s)


async def table_state(settings: Settings, table: str) -> dict[Any, Any]:
    """A worker table's content, read from its changelog topic."""
    return await read_table(settings, f"{settings.worker_id}-{table}-changelog")


def truth(events: list[Event]) -> dict[str, dict[str, int]]:
    return {model: t.as_dict() for model, t in totals(events).items()}


async def publish_all(
    settings: Settings, events: list[Event], *, chunk: int = 5000, pause_s: float = 0.0
) -> None:
    async with EventPublisher(settings, linger_ms=20) as pub:
        for i in range(0, len(events), chunk):
            for ev in events[i : i + chunk]:
                await pub.publish(ev, wait=False)
            if pause_s:
                await asyncio.sleep(pause_s)


def differences(got: dict[str, dict[str, int]], want: dict[str, dict[str, int]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for model in sorted(set(got) | set(want)):
        g = got.get(model, dict.fromkeys(TOTAL_FIELDS, 0))
        w = want.get(model, dict.fromkeys(TOTAL_FIELDS, 0))
        diff = {f: (g[f], w[f]) for f in TOTAL_FIELDS if g[f] != w[f]}
        if diff:
            out[model] = diff
    return out


def free_port_pair() -> int:
    """A port whose successor is free too (client port, controller port)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        with socket.socket() as a, socket.socket() as b:
            try:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two consecutive free ports on 127.0.0.1")
