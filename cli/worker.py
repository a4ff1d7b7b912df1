"""`modelrouter worker`: runs a stream worker in the foreground."""

from __future__ import annotations

import argparse
from typing import Any

from .options import add_command, settings_from

__all__ = ["register"]

LOG_LEVELS = ("debug", "info", "warning", "error")


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)  # a bad MODELROUTER_* value is a one-line usage error, not a traceback
    from modelrouter.streams.worker import run_worker  # imports faust: only when a worker is wanted

    return run_worker(settings, args.loglevel)


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "worker",
        summary="Run a stream worker: folds events into tables and summaries, answers selections.",
        details="Creates the contract's topics, then runs until Ctrl-C. Start more workers with the "
        "same MODELROUTER_APP_ID (each with its own MODELROUTER_DATA_DIR) to share the partitions.",
        examples=[
            "modelrouter worker",
            "modelrouter worker --loglevel warning",
            "MODELROUTER_DATA_DIR=.modelrouter/worker-2 modelrouter worker",
        ],
        handler=run,
    )
    parser.add_argument("--loglevel", default="info", choices=LOG_LEVELS, help="log level (default info)")
    parser.set_defaults(own_logging=True)  # the worker sets up its logging from --loglevel
