"""Every error modelrouter raises on purpose.

ModelRouterError                 root: catch this to catch all of ours
├── InvalidEventError            a record breaks the wire contract (names the fields)
├── APIModelError                no model could be selected and no fallback applies
│   ├── SelectionTimeout         the broker took the request; no worker replied in time
│   └── WorkerErrorReply         a worker answered with an error (its code and message)
├── BrokerUnavailableError       the Kafka broker did not answer (names its address)
│   ├── EventNotDelivered        an event was not confirmed in time (names its event_id)
│   └── SelectionBrokerUnavailable  a request could not reach the broker before its
│                                deadline (also a SelectionTimeout, so one catch serves both)
├── ConfigurationError           settings or a config file are wrong (says which)
└── StateNotLoaded               a health or rate-limit check could not read the scorecards yet
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "APIModelError",
    "BrokerUnavailableError",
    "ConfigurationError",
    "EventNotDelivered",
    "InvalidEventError",
    "ModelRouterError",
    "SelectionBrokerUnavailable",
    "SelectionTimeout",
    "StateNotLoaded",
    "WorkerErrorReply",
]


class ModelRouterError(Exception):
    """Root of modelrouter's errors."""


class InvalidEventError(ModelRouterError, ValueError):
    """A record breaks the wire contract; `errors` lists each offending field."""

    def __init__(self, what: str, errors: Sequence[Mapping[str, Any]]) -> None:
        self.what = what
        self.errors = errors
        super().__init__(f"invalid {what}: {describe_errors(errors)}")


class APIModelError(ModelRouterError):
    """No model could be selected and no fallback applies."""


class SelectionTimeout(APIModelError):
    """No selection reply arrived before the deadline."""


class WorkerErrorReply(APIModelError):
    """A worker answered the request with an ErrorReply; `code` is the reply's error code."""

    def __init__(self, message: str, code: str) -> None:
        self.code = code
        super().__init__(message)


class BrokerUnavailableError(ModelRouterError):
    """The Kafka broker did not answer; `bootstrap_servers` names where it was looked for."""

    def __init__(self, message: str, bootstrap_servers: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        super().__init__(message)


class EventNotDelivered(BrokerUnavailableError):
    """The broker did not confirm an event within the delivery timeout; `event_id` names it.

    It may still arrive later (it stays queued until the producer closes): publish it
    again only if a duplicate is acceptable."""

    def __init__(self, message: str, bootstrap_servers: str, event_id: str) -> None:
        self.event_id = event_id
        super().__init__(message, bootstrap_servers)


class SelectionBrokerUnavailable(BrokerUnavailableError, SelectionTimeout):
    """A selection or summary request could not reach the broker before its deadline."""


class ConfigurationError(ModelRouterError, ValueError):
    """A setting or config file is wrong; the message says which and how to fix it."""


class StateNotLoaded(ModelRouterError):
    """A check cannot answer yet: the state it reads (the scorecards) could not be read."""


def describe_errors(errors: Sequence[Mapping[str, Any]]) -> str:
    """One line per pydantic error: `field.path: message (got value)`."""
    parts = []
    for err in errors:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "<record>"
        got = err.get("input")
        shown = "" if isinstance(got, dict) or got is None else f" (got {got!r:.60})"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}{shown}")
    return "; ".join(parts)
