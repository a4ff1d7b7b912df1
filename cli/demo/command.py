"""`modelrouter demo`: its options and its handler (the demo itself is imported only when it runs)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from ..options import add_command, settings_from
from .timeline import Timeline

__all__ = ["add_arguments", "add_timeline_arguments", "register", "timeline_from"]


def _rate(text: str) -> float:
    from .run import MAX_RATE

    value = float(text)
    if not 0 < value <= MAX_RATE:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most {MAX_RATE:g} tasks/s")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not 10 <= value <= 3600:
        raise argparse.ArgumentTypeError("must be between 10 and 3600 seconds")
    return value


def add_timeline_arguments(parser: argparse.ArgumentParser) -> None:
    """The outage and storm options (also bench/decisions.py's, so another world needs no code)."""
    timing = parser.add_argument_group("timeline (seconds from the start; default: scaled to --seconds)")
    timing.add_argument("--outage-at", type=float, help="when the provider outage begins (default: 1/4 in)")
    timing.add_argument("--outage-for", type=float, help="how long it lasts (default: 1/4 of the run)")
    timing.add_argument("--storm-at", type=float, help="when the rate-limit storm begins (default: 2/3 in)")
    timing.add_argument("--storm-for", type=float, help="how long it lasts (default: 1/6 of the run)")
    timing.add_argument(
        "--outage-provider", default="anthropic", help="the provider that fails (default anthropic)"
    )
    timing.add_argument(
        "--storm-model", default="gpt-4o", help="the model that answers 429s (default gpt-4o)"
    )


def timeline_from(args: argparse.Namespace) -> Timeline:
    """The Timeline the parsed timeline options describe, scaled to --seconds."""
    return Timeline.scaled(
        args.seconds,
        outage_at=args.outage_at,
        outage_for=args.outage_for,
        storm_at=args.storm_at,
        storm_for=args.storm_for,
        outage_provider=args.outage_provider,
        storm_model=args.storm_model,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's options, for this module's parser and for `modelrouter demo`."""
    parser.add_argument("--seconds", type=_seconds, default=60.0, help="how long the fleet runs (default 60)")
    parser.add_argument(
        "--seed", type=int, default=7, help="seed of the simulated world and traffic (default 7)"
    )
    parser.add_argument(
        "--rate", type=_rate, default=30.0, help="tasks per second over the fleet (default 30)"
    )
    add_timeline_arguments(parser)
    parser.add_argument(
        "--view",
        choices=["auto", "rich", "plain", "none"],
        default="auto",
        help="live table (rich), a progress line every 5 s (plain), or nothing; auto: rich in a terminal",
    )


def run(args: argparse.Namespace) -> int:
    """Run the demo for parsed arguments. Errors reach the CLI's one mapping to exit codes."""
    from .run import run_demo  # imports faust's neighbours and rich: only when a demo is wanted

    timeline = timeline_from(args)
    settings = settings_from(args)
    asyncio.run(
        run_demo(settings, args.seconds, args.seed, rate=args.rate, timeline=timeline, view=args.view)
    )
    return 0


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "demo",
        summary="Run a live demo: simulated agents and models, an outage, a rate-limit storm, a report.",
        details="Starts the local broker if none runs, loads the sample registry on fresh topics, "
        "starts a worker, and runs a simulated fleet for about a minute while a live table shows "
        "each model and the selection mix. It ends with a report next to a fixed assignment "
        "(always the ModelOptimizer's primary) over the same simulated traffic.",
        examples=["modelrouter demo", "modelrouter demo --seconds 120 --seed 3"],
        handler=run,
    )
    add_arguments(parser)
