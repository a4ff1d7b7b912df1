"""Every error modelrouter raises on purpose.

ModelRouterError                 root: catch this to catch all of ours
├── InvalidEventError            a record breaks the wire contract (names the fields)
├── APIModelError                no model could be selected and no fallback applies
│   └── SelectionTimeout         no reply came before the request's deadline
├── ConfigurationError           settings or a config file are wrong (says which)
└── StateNotLoaded               a health or rate-limit check could not read the scorecards yet
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "APIModelError",
    "ConfigurationError",
    "InvalidEventError",
    "ModelRouterError",
    "SelectionTimeout",
    "StateNotLoaded",
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
