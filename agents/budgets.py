"""BudgetBook: the spend limits per agent type on the compacted `budgets` topic
(`modelrouter budget set|show|clear` is its command line; workers enforce them)."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer

from modelrouter.schemas import Budget, Settings, TopicName, decoder, encode, encode_key, topic_specs, utc_now

from .kafka.admin import ensure_topics
from .kafka.topic_reader import read_to_end

__all__ = ["BudgetBook"]


class BudgetBook:
    """Reads and writes the `budgets` topic: one Budget per agent type, a tombstone clears it."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings if settings is not None else Settings()

    @property
    def topic(self) -> str:
        return self.settings.topic(TopicName.BUDGETS)

    async def read(self, *, timeout_s: float = 30.0) -> dict[str, Budget]:
        """The budgets now in the topic by agent type (those without a limit left out)."""
        out: dict[str, Budget] = {}
        decode = decoder(Budget)
        for key, value in await read_to_end(self.settings, self.topic, timeout_s=timeout_s):
            if key is None:
                continue
            agent = key.decode("utf-8", errors="replace")
            budget = decode(value) if value is not None else None
            if budget is None or not budget.limits():
                out.pop(agent, None)
            else:
                out[agent] = budget
        return out

    async def set(
        self, agent_type: str, *, per_hour: float | None, per_day: float | None, timeout_s: float = 30.0
    ) -> Budget:
        """Replace `agent_type`'s limits with these (validated before anything is sent)."""
        budget = Budget(agent_type=agent_type, per_hour=per_hour, per_day=per_day, updated_at=utc_now())
        await self._send(agent_type, encode(budget), timeout_s)
        return budget

    async def clear(self, agent_type: str, *, timeout_s: float = 30.0) -> None:
        """Remove `agent_type`'s budget (a tombstone)."""
        Budget(agent_type=agent_type, updated_at=utc_now())  # the same checks of the name as set
        await self._send(agent_type, None, timeout_s)

    async def _send(self, agent_type: str, value: bytes | None, timeout_s: float) -> None:
        await ensure_topics(self.settings, [topic_specs(self.settings)[TopicName.BUDGETS]])
        producer = AIOKafkaProducer(**self.settings.producer_kwargs(), acks="all", enable_idempotence=True)
        try:
            await producer.start()
            sent = await producer.send(self.topic, key=encode_key(agent_type), value=value)
            await asyncio.wait_for(sent, timeout=timeout_s)
        finally:
            await producer.stop()
