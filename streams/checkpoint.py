"""Checkpoint: how a folded batch becomes durable, and where reading resumes.

`commit` runs its steps in this order, in one place:
1. flush: take the tables' changelog sends and the batch's output sends (dead letters,
   forwards, summaries) — also the previous batch's position writes;
2. confirm: wait until Kafka has every one of them (acks=all);
3. positions: only then store each partition's read positions, in the `health` table under
   `["position", p]` (fold_tables.py), so a position never runs ahead of its state;
4. offsets: commit the progress offsets to the `<worker_id>-events` group, about once a second
   in the background — for lag monitoring only: the stored positions decide where reading
   resumes, and the per-key applied offsets in each bucket make a replayed event count once.
Step 2 waits as long as the broker is away (an outage of minutes is ridden out: the producer
retries each record until its request timeout, 20 minutes), logging once every 10 s. A batch
whose records Kafka refused or that timed out cannot be made durable: the process then exits
with FOLD_FAILED_EXIT (70) for a clean replay from the stored positions, and whatever runs it
restarts it (docker-compose.yml: `restart: unless-stopped`; docs/operations.md).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from modelrouter.schemas import Settings

from .batching import PartitionEvent, as_current_event
from .durable_table import await_changelog
from .fold_tables import FoldTables

__all__ = ["FOLD_FAILED_EXIT", "Checkpoint", "progress_group"]

FOLD_FAILED_EXIT = 70  # exit code when a batch cannot be made durable (EX_SOFTWARE)

log = logging.getLogger("modelrouter.streams.checkpoint")


def progress_group(settings: Settings) -> str:
    """The consumer group the event readers commit their progress to (for monitoring only)."""
    return f"{settings.worker_id}-events"


class Checkpoint:
    """The read positions of this worker's partitions, and the commit of each batch."""

    def __init__(self, tables: FoldTables, position_topic: str) -> None:
        self._tables = tables
        self._position_topic = position_topic  # the topic whose partition places a position write
        self._progress: dict[TopicPartition, int] = {}
        self._last_commit = 0.0
        self._committing: asyncio.Task[None] | None = None
        self._waited_s = 0.0  # how long the batch being committed has waited for Kafka

    def stored_positions(self, partition: int) -> dict[str, int]:
        with as_current_event(PartitionEvent(self._position_topic, partition)):
            return self._tables.load_positions(partition)

    async def commit(
        self,
        consumer: AIOKafkaConsumer,
        sends: Sequence[Any],
        ends: dict[int, dict[str, int]],
        read: dict[TopicPartition, int],
    ) -> None:
        """Make a folded batch durable: `sends` are its output futures, `ends` where each
        partition's topics were read up to, `read` the same per TopicPartition."""
        try:
            futures = [*self._tables.take_pending(), *sends]  # 1. flush
            await await_changelog(futures, self._still_waiting)  # 2. confirm
            for partition, read_to in ends.items():  # 3. positions
                stored = self.stored_positions(partition) | read_to
                with as_current_event(PartitionEvent(self._position_topic, partition)):
                    self._tables.store_positions(partition, stored)
        except Exception:
            log.critical("a batch could not be made durable; exiting for a clean replay", exc_info=True)
            os._exit(FOLD_FAILED_EXIT)
        if self._waited_s:
            log.warning("Kafka confirmed the batch after %.0f s; folding goes on", self._waited_s)
            self._waited_s = 0.0
        self._progress.update(read)
        self.commit_offsets(consumer)  # 4. offsets

    def _still_waiting(self, records: int, waited_s: float) -> None:
        self._waited_s = waited_s
        log.warning(
            "waiting %.0f s for Kafka to confirm %d records of a batch (is the broker down?); "
            "folding resumes when it answers",
            waited_s,
            records,
        )

    def commit_offsets(self, consumer: AIOKafkaConsumer) -> None:
        """Commit the progress offsets (monitoring only) at most once a second, in the background."""
        now = time.monotonic()
        if (
            not self._progress
            or now - self._last_commit < 1.0
            or (self._committing is not None and not self._committing.done())
        ):
            return
        self._last_commit = now
        offsets, self._progress = self._progress, {}

        async def commit() -> None:
            try:
                await consumer.commit(offsets)
            except KafkaError as exc:  # the stored positions are what count
                log.debug("could not commit progress offsets: %r", exc)

        self._committing = asyncio.create_task(commit())
