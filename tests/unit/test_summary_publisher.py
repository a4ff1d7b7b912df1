"""The summary timer's rounds: scorecards every round; provisional summaries (trailing windows,
open buckets) every round when caught up, every _BEHIND_EVERY_S while the reader is behind."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from modelrouter.schemas import Settings
from modelrouter.streams.summary_publisher import _BEHIND_EVERY_S, SummaryPublisher


class _Sender:
    def __init__(self) -> None:
        self.records: list[tuple[str, bytes, bytes]] = []

    def send_all(self, records: list[tuple[str, bytes, bytes]]) -> list[Any]:
        self.records += records
        return []


def _publisher() -> tuple[SummaryPublisher, _Sender, SimpleNamespace]:
    index = SimpleNamespace(clocks={}, reclose=set(), dirty_models=set())
    sender = _Sender()
    publisher = SummaryPublisher(
        Settings(),
        tables=None,  # type: ignore[arg-type]  # the parts that read them are stubbed below
        cache=None,  # type: ignore[arg-type]
        stored=SimpleNamespace(index=index),  # type: ignore[arg-type]
        sender=sender,  # type: ignore[arg-type]
    )

    async def trailing(models: set[str]) -> list[tuple[str, bytes, bytes]]:
        return [("summaries", m.encode(), b"trailing") for m in sorted(models)]

    publisher.provisional = trailing  # type: ignore[method-assign]
    publisher.scorecards = lambda models: [("scorecards", m.encode(), b"card") for m in sorted(models)]  # type: ignore[method-assign]
    publisher.open_buckets = lambda models: [("summaries", m.encode(), b"open") for m in sorted(models)]  # type: ignore[method-assign]
    return publisher, sender, index


def _round(
    publisher: SummaryPublisher, sender: _Sender, index: SimpleNamespace, wall: float, *dirty: str
) -> list[tuple[bytes, bytes]]:
    index.dirty_models = set(dirty)
    sender.records = []
    asyncio.run(publisher.publish_due(wall))
    return [(key, value) for _, key, value in sender.records]


def test_caught_up_every_round_sends_all_three() -> None:
    publisher, sender, index = _publisher()
    assert _round(publisher, sender, index, 100.0, "a") == [
        (b"a", b"trailing"),
        (b"a", b"card"),
        (b"a", b"open"),
    ]
    assert _round(publisher, sender, index, 101.0, "b") == [
        (b"b", b"trailing"),
        (b"b", b"card"),
        (b"b", b"open"),
    ]


def test_behind_scorecards_every_round_provisional_summaries_held_and_kept() -> None:
    publisher, sender, index = _publisher()
    publisher.behind = True
    assert _round(publisher, sender, index, 100.0, "a") == [
        (b"a", b"trailing"),
        (b"a", b"card"),
        (b"a", b"open"),
    ]
    # Within _BEHIND_EVERY_S: only the scorecards selection reads.
    assert _round(publisher, sender, index, 101.0, "b") == [(b"b", b"card")]
    assert _round(publisher, sender, index, 100.0 + _BEHIND_EVERY_S - 0.5, "c") == [(b"c", b"card")]
    # Then every model changed meanwhile gets its provisional summaries, none lost.
    assert _round(publisher, sender, index, 100.0 + _BEHIND_EVERY_S, "d") == [
        (b"b", b"trailing"),
        (b"c", b"trailing"),
        (b"d", b"trailing"),
        (b"d", b"card"),
        (b"b", b"open"),
        (b"c", b"open"),
        (b"d", b"open"),
    ]


def test_caught_up_again_the_held_summaries_go_out_at_once() -> None:
    publisher, sender, index = _publisher()
    publisher.behind = True
    _round(publisher, sender, index, 100.0, "a")
    assert _round(publisher, sender, index, 101.0, "b") == [(b"b", b"card")]
    publisher.behind = False
    assert _round(publisher, sender, index, 102.0) == [(b"b", b"trailing"), (b"b", b"open")]
