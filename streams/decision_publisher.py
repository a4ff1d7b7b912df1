"""Publishes a responder's DecisionRecords from a background task, after their replies are
sent: the reply path only queues (request, decision, view positions); the record, its Monte
Carlo propensity and its encoding are built here."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from modelrouter.schemas import DecisionInputs, SelectionRequest, Settings, TopicName, encode_key

from .decision_log import encoded_decision_record
from .propensity import logged_propensities
from .scoring import Decision, ScoringParams, params_hash

__all__ = ["DecisionCounts", "DecisionPublisher", "PendingDecision"]

log = logging.getLogger("modelrouter.streams.decision_publisher")

# At most this many decisions wait for their record; beyond, the oldest are dropped (counted):
# the log must never hold replies back or grow without bound.
_MAX_PENDING = 10_000
# Decisions are for later analysis: batched, where a reply is sent at once.
_LINGER_MS = 50
# aiokafka's default batch (16 KB) holds one ~12 KB record: a produce request and a compression
# call per record. Half a megabyte holds ~40 (under the broker's 1 MB message limit).
_BATCH_BYTES = 512 * 1024
_BATCH_S = 0.05
# A record with 50 candidates takes ~0.25 ms to build, so 20 in a row would hold a reply back
# ~5 ms: the builder yields to the loop whenever it has run this long.
_SLICE_S = 0.0005


@dataclass(frozen=True, slots=True)
class PendingDecision:
    """A decision as the reply path saw it: the views' positions and versions at that moment."""

    request: SelectionRequest
    decision: Decision
    registry_positions: dict[int, int]
    registry_version: int
    scorecards_positions: dict[int, int]
    scorecards_version: int

    def inputs(self) -> DecisionInputs:
        return DecisionInputs(
            registry_positions={str(p): o for p, o in self.registry_positions.items()},
            scorecards_positions={str(p): o for p, o in self.scorecards_positions.items()},
            registry_version=self.registry_version,
            scorecards_version=self.scorecards_version,
            stats_age_ms=self.decision.reply_data["stats_age_ms"],
        )


@dataclass(slots=True)
class DecisionCounts:
    """What became of the decisions queued for the log (the responder's stats carry them)."""

    published: int = 0  # records the broker acknowledged
    dropped: int = 0  # never built: more than _MAX_PENDING were waiting
    failed: int = 0  # built but not acknowledged, or could not be built


class DecisionPublisher:
    """Its own producer, batching (linger), so the log adds no produce request per reply to the
    reply producer's; records are built in batches every `_BATCH_S`, yielding between them."""

    def __init__(self, settings: Settings, params: ScoringParams, counts: DecisionCounts) -> None:
        self.topic = settings.topic(TopicName.DECISIONS)
        self.params = params
        self._settings = settings
        self._hash = params_hash(params)
        self._pending: collections.deque[PendingDecision] = collections.deque()
        self._wakeup = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None
        self._task: asyncio.Task[None] | None = None
        self.counts = counts  # the responder's stats carry them

    async def start(self) -> None:
        producer = AIOKafkaProducer(
            # The deployment's codec, none by default: lz4 made records 5x smaller but aiokafka
            # compresses at level 9 on the worker's loop, which is where the CPU is short.
            **self._settings.producer_kwargs(),
            client_id=f"{self._settings.worker_id}-decisions",
            acks=1,
            linger_ms=_LINGER_MS,
            max_batch_size=_BATCH_BYTES,
            request_timeout_ms=30_000,
        )
        await producer.start()
        self._producer = producer
        self._task = asyncio.create_task(self._run(), name="decisions")

    async def stop(self) -> None:
        """Publish what is queued, then flush and close the producer."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._producer is not None:
            with contextlib.suppress(KafkaError):
                await self._publish_pending()
            producer, self._producer = self._producer, None
            await producer.stop()

    def add(self, pending: PendingDecision) -> None:
        """Queue one decision (O(1), no I/O)."""
        if len(self._pending) >= _MAX_PENDING:
            self._pending.popleft()
            self.counts.dropped += 1
        self._pending.append(pending)
        self._wakeup.set()

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            await asyncio.sleep(_BATCH_S)  # gather a batch: the records share the producer's batches
            self._wakeup.clear()
            await self._publish_pending()

    async def _publish_pending(self) -> None:
        producer = self._producer
        if producer is None:
            return
        slice_end = time.perf_counter() + _SLICE_S
        while self._pending:
            pending = self._pending.popleft()
            try:
                request, decision = pending.request, pending.decision
                propensities = None
                if decision.explore and decision.chosen is not None:
                    _ = decision.candidates  # the terms: Python, on the loop
                    # The Monte Carlo draws (~5 ms for 50 candidates) are numpy's, which lets go of
                    # the GIL: on a thread they run on another core, not in the replies' loop.
                    propensities = await asyncio.to_thread(logged_propensities, decision, self.params)
                record = encoded_decision_record(
                    request,
                    decision,
                    self.params,
                    pending.inputs(),
                    policy_hash=self._hash,
                    propensities=propensities,
                )
                delivery = await producer.send(self.topic, record, key=encode_key(request.request_id))
            except Exception:  # a bad record costs its log line, never the responder
                self.counts.failed += 1
                log.exception("could not log the decision of request %s", pending.request.request_id)
                continue
            delivery.add_done_callback(self._delivered)
            if time.perf_counter() >= slice_end:
                await asyncio.sleep(0)  # requests waiting meanwhile go first
                slice_end = time.perf_counter() + _SLICE_S

    def _delivered(self, fut: asyncio.Future[object]) -> None:
        if fut.cancelled() or fut.exception() is not None:
            self.counts.failed += 1
            if self.counts.failed in (1, 10, 100) or self.counts.failed % 1000 == 0:
                failed = self.counts.failed
                log.warning("%d decision records failed to reach %s (last: %r)", failed, self.topic, fut)
        else:
            self.counts.published += 1
