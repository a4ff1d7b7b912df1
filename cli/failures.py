"""How the CLI fails: exit codes, and one clear line for each error a user can cause or fix."""

from __future__ import annotations

from aiokafka.errors import KafkaConnectionError, KafkaError
from pydantic import ValidationError

from modelrouter.schemas import APIModelError, ConfigurationError, InvalidEventError, ModelRouterError
from modelrouter.schemas.errors import describe_errors

__all__ = [
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "CommandError",
    "brief",
    "connection_detail",
    "explain",
    "unreachable",
]

EXIT_OK = 0
EXIT_FAILURE = 1  # the command was fine, the world was not (no broker, no worker, no reply)
EXIT_USAGE = 2  # the command or its input was wrong (argparse uses 2 as well)


class CommandError(Exception):
    """A failure the command has already put into words; `code` is the exit status."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.code = code


def brief(exc: BaseException) -> str:
    """An exception as one short line: its text, or its class name when it has none."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def connection_detail(exc: KafkaConnectionError) -> str:
    # aiokafka's text lists resolved address tuples; what a person needs is that nothing answered.
    text = brief(exc)
    if text.startswith("cannot connect to Kafka at "):  # the SDK's words (agents/kafka/connection_check.py)
        return text.split(": ", 1)[-1]
    return "no broker answered" if "Unable to bootstrap" in text else text


def unreachable(bootstrap_servers: str, detail: str) -> CommandError:
    # Only when nothing answered is starting a local broker the likely fix.
    hint = " (start one with `modelrouter kafka up`)" if detail.startswith("no ") else ""
    return CommandError(f"cannot reach Kafka at {bootstrap_servers}: {detail}{hint}")


def explain(exc: BaseException, bootstrap_servers: str) -> tuple[int, str] | None:
    """(exit code, message) for an error a user should see as one line; None for a bug."""
    if isinstance(exc, CommandError):
        return exc.code, str(exc)
    if isinstance(exc, InvalidEventError | ConfigurationError):
        return EXIT_USAGE, brief(exc)
    if isinstance(exc, ValidationError):
        what = "settings (MODELROUTER_* variables and flags)" if exc.title == "Settings" else exc.title
        return EXIT_USAGE, f"invalid {what}: {describe_errors(exc.errors(include_url=False))}"
    if isinstance(exc, APIModelError | ModelRouterError):
        return EXIT_FAILURE, brief(exc)
    if isinstance(exc, KafkaConnectionError):
        return EXIT_FAILURE, str(unreachable(bootstrap_servers, connection_detail(exc)))
    if isinstance(exc, KafkaError):
        return EXIT_FAILURE, f"Kafka at {bootstrap_servers} refused the request: {brief(exc)}"
    return None
