"""BucketExpiry: buckets past retention deleted in every owned partition, idle ones included
(also keys restored from the changelog after a restart, which faust's own expiry skips), and
their bucket summaries tombstoned."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import faust

from modelrouter.schemas import Settings, TopicName, summary_key

from .assignment import assigned_partitions
from .batching import PartitionEvent, as_current_event
from .bucket_cache import BucketCache
from .fold_tables import FoldTables, bucket_key
from .folds import FAILOVER_IN
from .record_sender import Record, RecordSender
from .stored_index import StoredIndex

__all__ = ["BucketExpiry", "expired_summaries"]

log = logging.getLogger("modelrouter.streams.expiry")


def expired_summaries(settings: Settings, gone: list[tuple[str, str, int]]) -> list[Record]:
    """Tombstones for the bucket summaries of expired buckets (per agent and all agents)."""
    topic = settings.topic(TopicName.SUMMARIES)
    keys = set()
    for model, agent, bucket in gone:
        start = datetime.fromtimestamp(bucket, UTC)
        keys.add(summary_key(model, agent, "bucket", start))
        keys.add(summary_key(model, None, "bucket", start))
    return [(topic, key.encode("utf-8"), None) for key in sorted(keys)]


class BucketExpiry:
    """Runs at most once a bucket length per partition (called from the once-a-second timer)."""

    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        tables: FoldTables,
        cache: BucketCache,
        stored: StoredIndex,
        sender: RecordSender,
    ) -> None:
        self._app = app
        self._settings = settings
        self._tables = tables
        self._cache = cache
        self._stored = stored
        self._sender = sender
        self._last_expiry: dict[int, float] = {}

    def expire(self, wall: float) -> list[Any]:
        """Delete what is past retention; the futures of the tombstones sent."""
        sends: list[Any] = []
        topic = self._settings.topic(FAILOVER_IN)
        for partition in sorted(assigned_partitions(self._app, self._settings)):
            if wall - self._last_expiry.get(partition, 0.0) < self._settings.bucket_seconds:
                continue
            self._last_expiry[partition] = wall
            gone = self._stored.index.expire(partition, wall)
            if not gone:
                continue
            with as_current_event(PartitionEvent(topic, partition)):
                for model, agent, bucket in gone:
                    self._tables.buckets.pop(bucket_key(model, agent, bucket), None)
                    self._cache.drop((model, agent, bucket))
            sends += self._sender.send_all(expired_summaries(self._settings, gone))
            log.info("expired %d buckets of partition %d past retention", len(gone), partition)
        return sends
