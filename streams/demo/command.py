"""The demo's command line: `python -m modelrouter.streams.demo`, and the pieces `modelrouter demo`
reuses (add_arguments, run_from_args).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from aiokafka.errors import KafkaError
from pydantic import ValidationError

from modelrouter.schemas import ConfigurationError, ModelRouterError, Settings
from modelrouter.schemas.errors import describe_errors

from .run import MAX_RATE, run_demo
from .timeline import Timeline

__all__ = ["add_arguments", "build_parser", "main", "run_from_args"]


def _rate(text: str) -> float:
    value = float(text)
    if not 0 < value <= MAX_RATE:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most {MAX_RATE:g} tasks/s")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if not 10 <= value <= 3600:
        raise argparse.ArgumentTypeError("must be between 10 and 3600 seconds")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's options, for this module's parser and for `modelrouter demo`."""
    parser.add_argument("--seconds", type=_seconds, default=60.0, help="how long the fleet runs (default 60)")
    parser.add_argument(
        "--seed", type=int, default=7, help="seed of the simulated world and traffic (default 7)"
    )
    parser.add_argument(
        "--rate", type=_rate, default=30.0, help="tasks per second over the fleet (default 30)"
    )
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
    parser.add_argument(
        "--view",
        choices=["auto", "rich", "plain", "none"],
        default="auto",
        help="live table (rich), a progress line every 5 s (plain), or nothing; auto: rich in a terminal",
    )


def build_parser(prog: str = "python -m modelrouter.streams.demo") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run a simulated fleet of agents against a real worker through a provider outage and "
        "a rate-limit storm, then compare live selection with a fixed assignment over the same traffic. "
        "Starts a local Kafka broker if none answers (MODELROUTER_BOOTSTRAP_SERVERS).",
    )
    add_arguments(parser)
    return parser


def run_from_args(args: argparse.Namespace, settings: Settings, *, prog: str = "modelrouter demo") -> int:
    """Run the demo for parsed arguments; the exit code (0 ok, 1 failure, 2 bad input, 130 interrupted)."""
    try:
        timeline = Timeline.scaled(
            args.seconds,
            outage_at=args.outage_at,
            outage_for=args.outage_for,
            storm_at=args.storm_at,
            storm_for=args.storm_for,
            outage_provider=args.outage_provider,
            storm_model=args.storm_model,
        )
        asyncio.run(
            run_demo(settings, args.seconds, args.seed, rate=args.rate, timeline=timeline, view=args.view)
        )
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted; the worker it started was stopped", file=sys.stderr)
        return 130
    except ConfigurationError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except ModelRouterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KafkaError as exc:  # the broker went away mid-run
        print(f"error: Kafka at {settings.bootstrap_servers} failed: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        parser.exit(
            2, f"{parser.prog}: error: invalid settings: {describe_errors(exc.errors(include_url=False))}\n"
        )
    return run_from_args(args, settings, prog=parser.prog)
