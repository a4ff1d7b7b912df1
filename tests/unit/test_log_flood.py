"""RepeatedLogFilter: one line per cause every few seconds, with a count."""

from __future__ import annotations

import logging

import pytest

from modelrouter.agents.kafka.log_flood import RepeatedLogFilter, limit_repeated_logs


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(msg: str, *args: object, level: int = logging.ERROR, name: str = "aiokafka") -> logging.LogRecord:
    return logging.LogRecord(name, level, "client.py", 1, msg, args, None)


def test_repeats_are_dropped_for_the_interval_then_counted() -> None:
    clock = Clock()
    flood = RepeatedLogFilter(5.0, clock)
    template = "Unable connect to node with id %s: %s"
    passed = []
    for i in range(300):  # one retry every 50 ms for 15 s
        clock.now = i * 0.05
        rec = record(template, 1, f"Connect call failed ('127.0.0.1', {19000 + i})")
        if flood.filter(rec):
            passed.append(rec.getMessage())
    assert len(passed) == 3
    assert passed[0] == "Unable connect to node with id 1: Connect call failed ('127.0.0.1', 19000)"
    assert passed[1].endswith("[and 99 more like it in the last 5 s]")
    assert passed[2].endswith("[and 99 more like it in the last 5 s]")


def test_other_causes_loggers_and_info_lines_pass() -> None:
    flood = RepeatedLogFilter(5.0, Clock())
    assert flood.filter(record("Unable to update metadata from %s", [1]))
    assert flood.filter(record("Unable connect to node with id %s", 1))
    assert flood.filter(record("Unable connect to node with id %s", 1, name="aiokafka.conn"))
    assert flood.filter(record("Unable connect to node with id %s", 1, level=logging.WARNING))
    assert not flood.filter(record("Unable connect to node with id %s", 2))
    assert all(flood.filter(record("joined group", level=logging.INFO)) for _ in range(5))


def test_installed_once_on_every_logger_beneath(caplog: pytest.LogCaptureFixture) -> None:
    child = logging.getLogger("floodtest.child")
    first = limit_repeated_logs(5.0, ("floodtest",))
    assert first is not None
    assert limit_repeated_logs(5.0, ("floodtest",)) is first
    assert child.filters.count(first) == 1 and logging.getLogger("floodtest").filters.count(first) == 1
    assert limit_repeated_logs(0, ("floodtest",)) is None
    with caplog.at_level(logging.WARNING, logger="floodtest"):
        for _ in range(50):
            child.error("broker %s down", "b:1")
    assert [r.getMessage() for r in caplog.records] == ["broker b:1 down"]
    for logger in (child, logging.getLogger("floodtest")):
        logger.removeFilter(first)
