"""The decisions and task-completed topics read as a batch over a window, for `evaluate` and
`explain` (docs/evaluation.md says why a batch read and not a stream join in the worker)."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from modelrouter.schemas import (
    DecisionRecord,
    InvalidEventError,
    Settings,
    TaskCompleted,
    TopicName,
    decode,
)

from .failures import EXIT_USAGE, CommandError
from .topic_records import read_records

__all__ = ["parse_window", "read_completions", "read_decisions"]

log = logging.getLogger("modelrouter.cli.decision_logs")

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def parse_window(text: str) -> timedelta:
    """`24h`, `90m`, `2d`, `3600s` (a bare number is hours)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if match is None or float(match.group(1)) <= 0:
        raise CommandError(f"--window {text!r}: give a length such as 24h, 90m or 2d", EXIT_USAGE)
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2) or "h"])


async def read_decisions(
    settings: Settings, since: datetime | None, agent_type: str | None = None
) -> list[DecisionRecord]:
    since_ms = None if since is None else int(since.timestamp() * 1000)
    out = []
    for r in await read_records(settings, settings.topic(TopicName.DECISIONS), since_ms=since_ms):
        if r.value is None:
            continue
        try:
            record = decode(DecisionRecord, r.value)
        except InvalidEventError as exc:
            log.warning("skipping a bad decision record at %d@%d: %s", r.partition, r.offset, exc)
            continue
        if agent_type is None or record.agent_type == agent_type:
            out.append(record)
    return out


async def read_completions(settings: Settings, since: datetime | None) -> list[TaskCompleted]:
    since_ms = None if since is None else int(since.timestamp() * 1000)
    out = []
    for r in await read_records(settings, settings.topic(TopicName.TASK_COMPLETED), since_ms=since_ms):
        if r.value is None:
            continue
        try:
            out.append(decode(TaskCompleted, r.value))
        except InvalidEventError:
            continue  # the worker dead-letters it; it is no outcome
    return out
