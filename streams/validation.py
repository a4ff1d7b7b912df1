"""Turns a raw record from an event topic into a valid event, or into a DeadLetter."""

from __future__ import annotations

from modelrouter.schemas import DeadLetter, Event, InvalidEventError, TopicName, decode_event, payload_text

__all__ = ["dead_letter", "parse_event"]

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


def dead_letter(raw: bytes | None, error: str, *, topic: str, partition: int, offset: int) -> DeadLetter:
    payload, encoding = payload_text(raw)
    return DeadLetter(
        source_topic=topic,
        partition=partition,
        offset=offset,
        error=error[:4096],
        payload=payload,
        payload_encoding=encoding,
    )
