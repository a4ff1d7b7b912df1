"""Dead letters always fit: a payload too big is cut, with its size, digest and the reason."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random

import pytest
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

from modelrouter.schemas import DeadLetter, decode, dumps
from modelrouter.streams.dead_letters import (
    DEAD_LETTER_MAX_BYTES,
    PAYLOAD_CUT_BYTES,
    DeadLetters,
    bounded_dead_letter,
)

TOPIC = "p.task-completed"


def many_keys() -> bytes:
    """The issue's record: a 911,915-byte JSON object of 71,000 short keys (each quote
    escapes to two bytes in a dead letter: 1.2 MB, over the producer's 1 MB)."""
    fields: dict[str, object] = {f"k{i:05d}": 0 for i in range(70_999)}
    short = len(dumps({**fields, "last": ""}))
    return dumps({**fields, "last": "x" * (911_915 - short)})


def test_a_small_invalid_record_is_kept_whole_with_size_and_digest() -> None:
    raw = b'{"type": "task_completed"}'
    key, value = bounded_dead_letter(raw, b"k", "bad", topic=TOPIC, partition=1, offset=7)
    letter = decode(DeadLetter, value)
    assert key == b"k"
    assert (letter.payload, letter.payload_encoding, letter.payload_truncated) == (
        raw.decode(),
        "utf-8",
        False,
    )
    assert letter.payload_bytes == len(raw)
    assert letter.payload_sha256 == hashlib.sha256(raw).hexdigest()
    assert (letter.source_topic, letter.partition, letter.offset, letter.error) == (TOPIC, 1, 7, "bad")


def test_an_object_that_escapes_past_the_bound_is_cut() -> None:
    raw = many_keys()
    assert (len(raw), raw.count(b":")) == (911_915, 71_000)
    _, value = bounded_dead_letter(raw, b"k", "invalid", topic=TOPIC, partition=0, offset=3)
    assert len(value) <= DEAD_LETTER_MAX_BYTES
    letter = decode(DeadLetter, value)
    assert letter.payload_truncated
    assert letter.payload_bytes == len(raw)
    assert letter.payload_sha256 == hashlib.sha256(raw).hexdigest()
    assert raw.startswith(letter.payload.encode())
    assert len(letter.payload.encode()) == PAYLOAD_CUT_BYTES
    assert letter.error.startswith("invalid; dead letter: payload cut to its first 16384 of")


def test_a_large_binary_value_is_cut_before_base64() -> None:
    raw = random.Random(1).randbytes(900_000) + b"\xff"
    _, value = bounded_dead_letter(raw, None, "not UTF-8", topic=TOPIC, partition=0, offset=0)
    letter = decode(DeadLetter, value)
    assert letter.payload_encoding == "base64"
    assert base64.b64decode(letter.payload) == raw[:PAYLOAD_CUT_BYTES]
    assert (letter.payload_bytes, letter.payload_truncated) == (len(raw), True)


def test_a_cut_never_splits_a_utf8_character() -> None:
    raw = ("é" * 300_000).encode()  # two bytes each; the cut falls inside one when odd
    _, value = bounded_dead_letter(raw[1:] + b"x", None, "e", topic=TOPIC, partition=0, offset=0)
    letter = decode(DeadLetter, value)
    assert letter.payload_encoding == "base64"  # it starts mid-character: not UTF-8 at all
    _, value = bounded_dead_letter(b"a" + raw, None, "e", topic=TOPIC, partition=0, offset=0)
    letter = decode(DeadLetter, value)
    assert letter.payload_encoding == "utf-8"
    assert letter.payload == "a" + "é" * ((PAYLOAD_CUT_BYTES - 1) // 2)


def test_a_huge_key_is_left_off() -> None:
    key, value = bounded_dead_letter(b"{}", b"k" * 500_000, "e", topic=TOPIC, partition=0, offset=0)
    assert key is None
    assert decode(DeadLetter, value).error == "e; dead letter: its key of 500000 bytes was left off"


async def test_a_letter_refused_for_good_is_a_recorded_skip_and_others_fail() -> None:
    outcomes: list[BaseException] = [MessageSizeTooLargeError(), KafkaTimeoutError()]

    async def send(key: bytes | None, value: bytes) -> None:
        raise outcomes.pop(0)

    letters = DeadLetters(send)
    await letters.send_soon(b"x", None, "bad", topic=TOPIC, partition=2, offset=41)
    assert letters.skipped_count == 1
    (skip,) = letters.skipped
    assert (skip.topic, skip.partition, skip.offset) == (TOPIC, 2, 41)
    assert "MessageSizeTooLargeError" in skip.reason
    # A broker that does not answer is not the record's fault: the batch fails and is replayed.
    with pytest.raises(KafkaTimeoutError):
        await asyncio.ensure_future(letters.send_soon(b"x", None, "bad", topic=TOPIC, partition=2, offset=42))
    assert letters.skipped_count == 1
