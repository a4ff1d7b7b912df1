"""`modelrouter tail`: follows the `summaries` topic as a live table, or as JSON lines for programs."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncGenerator, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from rich.live import Live

from modelrouter.schemas import (
    InvalidEventError,
    Settings,
    TopicName,
    WindowSummary,
    decode,
)

from .connection import connect
from .failures import EXIT_OK, CommandError
from .options import add_command, settings_from
from .output import console, json_line
from .summary_board import ALL, WINDOWS, SummaryBoard, TailFilter

__all__ = ["follow", "register"]


async def _partitions(consumer: AIOKafkaConsumer, topic: str, stop: asyncio.Event) -> list[int] | None:
    """The topic's partitions, waiting for a worker to create it; None if stopped first."""
    told = False
    while not stop.is_set():
        meta = await consumer._client.fetch_all_metadata()  # fresh metadata, not the cached view
        parts = sorted(meta.partitions_for_topic(topic) or ())
        if parts:
            return parts
        if not told:
            print(f"waiting for {topic} (a worker creates it: `modelrouter worker`)", file=sys.stderr)
            told = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
    return None


async def follow(
    settings: Settings, stop: asyncio.Event, *, from_beginning: bool, on_ready: Callable[[], None]
) -> AsyncGenerator[list[ConsumerRecord[bytes, bytes]], None]:
    """Batches of the summaries topic's records, from every partition, no consumer group."""
    topic = settings.topic(TopicName.SUMMARIES)
    consumer = AIOKafkaConsumer(**settings.aiokafka_kwargs(), enable_auto_commit=False, fetch_max_wait_ms=200)
    try:
        await connect(settings, consumer.start())
        parts = await _partitions(consumer, topic, stop)
        if parts is None:
            return  # stopped before the topic appeared: on_ready was never called
        tps = [TopicPartition(topic, p) for p in parts]
        consumer.assign(tps)
        await (consumer.seek_to_beginning(*tps) if from_beginning else consumer.seek_to_end(*tps))
        for tp in tps:
            await consumer.position(tp)  # resolved now: "following" means nothing new is missed
        where = "the beginning" if from_beginning else "now on"
        print(f"following {topic} from {where} (Ctrl-C to stop)", file=sys.stderr, flush=True)
        on_ready()
        while not stop.is_set():
            batch = [r for records in (await consumer.getmany(timeout_ms=250)).values() for r in records]
            if batch:
                yield batch
    finally:
        await consumer.stop()


async def tail(settings: Settings, args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    interrupted: list[int] = []
    ready: list[bool] = []

    def interrupt(sig: int) -> None:
        interrupted.append(sig)
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupt, sig)  # Ctrl-C ends the tail quietly, with exit 0
    if args.seconds is not None:
        loop.call_later(args.seconds, stop.set)
    wanted = TailFilter(args.model, args.agent_type, args.window)
    board = SummaryBoard()
    title = settings.topic(TopicName.SUMMARIES)
    out = console()
    live = None if args.json else Live(board.table(title, out.width), console=out, refresh_per_second=4)

    def on_ready() -> None:
        ready.append(True)
        if live is not None:
            live.start()

    records = follow(settings, stop, from_beginning=args.from_beginning, on_ready=on_ready)
    try:
        async with contextlib.aclosing(records) as batches:
            async for batch in batches:
                for record in batch:
                    summary = _decode(record, board)
                    if summary is None or not wanted.accepts(summary):
                        continue
                    board.apply(summary)
                    if args.json and not _write(summary):
                        stop.set()
                if live is not None:
                    live.update(board.table(title, out.width))
    finally:
        if live is not None and live.is_started:
            live.stop()
    if not ready and not interrupted:
        topic = settings.topic(TopicName.SUMMARIES)
        raise CommandError(
            f"{topic} does not exist: is a worker running on prefix {settings.topic_prefix!r}?"
        )
    return EXIT_OK


def _decode(record: ConsumerRecord[bytes, bytes], board: SummaryBoard) -> WindowSummary | None:
    """The record's summary; None for a tombstone (applied to the board) or an invalid record."""
    if record.value is None:
        board.remove(record.key.decode("utf-8", errors="replace") if record.key is not None else "")
        return None
    try:
        return decode(WindowSummary, record.value)
    except InvalidEventError as exc:
        board.skipped += 1
        print(f"skipped {record.topic}[{record.partition}]@{record.offset}: {exc}", file=sys.stderr)
        return None


def _write(summary: WindowSummary) -> bool:
    """One JSON line; False once the reader has gone (`| head`)."""
    try:
        json_line(summary)
    except BrokenPipeError:
        # Point stdout at /dev/null so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return False
    return True


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    return asyncio.run(tail(settings, args))


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "tail",
        summary="Follow the summaries topic: a live per-model table, or one JSON line per summary.",
        details="Reads every partition without a consumer group, from now on (--from-beginning for "
        "the topic's compacted history). Rows are one per model, agent type and window: buckets "
        "(final when closed) and the trailing 5m, 1h and 24h windows. Ctrl-C stops (exit 0).",
        examples=[
            "modelrouter tail",
            "modelrouter tail --model gpt-4o --window 5m",
            "modelrouter tail --agent-type SA --window bucket",
            "modelrouter tail --json | jq -c '{model_id, window, requests, success_rate}'",
        ],
        handler=run,
    )
    parser.add_argument("--model", metavar="M", help="only this model")
    parser.add_argument(
        "--agent-type",
        metavar="A",
        help=f"only this agent type's bucket rows (default: the rows over all agents; {ALL!r}: every row)",
    )
    parser.add_argument("--window", choices=WINDOWS, help="only this window (default: all)")
    parser.add_argument("--from-beginning", action="store_true", help="replay the topic first")
    parser.add_argument("--seconds", type=float, metavar="N", help="stop after N seconds")
    parser.add_argument("--json", action="store_true", help="one WindowSummary JSON object per line")
