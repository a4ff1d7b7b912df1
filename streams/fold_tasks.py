"""Puts the fold together in a faust app: its tables, the event reader task, the agent that
holds the assignment, and the timers that publish summaries, expire buckets and report."""

from __future__ import annotations

import logging
import time
from typing import Any

import faust
from faust.types import StreamT

from modelrouter.schemas import Settings

from .assignment import ASSIGNMENT_TOPIC, AssignmentReadiness
from .bucket_cache import BucketCache
from .checkpoint import Checkpoint
from .event_reader import EventReader
from .expiry import BucketExpiry
from .fold_tables import FoldTables
from .folds import FAILOVER_IN, PartitionFolds
from .record_sender import RecordSender
from .stored_index import StoredIndex
from .summary_publisher import SummaryPublisher

__all__ = ["register_folds"]

log = logging.getLogger("modelrouter.streams.folds")


def register_folds(app: faust.App, settings: Settings) -> EventReader:
    """Attach the event reader, the assignment agent and the summary timers to `app`; returns
    the reader (its folds, index and lag are what the metrics read)."""
    tables = FoldTables(app, settings)
    cache = BucketCache(tables)
    stored = StoredIndex(app, settings, tables, cache)
    sender = RecordSender(app)
    folds = PartitionFolds(settings, tables, cache, stored, sender)
    publisher = SummaryPublisher(settings, tables, cache, stored, sender)
    expiry = BucketExpiry(app, settings, tables, cache, stored, sender)
    readiness = AssignmentReadiness(app)
    checkpoint = Checkpoint(tables, settings.topic(FAILOVER_IN))
    reader = EventReader(
        app,
        settings,
        folds=folds,
        publisher=publisher,
        checkpoint=checkpoint,
        stored=stored,
        readiness=readiness,
    )
    assignment = app.topic(settings.topic(ASSIGNMENT_TOPIC), key_type=bytes, value_type=bytes)

    @app.agent(assignment, name="modelrouter.assignment")
    async def hold_assignment(stream: StreamT[Any]) -> None:
        # No records are sent here. Subscribing is what makes faust give this worker some of
        # the group's partitions and restore those partitions of the tables; the event reader
        # reads and folds the same partitions of the event topics and of `failover-in`.
        async for _ in stream:
            pass

    @app.task  # type: ignore[untyped-decorator]  # faust's decorator is untyped
    async def read_events() -> None:
        await reader.run()

    @app.timer(1.0)  # type: ignore[untyped-decorator]  # faust's decorator is untyped
    async def publish_windows() -> None:
        generation = app.consumer_generation_id
        if stored.generation != generation:
            # No batch has arrived since the last rebalance: index the restored state here,
            # so closing, trailing windows and expiry also run for partitions with no traffic.
            if generation is None or not readiness.ready():
                return
            await stored.ensure(generation)
        wall = time.time()
        futures = await publisher.publish_due(wall) + expiry.expire(wall)
        for fut in futures:
            await fut

    @app.timer(10.0)  # type: ignore[untyped-decorator]
    async def report() -> None:
        c, t = folds.counters, folds.tally
        log.info(
            "folded %d valid events (%d replays skipped, %d past retention, %d forwarded to their "
            "key's partition), %d dead-lettered, %d skipped (dead letter refused)",
            c.valid,
            t.duplicates,
            c.expired,
            c.rekeyed,
            c.dead_lettered,
            folds.dead_letters.skipped_count,
        )

    return reader
