"""Where commands write: a rich Console for people, one JSON line per record for programs."""

from __future__ import annotations

import sys

from pydantic import BaseModel
from rich.console import Console

from modelrouter.schemas import encode

__all__ = ["DASH", "console", "json_line", "ms", "number", "percent", "usd"]

DASH = "-"
_PIPE_WIDTH = 200  # rich assumes 80 columns off a terminal; a table piped to a file should not wrap


def console(*, stderr: bool = False) -> Console:
    out = Console(stderr=stderr, highlight=False)
    if not out.is_terminal:
        out = Console(stderr=stderr, highlight=False, width=_PIPE_WIDTH)
    return out


def json_line(record: BaseModel) -> None:
    """One wire record as compact JSON on its own line, flushed at once (for `| jq`, `| head`)."""
    sys.stdout.buffer.write(encode(record) + b"\n")
    sys.stdout.buffer.flush()


def number(x: float | None, digits: int = 4) -> str:
    """A count, a latency or a price as people write it: 0.000025, 0.0042, 0.12, 840, 12,345."""
    if x is None:
        return DASH
    if abs(x) >= 10_000:
        return f"{x:,.0f}"
    text = f"{x:.{digits}g}"
    return f"{x:.{digits + 6}f}".rstrip("0") if "e" in text else text


def usd(x: float | None) -> str:
    return DASH if x is None else f"${number(x)}"


def ms(x: float | None) -> str:
    return DASH if x is None else number(x)


def percent(rate: float | None) -> str:
    return DASH if rate is None else f"{rate * 100:.1f}%"
