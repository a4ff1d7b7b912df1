"""Turns a raw record from an event topic into a valid event, or into a DeadLetter."""

from __future__ import annotations

import hashlib

from modelrouter.schemas import DeadLetter, Event, InvalidEventError, TopicName, decode_event, payload_text

__all__ = ["dead_letter", "dead_letter_reason", "parse_event"]

# The task-completed topic also carries quality reports: keyed by model_id like the
# TaskCompleted they complete, so both land on the same partition and bucket keys.
_TYPES_OF_TOPIC = {
    TopicName.TASK_COMPLETED: ("task_completed", "quality_reported"),
    TopicName.RATE_LIMITED: ("rate_limited",),
    TopicName.FAILOVER: ("failover",),
}


def parse_event(raw: bytes | None, topic: TopicName) -> Event:
    """The event in `raw`, which must be of a type its topic carries; else InvalidEventError."""
    if raw is None:
        raise InvalidEventError("event", [{"loc": (), "msg": "record has no value (null)"}])
    event = decode_event(raw)
    if event.type not in _TYPES_OF_TOPIC[topic]:
        raise InvalidEventError(
            "event",
            [
                {
                    "loc": ("type",),
                    "msg": f"a {event.type} event does not belong on topic {topic}",
                    "input": event.type,
                }
            ],
        )
    return event


def dead_letter(
    raw: bytes | None, error: str, *, topic: str, partition: int, offset: int, cut_to: int | None = None
) -> DeadLetter:
    """The DeadLetter of a record; with `cut_to`, its payload keeps that many bytes at most."""
    shown = raw
    if raw is not None and cut_to is not None and len(raw) > cut_to:
        shown = _utf8_head(raw, cut_to)
    payload, encoding = payload_text(shown)
    return DeadLetter(
        source_topic=topic,
        partition=partition,
        offset=offset,
        error=error[:4096],
        payload=payload,
        payload_encoding=encoding,
        payload_bytes=None if raw is None else len(raw),
        payload_sha256=None if raw is None else hashlib.sha256(raw).hexdigest(),
        payload_truncated=shown is not raw,
    )


def _utf8_head(raw: bytes, size: int) -> bytes:
    """The first `size` bytes, less a UTF-8 character the cut split (so text stays text)."""
    head = raw[:size]
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data":
            return head[: exc.start]
    return head


def dead_letter_reason(exc: InvalidEventError) -> str:
    """A short, bounded label for why a record was dead-lettered (the metrics' `reason`):
    pydantic's error type of the first offending field (`json_invalid`, `missing`,
    `extra_forbidden`, ...), or `null_value` / `wrong_topic` for parse_event's own checks."""
    first = exc.errors[0] if exc.errors else {}
    kind = first.get("type")
    if isinstance(kind, str) and kind:
        return kind[:64]
    if tuple(first.get("loc", ())) == ("type",):
        return "wrong_topic"
    if first.get("msg", "").startswith("record has no value"):
        return "null_value"
    return "invalid"
