"""DeadLetter: a record a processor could not accept, kept with the reason."""

from __future__ import annotations

import base64
from typing import Annotated

from pydantic import Field

from .base import NonNegInt, Record, Timestamp, utc_now

__all__ = ["DeadLetter", "payload_text"]


class DeadLetter(Record):
    source_topic: Annotated[str, Field(min_length=1, max_length=249)]
    partition: NonNegInt
    offset: NonNegInt
    # Set for a whole record batch that could not be read (a codec the worker lacks, a
    # corrupt batch): `offset` is its first offset, `last_offset` its last, `payload` empty
    # (the records stay in the source topic until its retention ends).
    last_offset: NonNegInt | None = None
    error: Annotated[str, Field(max_length=4096)]
    payload: str
    payload_encoding: Annotated[str, Field(pattern="^(utf-8|base64)$")] = "utf-8"
    received_at: Timestamp = Field(default_factory=utc_now)
    # The raw value's size and SHA-256 (null: no value), and whether `payload` holds only its
    # first bytes: a record too big for a dead letter is cut, and can still be matched.
    payload_bytes: NonNegInt | None = None
    payload_sha256: Annotated[str, Field(pattern="^[0-9a-f]{64}$")] | None = None
    payload_truncated: bool = False


def payload_text(raw: bytes | None) -> tuple[str, str]:
    """The raw bytes as UTF-8 text where they decode, else base64; with the encoding used."""
    if raw is None:
        return "", "utf-8"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), "base64"
