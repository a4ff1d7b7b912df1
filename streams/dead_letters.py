"""DeadLetters: dead-letter records that always fit the producer, and the skips when even
those are refused (position, reason, logged and counted), so no record stops the fold."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka.errors import (
    CorruptRecordException,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
)

from modelrouter.schemas import encode

from .validation import dead_letter

__all__ = [
    "DEAD_LETTER_MAX_BYTES",
    "DEAD_LETTER_MAX_KEY_BYTES",
    "PAYLOAD_CUT_BYTES",
    "DeadLetters",
    "SkippedRecord",
    "bounded_dead_letter",
]

log = logging.getLogger("modelrouter.streams.dead_letters")

# A dead letter, value and key, stays well under the producer's max_request_size (faust's
# default, 1,000,000 bytes) and the topic's max.message.bytes (1 MiB). An invalid record
# the broker accepted can escape to more than that: 71,000 short JSON keys (912 KB)
# became a 1.2 MB dead letter, refused on every restart of the worker (issue 16).
DEAD_LETTER_MAX_BYTES = 256 * 1024
# A longer payload keeps its first bytes only; JSON escapes at most 6 bytes per byte and
# base64 4 per 3, so a cut payload always fits in DEAD_LETTER_MAX_BYTES.
PAYLOAD_CUT_BYTES = 16 * 1024
# A longer original key is left off the dead letter (the letter names topic and offset).
DEAD_LETTER_MAX_KEY_BYTES = 16 * 1024
# Errors that refuse this record for good: retrying it would fail the same way forever.
_REFUSED_FOR_GOOD = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    RecordListTooLargeError,
    CorruptRecordException,
)
_RECENT_SKIPS = 100


def bounded_dead_letter(
    raw: bytes | None, key: bytes | None, error: str, *, topic: str, partition: int, offset: int
) -> tuple[bytes | None, bytes]:
    """The dead letter of a record as (key, value) bytes, within DEAD_LETTER_MAX_BYTES."""
    notes = []
    if key is not None and len(key) > DEAD_LETTER_MAX_KEY_BYTES:
        notes.append(f"its key of {len(key)} bytes was left off")
        key = None
    value = encode(dead_letter(raw, error, topic=topic, partition=partition, offset=offset))
    if len(value) > DEAD_LETTER_MAX_BYTES:
        assert raw is not None  # an absent value makes a letter of a few hundred bytes
        notes.append(
            f"payload cut to its first {PAYLOAD_CUT_BYTES} of {len(raw)} bytes: the dead letter "
            f"would have been {len(value)} bytes, over the {DEAD_LETTER_MAX_BYTES}-byte bound"
        )
        letter = dead_letter(
            raw, error, topic=topic, partition=partition, offset=offset, cut_to=PAYLOAD_CUT_BYTES
        )
        value = encode(letter.model_copy(update={"error": _with_notes(letter.error, notes)}))
    elif notes:
        letter = dead_letter(raw, _with_notes(error, notes), topic=topic, partition=partition, offset=offset)
        value = encode(letter)
    return key, value


def _with_notes(error: str, notes: list[str]) -> str:
    tail = "; dead letter: " + "; ".join(notes)
    return error[: 4096 - len(tail)] + tail


@dataclass(frozen=True, slots=True)
class SkippedRecord:
    """An invalid record whose dead letter Kafka refused: it is in no topic but its own."""

    topic: str
    partition: int
    offset: int
    reason: str


@dataclass
class DeadLetters:
    """Sends dead letters through `send(key, value)`; a letter refused for good is skipped
    with a log line and kept in `skipped` (the latest few) and `skipped_count`."""

    send: Callable[[bytes | None, bytes], Awaitable[Any]]
    on_skip: Callable[[SkippedRecord], None] | None = None  # e.g. keep it in the worker's state
    skipped: deque[SkippedRecord] = field(default_factory=lambda: deque(maxlen=_RECENT_SKIPS))
    skipped_count: int = 0

    def send_soon(
        self, raw: bytes | None, key: bytes | None, error: str, *, topic: str, partition: int, offset: int
    ) -> asyncio.Future[None]:
        """The future of the letter's delivery. It fails only on errors worth a replay (the
        broker unreachable): a letter refused for good resolves as a recorded skip."""
        letter_key, value = bounded_dead_letter(
            raw, key, error, topic=topic, partition=partition, offset=offset
        )
        return asyncio.ensure_future(self._deliver(self.send(letter_key, value), topic, partition, offset))

    async def _deliver(self, delivery: Awaitable[Any], topic: str, partition: int, offset: int) -> None:
        try:
            await delivery
        except _REFUSED_FOR_GOOD as exc:
            skip = SkippedRecord(topic, partition, offset, f"dead letter refused: {exc!r}")
            self.skipped.append(skip)
            self.skipped_count += 1
            log.error(
                "skipped record %s:%d at offset %d, in no topic but its own: %s",
                topic,
                partition,
                offset,
                skip.reason,
            )
            if self.on_skip is not None:
                self.on_skip(skip)
