"""The options every Kafka command shares, the Settings they build, and how commands are declared."""

from __future__ import annotations

import argparse
import logging
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

from modelrouter.schemas import Settings

__all__ = ["Handler", "add_command", "configure_logging", "kafka_options", "overrides", "settings_from"]

Handler = Callable[[argparse.Namespace], int]


def kafka_options() -> argparse.ArgumentParser:
    """--bootstrap-servers and --topic-prefix, accepted before or after the subcommand.

    SUPPRESS as default: a subcommand's copy must not overwrite a value given before it.
    """
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("connection (override MODELROUTER_* variables)")
    group.add_argument(
        "--bootstrap-servers",
        metavar="HOSTS",
        default=argparse.SUPPRESS,
        help="Kafka bootstrap servers, comma separated (MODELROUTER_BOOTSTRAP_SERVERS; 127.0.0.1:9092)",
    )
    group.add_argument(
        "--topic-prefix",
        metavar="PREFIX",
        default=argparse.SUPPRESS,
        help="prefix of every topic name (MODELROUTER_TOPIC_PREFIX, default modelrouter.)",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the Kafka client's and modelrouter's log messages",
    )
    return parent


_KAFKA_OPTIONS = kafka_options()


def overrides(args: argparse.Namespace) -> dict[str, str]:
    """The Settings fields set by flags (absent flags leave the environment's value)."""
    return {
        field: value
        for field in ("bootstrap_servers", "topic_prefix")
        if (value := getattr(args, field, None)) is not None
    }


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from MODELROUTER_* variables, with the command line's flags on top.

    A bad value raises pydantic's ValidationError, which the CLI reports as a usage error.
    """
    fields: dict[str, Any] = dict(overrides(args))
    return Settings(**fields)


def configure_logging(args: argparse.Namespace) -> None:
    """Quiet by default: aiokafka logs every refused connection at ERROR, and the CLI says it once."""
    verbose = bool(getattr(args, "verbose", False))
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if not verbose:
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
        # The SelectionClient's fallback warning is shown by the command itself.
        logging.getLogger("modelrouter").setLevel(logging.ERROR)


def add_command(
    subparsers: Any,
    name: str,
    *,
    summary: str,
    examples: Sequence[str] = (),
    details: str = "",
    kafka: bool = True,
    handler: Handler | None = None,
    passthrough: str | None = None,
) -> argparse.ArgumentParser:
    """A subcommand with a one-line description, its examples as epilog, and (for commands
    that talk to Kafka) the shared connection options.

    `passthrough` names the program that gets the options this parser does not know
    (`args.passthrough`); "script" also hands it --help, since the script knows its options.
    """
    epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples) if examples else None
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help=summary,
        description=f"{summary}\n\n{textwrap.fill(details, 88)}" if details else summary,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_KAFKA_OPTIONS] if kafka else [],
        add_help=passthrough != "script",
        # An abbreviation must not swallow an option meant for the program passed through.
        allow_abbrev=passthrough is None,
    )
    parser.set_defaults(parser=parser, passthrough=None if passthrough is None else [])
    if handler is not None:
        parser.set_defaults(handler=handler)
    return parser
