"""`modelrouter-schemas`: writes the wire contract as JSON Schema files for other languages."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import orjson
from pydantic import TypeAdapter

from .deadletter import DeadLetter
from .events import Event, Failover, RateLimited, TaskCompleted
from .registry import ModelSpec
from .selection import Reply, Request, SelectionReply, SelectionRequest, SummaryReply, SummaryRequest
from .summaries import Scorecard, WindowSummary

__all__ = ["main", "schema_files"]

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "docs" / "schemas"

_RECORDS: dict[str, Any] = {
    "event": Event,
    "task-completed": TaskCompleted,
    "rate-limited": RateLimited,
    "failover": Failover,
    "model-spec": ModelSpec,
    "request": Request,
    "selection-request": SelectionRequest,
    "summary-request": SummaryRequest,
    "reply": Reply,
    "selection-reply": SelectionReply,
    "summary-reply": SummaryReply,
    "window-summary": WindowSummary,
    "scorecard": Scorecard,
    "dead-letter": DeadLetter,
}


def schema_files() -> dict[str, bytes]:
    """File name -> JSON Schema text (stable: sorted keys, trailing newline)."""
    out = {}
    for name, record in _RECORDS.items():
        schema = TypeAdapter(record).json_schema(mode="validation")
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"modelrouter/v1/{name}.json"
        out[f"{name}.json"] = orjson.dumps(schema, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="modelrouter-schemas", description=__doc__)
    parser.add_argument(
        "out_dir",
        nargs="?",
        type=Path,
        default=DEFAULT_DIR,
        help="folder to write into (default: docs/schemas of the checkout)",
    )
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    files = schema_files()
    for name, text in files.items():
        (args.out_dir / name).write_bytes(text)
    for stale in {p.name for p in args.out_dir.glob("*.json")} - set(files):
        (args.out_dir / stale).unlink()
    print(f"wrote {len(files)} JSON Schema files to {args.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
