"""Creates the contract's topics (idempotently) with their partitions and cleanup policies."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from modelrouter.schemas import Settings, TopicSpec, topic_specs

__all__ = ["ensure_topics"]

log = logging.getLogger("modelrouter.admin")


async def _wait_for_leaders(admin: AIOKafkaAdminClient, topics: list[str], timeout_s: float = 10.0) -> None:
    """Wait until every partition of new topics has a leader: a send right after creation
    would otherwise get NotLeaderForPartition, and clients retry it with a warning."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        described = await admin.describe_topics(topics)
        if all(
            t.get("error_code") == 0
            and t["partitions"]
            and all(p.get("leader", -1) >= 0 for p in t["partitions"])
            for t in described
        ):
            return
        await asyncio.sleep(0.1)


async def ensure_topics(settings: Settings, specs: Iterable[TopicSpec] | None = None) -> list[str]:
    """Create every missing topic; existing ones are left as they are. Returns those created."""
    wanted = list(specs if specs is not None else topic_specs(settings).values())
    admin = AIOKafkaAdminClient(**settings.aiokafka_kwargs(), client_id="modelrouter-admin")
    try:
        # Inside the try: a start that fails or is cancelled half way must still close its sockets.
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [s for s in wanted if s.name not in existing]
        if not missing:
            return []
        new = [
            NewTopic(
                name=s.name,
                num_partitions=s.partitions,
                replication_factor=settings.replication_factor,
                topic_configs=s.configs(),
            )
            for s in missing
        ]
        created = [s.name for s in missing]
        try:
            response = await admin.create_topics(new)
        except TopicAlreadyExistsError:
            created = []  # another process created them between the list and the create
        else:
            for name, code, *_ in getattr(response, "topic_errors", []):
                # 36 = TOPIC_ALREADY_EXISTS: a concurrent creator won the race, which is fine.
                if code not in (0, 36):
                    raise RuntimeError(f"creating topic {name} failed with Kafka error code {code}")
                if code == 36:
                    created.remove(name)
        # Also when another process created them: a faust worker that subscribes before a
        # topic is fully there ignores it for good ("Ignoring missing topic"), which left a
        # second worker never reading the partitions it was assigned.
        await _wait_for_leaders(admin, [s.name for s in missing])
        if created:
            log.info("created topics %s", ", ".join(created))
        return created
    finally:
        await admin.close()
