"""Connecting to Kafka from a command: a bounded wait, and one clear line when there is no broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import TypeVar

from aiokafka.errors import KafkaConnectionError

from modelrouter.agents import SelectionClient
from modelrouter.agents.kafka.connection_check import connection_problem
from modelrouter.schemas import Settings

from .failures import unreachable

__all__ = ["CONNECT_TIMEOUT_S", "connect", "selection_client"]

T = TypeVar("T")

# A broker that accepts connections and never answers would hold each Kafka request for
# aiokafka's 40 s request timeout; a person at a terminal should hear sooner.
CONNECT_TIMEOUT_S = 15.0


async def connect(settings: Settings, step: Awaitable[T], timeout_s: float = CONNECT_TIMEOUT_S) -> T:
    """Await a connecting step; no broker (refused, or silent past the timeout) is a CommandError."""
    try:
        return await asyncio.wait_for(step, timeout_s)
    except KafkaConnectionError:
        raise unreachable(settings.bootstrap_servers, await connection_problem(settings)) from None
    except TimeoutError:
        raise unreachable(settings.bootstrap_servers, f"no answer within {timeout_s:.0f} s") from None


@asynccontextmanager
async def selection_client(settings: Settings) -> AsyncIterator[SelectionClient]:
    """A connected SelectionClient for one command.

    Its reply topic (`<prefix>replies.<id>`) is left behind, as SelectionClient documents:
    retention empties it, and deleting it would leave the worker's producer asking for the
    topic's metadata (and logging an error) at every refresh.
    """
    client = SelectionClient(settings, connect_timeout_s=CONNECT_TIMEOUT_S)
    try:
        await connect(settings, client.start(), CONNECT_TIMEOUT_S + 1)
        yield client
    finally:
        await client.close()
