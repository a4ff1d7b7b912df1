"""Unreadable record batches: finding the batch a fetch could not decode (a codec this worker
lacks, a corrupt batch), so the event reader can dead-letter it and read on after it.

aiokafka decodes a partition's fetched batches inside `getmany()`, and a batch it cannot
decode fails the whole call without saying which partition or offsets were at fault. So the
partitions are read again here with plain Fetch requests, whose batch headers (first and next
offset) stay readable when a payload does not: each batch is decoded on its own, and the
first that fails is the one to step over. The records before it are returned decoded, to be
folded first, since the failed `getmany()` lost them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.client import AIOKafkaClient
from aiokafka.errors import LeaderNotAvailableError, OffsetOutOfRangeError, for_code
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.record.memory_records import MemoryRecords

from modelrouter.schemas import DeadLetter, Settings

__all__ = ["UnreadableBatch", "find_unreadable", "unreadable_letter"]

log = logging.getLogger("modelrouter.streams.unreadable")

_FETCH_TIMEOUT_MS = 10_000


@dataclass(frozen=True)
class UnreadableBatch:
    """A batch of `tp` that could not be decoded, and the decoded records before it."""

    tp: TopicPartition
    first_offset: int
    next_offset: int  # where reading goes on
    reason: str
    before: list[ConsumerRecord[bytes, bytes]] = field(default_factory=list)


@dataclass(frozen=True)
class _Scan:
    records: list[ConsumerRecord[bytes, bytes]]
    bad: tuple[int, int, str] | None  # (first offset, next offset, reason)
    next_offset: int  # where the scan stopped (the log end when nothing was left)


def unreadable_letter(batch: UnreadableBatch) -> DeadLetter:
    return DeadLetter(
        source_topic=batch.tp.topic,
        partition=batch.tp.partition,
        offset=batch.first_offset,
        last_offset=batch.next_offset - 1,
        error=f"record batch could not be read: {batch.reason}"[:4096],
        payload="",
    )


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _decode_batches(tp: TopicPartition, raw: bytes, start: int) -> _Scan:
    """Decode one fetch response's batches from `start` on, up to the first that fails."""
    records: list[ConsumerRecord[bytes, bytes]] = []
    position = start
    batches = MemoryRecords(raw)
    while batches.has_next():
        batch: Any = batches.next_batch()
        if batch is None:  # a partial batch at the end of the response (fetch size)
            break
        first = max(getattr(batch, "base_offset", position), position)
        if batch.next_offset <= position:
            continue
        if batch.is_control_batch:
            position = batch.next_offset
            continue
        try:
            if not batch.validate_crc():
                raise ValueError("CRC mismatch")
            decoded = [
                ConsumerRecord(
                    tp.topic,
                    tp.partition,
                    r.offset,
                    r.timestamp,
                    getattr(r, "timestamp_type", getattr(batch, "timestamp_type", 0)),
                    r.key,
                    r.value,
                    r.checksum,
                    -1 if r.key is None else len(r.key),
                    -1 if r.value is None else len(r.value),
                    tuple(r.headers),
                )
                for r in batch
                if r.offset >= position
            ]
        except Exception as exc:  # whatever the decoder raised is the reason, kept as text
            return _Scan(records, (first, batch.next_offset, _describe(exc)), first)
        records += decoded
        position = batch.next_offset
    return _Scan(records, None, position)


class _RawFetcher:
    """Plain Fetch requests to each partition's leader, returning the undecoded batches."""

    def __init__(self, settings: Settings, max_bytes: int) -> None:
        self._client = AIOKafkaClient(
            **settings.aiokafka_kwargs(),
            client_id=f"{settings.worker_id}-unreadable",
            request_timeout_ms=_FETCH_TIMEOUT_MS,
        )
        self._max_bytes = max_bytes

    async def __aenter__(self) -> _RawFetcher:
        await self._client.bootstrap()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.close()

    async def fetch(self, tp: TopicPartition, offset: int) -> tuple[bytes, int]:
        """(the batches from the one holding `offset`, the partition's high watermark)."""
        await self._client._wait_on_metadata(tp.topic)  # (no public way to wait for a topic's leader)
        leader = self._client.cluster.leader_for_partition(tp)
        if leader is None or leader < 0:
            raise LeaderNotAvailableError(f"no leader for {tp}")
        partitions = [(tp.partition, offset, self._max_bytes)]
        request = FetchRequest(0, 1, self._max_bytes, 0, [(tp.topic, partitions)])
        response = await self._client.send(leader, request)
        for _topic, partitions in response.topics:
            for _partition, error_code, highwater, *data in partitions:
                if error_code:
                    raise for_code(error_code)(f"fetching {tp} at {offset}")
                return bytes(data[-1] or b""), highwater
        return b"", offset

    async def scan(self, tp: TopicPartition, start: int, until: int) -> _Scan:
        """Decode `tp` from `start` until a batch fails, or one fetch starting at or after
        `until` has been read, or the log ends."""
        records: list[ConsumerRecord[bytes, bytes]] = []
        position = start
        while True:
            raw, highwater = await self.fetch(tp, position)
            window_start = position
            scan = _decode_batches(tp, raw, position)
            records += scan.records
            if scan.bad is not None or scan.next_offset >= highwater or window_start >= until:
                return _Scan(records, scan.bad, scan.next_offset)
            if scan.next_offset == position:  # nothing whole in the response: no progress possible
                return _Scan(records, None, position)
            position = scan.next_offset


async def find_unreadable(
    settings: Settings,
    consumer: AIOKafkaConsumer,
    read_to: Mapping[TopicPartition, int],
    max_partition_bytes: int,
) -> list[UnreadableBatch]:
    """The first undecodable batch of each assigned partition that has one within the fetch
    the consumer failed on, with the decoded records from `read_to` (the next offset to
    fold) up to it. Empty when every partition decodes: the failure was not a bad batch."""
    found: list[UnreadableBatch] = []
    async with _RawFetcher(settings, max_partition_bytes) as fetcher:
        for tp in _sorted(read_to):
            # The consumer's position is where its failed fetch result was read up to; that
            # fetch holds at most max_partition_bytes from there.
            position = await consumer.position(tp)
            probe = await fetcher.scan(tp, position, until=position)
            if probe.bad is None:
                continue
            start = read_to[tp]
            if start != position:
                try:
                    scan = await fetcher.scan(tp, start, until=probe.bad[0])
                except OffsetOutOfRangeError:  # read_to is 0 for "from the beginning"
                    start = (await consumer.beginning_offsets([tp]))[tp]
                    scan = await fetcher.scan(tp, start, until=probe.bad[0])
            else:
                scan = probe
            if scan.bad is None:  # (read again, it decoded: take the probe's finding)
                scan = _Scan(scan.records, probe.bad, probe.next_offset)
            first, next_offset, reason = scan.bad  # type: ignore[misc]
            found.append(UnreadableBatch(tp, first, next_offset, reason, scan.records))
            log.warning(
                "%s:%d offsets %d..%d could not be read (%s): dead-lettered, reading on after them",
                tp.topic,
                tp.partition,
                first,
                next_offset - 1,
                reason,
            )
    return found


def _sorted(tps: Iterable[TopicPartition]) -> list[TopicPartition]:
    return sorted(tps, key=lambda tp: (tp.topic, tp.partition))
