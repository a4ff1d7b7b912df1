"""`modelrouter demo`: a simulated fleet on a live worker, an outage and a rate-limit storm,
and a report that compares live selection with a fixed assignment on the same traffic."""

from __future__ import annotations

import argparse
from typing import Any

from .options import add_command, settings_from

__all__ = ["register"]


def run(args: argparse.Namespace) -> int:
    from modelrouter.streams.demo import run_from_args  # imports faust and rich: only when wanted

    return run_from_args(args, settings_from(args))


def register(subparsers: Any) -> None:
    from modelrouter.streams.demo import add_arguments

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
