"""Reads a worker's bucket table from its changelog: per-model totals, for tools and tests."""

from __future__ import annotations

from modelrouter.agents.kafka import read_to_end
from modelrouter.schemas import Settings, loads

from .buckets import from_bytes

__all__ = ["TOTAL_FIELDS", "bucket_totals"]

TOTAL_FIELDS = (
    "requests",
    "successes",
    "cost_pico",
    "input_tokens",
    "output_tokens",
    "rate_limited",
    "failovers_out",
    "failovers_in",
)


async def bucket_totals(settings: Settings) -> dict[str, dict[str, int]]:
    """Per-model totals over every stored bucket (the latest value of each key wins)."""
    latest: dict[bytes, bytes | None] = {}
    for key, value in await read_to_end(settings, f"{settings.worker_id}-buckets-changelog"):
        if key is not None:
            latest[key] = value
    totals: dict[str, dict[str, int]] = {}
    for key, value in latest.items():
        if value is None:
            continue
        model = loads(key)[0]
        s = from_bytes(value)
        t = totals.setdefault(model, dict.fromkeys(TOTAL_FIELDS, 0))
        t["requests"] += s.requests
        t["successes"] += s.successes
        t["cost_pico"] += s.cost_sum_pico
        t["input_tokens"] += s.input_tokens
        t["output_tokens"] += s.output_tokens
        t["rate_limited"] += s.rate_limited
        t["failovers_out"] += sum(s.failovers_out.values())
        t["failovers_in"] += s.failovers_in
    return totals
