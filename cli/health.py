"""`modelrouter health`: every model's circuit, cooldown and recent failures, as a worker's
selection sees them (a `health` request on the selection-requests topic)."""

from __future__ import annotations

import argparse
import asyncio
from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table

from modelrouter.schemas import HealthReply, ModelHealthReport

from .connection import selection_client
from .failures import EXIT_OK
from .options import add_command, settings_from
from .output import DASH, console, json_line, percent

__all__ = ["health_view", "register"]


def _until(t: datetime | None, now: datetime) -> str:
    if t is None or t <= now:
        return DASH
    return f"{t:%H:%M:%S} (in {(t - now).total_seconds():,.0f} s)"


def _circuit(r: ModelHealthReport) -> str:
    if r.circuit == "closed":
        return "closed"
    return f"{r.circuit.replace('_', '-')} {r.circuit_reason or ''}".strip()


def _failures(r: ModelHealthReport) -> str:
    worst = sorted(r.recent_failures.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{error} x{n}" for error, n in worst[:3]) or DASH


def health_view(reply: HealthReply) -> RenderableType:
    now = reply.as_of
    table = Table(
        title=f"model health as selection sees it, {now:%Y-%m-%d %H:%M:%S} UTC", title_justify="left"
    )
    for name in (
        "model",
        "provider",
        "circuit",
        "open until",
        "cooldown until",
        "streak",
        "calls",
        "success",
    ):
        table.add_column(name, justify="right" if name in ("streak", "calls", "success") else "left")
    table.add_column("recent failures (why)")
    for r in reply.models:
        table.add_row(
            r.model_id if r.enabled else f"{r.model_id} (disabled)",
            r.provider or DASH,
            _circuit(r),
            _until(r.circuit_open_until, now) if r.circuit != "closed" else DASH,
            _until(r.cooldown_until, now),
            str(r.failure_streak),
            f"{r.requests:,}",
            percent(r.success_rate),
            _failures(r),
        )
    if not reply.models:
        return "no models: load a registry (modelrouter registry load) and start a worker"
    sick = [r for r in reply.models if r.circuit != "closed" or r.in_cooldown]
    head = (
        f"{len(sick)} of {len(reply.models)} models avoided or probed now" if sick else "all models healthy"
    )
    return Group(head, table)


async def ask(args: argparse.Namespace) -> HealthReply:
    async with selection_client(settings_from(args)) as client:
        return await client.health(deadline_ms=args.deadline_ms)


def run(args: argparse.Namespace) -> int:
    reply = asyncio.run(ask(args))
    if args.json:
        json_line(reply)
    else:
        console().print(health_view(reply))
    return EXIT_OK


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "health",
        summary="Show every model's circuit, cooldown and recent failures, as selection sees them.",
        details="A worker answers from the scorecards selection reads: the circuit state and why it "
        "tripped, until when it stays open, the rate-limit cooldown's end, the failure streak and "
        "the failures of the scorecard's window by error type.",
        examples=[
            "modelrouter health",
            "modelrouter health --json | jq '.models[] | select(.circuit != \"closed\")'",
        ],
        handler=run,
    )
    parser.add_argument(
        "--deadline-ms",
        type=int,
        default=5000,
        metavar="N",
        help="how long to wait for the reply (default 5000)",
    )
    parser.add_argument("--json", action="store_true", help="print the HealthReply as one JSON line")
