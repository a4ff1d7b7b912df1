"""`modelrouter worker`: runs a stream worker in the foreground (modelrouter-worker)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from .options import add_command, overrides, settings_from

__all__ = ["register"]


def run(args: argparse.Namespace) -> int:
    settings_from(args)  # a bad MODELROUTER_* value is a one-line usage error here, not a traceback
    # The worker reads its Settings from the environment: hand the flags over that way.
    os.environ.update({f"MODELROUTER_{name.upper()}": value for name, value in overrides(args).items()})
    from modelrouter.streams.worker import main  # imports faust: only when a worker is wanted

    return main(args.passthrough)


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "worker",
        summary="Run a stream worker: folds events into tables and summaries, answers selections.",
        details="Creates the contract's topics, then runs until Ctrl-C. Start more workers with the "
        "same MODELROUTER_APP_ID (each with its own MODELROUTER_DATA_DIR) to share the partitions. "
        "Other options go to modelrouter-worker: --loglevel debug|info|warning|error.",
        examples=[
            "modelrouter worker",
            "modelrouter worker --loglevel warning",
            "MODELROUTER_DATA_DIR=.modelrouter/worker-2 modelrouter worker",
        ],
        handler=run,
        passthrough="worker",
    )
    parser.set_defaults(own_logging=True)  # the worker sets up its logging from --loglevel
