"""The wire contract as JSON Schema files for other languages (`modelrouter schemas export`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from pydantic import TypeAdapter

from .budgets import Budget, BudgetReservation
from .deadletter import DeadLetter
from .decisions import DecisionRecord
from .events import Event, Failover, QualityReported, RateLimited, TaskCompleted
from .registry import ModelSpec
from .selection import (
    HealthReply,
    HealthRequest,
    Reply,
    Request,
    SelectionReply,
    SelectionRequest,
    SummaryReply,
    SummaryRequest,
)
from .summaries import Scorecard, WindowSummary

__all__ = ["DEFAULT_DIR", "schema_files", "write_schema_files"]

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "docs" / "schemas"

_RECORDS: dict[str, Any] = {
    "event": Event,
    "task-completed": TaskCompleted,
    "rate-limited": RateLimited,
    "failover": Failover,
    "quality-reported": QualityReported,
    "model-spec": ModelSpec,
    "request": Request,
    "selection-request": SelectionRequest,
    "summary-request": SummaryRequest,
    "health-request": HealthRequest,
    "reply": Reply,
    "selection-reply": SelectionReply,
    "summary-reply": SummaryReply,
    "health-reply": HealthReply,
    "window-summary": WindowSummary,
    "scorecard": Scorecard,
    "dead-letter": DeadLetter,
    "decision": DecisionRecord,
    "budget": Budget,
    "budget-reservation": BudgetReservation,
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


def write_schema_files(out_dir: Path) -> int:
    """Write every JSON Schema file into `out_dir` and remove stale ones; how many were written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = schema_files()
    for name, text in files.items():
        (out_dir / name).write_bytes(text)
    for stale in {p.name for p in out_dir.glob("*.json")} - set(files):
        (out_dir / stale).unlink()
    return len(files)
