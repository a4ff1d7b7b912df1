"""`modelrouter`: the parser of every subcommand, and the one place errors become exit codes
(failures.explain says which code and line each error gets)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from . import (
    bench,
    broker,
    budget,
    evaluate,
    health,
    publish,
    registry,
    schemas,
    selection,
    summary,
    tail,
    worker,
)
from . import explain as explain_command
from .demo import command as demo
from .failures import EXIT_FAILURE, EXIT_USAGE, explain
from .options import configure_logging, kafka_options, settings_from

__all__ = ["build_parser", "main"]

COMMANDS = (
    broker,
    worker,
    registry,
    selection,
    publish,
    tail,
    summary,
    budget,
    health,
    evaluate,
    explain_command,
    demo,
    bench,
    schemas,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelrouter",
        description="Choose which LLM API model an agent should call, from live evidence on Kafka.",
        epilog="examples:\n"
        "  modelrouter kafka up && modelrouter worker        # broker, then a worker\n"
        "  modelrouter registry load                         # publish config/model_registry.json\n"
        "  modelrouter select --agent-type SA --require vision\n"
        "  modelrouter tail --window 5m                      # in a second terminal\n"
        "\n"
        "Settings come from MODELROUTER_* variables (docs/operations.md); --bootstrap-servers and\n"
        "--topic-prefix override them. Exit codes: 0 ok, 1 failure (no broker, no reply), 2 bad input.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[kafka_options()],
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.register(commands)
    return parser


def _bootstrap(args: argparse.Namespace) -> str:
    try:
        return settings_from(args).bootstrap_servers
    except ValidationError:
        return "the configured bootstrap servers"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(sys.argv[1:] if argv is None else list(argv))
    leaf: argparse.ArgumentParser = args.parser
    if args.passthrough is None and extra:
        leaf.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.passthrough is not None:
        args.passthrough = extra
    if not getattr(args, "own_logging", False):
        configure_logging(args)
    try:
        code: int = args.handler(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        explained = explain(exc, _bootstrap(args))
        if explained is None:
            raise  # a bug: the traceback is the report
        code, message = explained
        print(
            f"{leaf.prog}: error: {message}" if code == EXIT_USAGE else f"error: {message}", file=sys.stderr
        )
        return code if code in (EXIT_FAILURE, EXIT_USAGE) else EXIT_FAILURE
    return code
