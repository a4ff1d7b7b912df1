"""The ingest agent: reads the three event topics in batches, dead-letters invalid records,
and counts valid events per (model, type) in a table (one write per key per batch)."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import faust
from faust.types import StreamT

from modelrouter.schemas import EVENT_TOPICS, Event, InvalidEventError, Settings, TopicName, encode

from .batching import as_current_event, batches, by_partition
from .validation import dead_letter, parse_event

__all__ = ["IngestStats", "count_key", "register_ingest"]

log = logging.getLogger("modelrouter.streams.ingest")


def count_key(event: Event) -> str:
    """Key of the valid-event count table: `<model>|<type>` (model = the record's Kafka key)."""
    return f"{event.key}|{event.type}"


@dataclass
class IngestStats:
    """In-process counters, logged periodically (the table holds the durable counts)."""

    valid: int = 0
    dead_lettered: int = 0
    by_topic: Counter[str] = field(default_factory=Counter)


def register_ingest(app: faust.App, settings: Settings) -> IngestStats:
    """Attach the ingest agent and its count table to `app`."""
    stats = IngestStats()
    kinds = {settings.topic(name): TopicName(name) for name in EVENT_TOPICS}
    source = app.topic(*kinds, key_type=bytes, value_type=bytes)
    dead_letters = app.topic(settings.topic(TopicName.DEAD_LETTER), key_type=bytes, value_type=bytes)
    counts = app.Table(
        "event-counts",
        default=int,
        partitions=settings.partitions,
        schema=faust.Schema(key_type=str, key_serializer="json", value_serializer="json"),
    )

    @app.agent(source, name="modelrouter.ingest")
    async def ingest(stream: StreamT[bytes]) -> None:
        async for batch in batches(stream, settings.batch_size, settings.batch_within_s):
            pending: list[Any] = []
            for partition, events in by_partition(batch).items():
                increments: Counter[str] = Counter()
                for ev in events:
                    msg = ev.message
                    try:
                        parsed = parse_event(ev.value, kinds[msg.topic])
                    except InvalidEventError as exc:
                        record = dead_letter(
                            ev.value, str(exc), topic=msg.topic, partition=partition, offset=msg.offset
                        )
                        pending.append(await dead_letters.send(key=ev.key, value=encode(record)))
                        stats.dead_lettered += 1
                        continue
                    increments[count_key(parsed)] += 1
                    stats.by_topic[msg.topic] += 1
                    stats.valid += 1
                with as_current_event(events[-1]):
                    for key, n in increments.items():
                        counts[key] += n
            # A batch is acked (its offsets become committable) only after this body
            # returns, so dead letters must be on the broker first: nothing is lost.
            for fut in pending:
                await fut

    @app.timer(10.0)  # type: ignore[untyped-decorator]  # faust's decorator is untyped
    async def report() -> None:
        log.info("ingest: %d valid events counted, %d dead-lettered", stats.valid, stats.dead_lettered)

    return stats
