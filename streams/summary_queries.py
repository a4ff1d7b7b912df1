"""Answers a SummaryRequest from WindowSummary records: per-model totals over the last N hours.

Pure: the responder (streams/selection.py) holds the `summaries` topic and passes its rows in.
"""

from __future__ import annotations

import math
import struct
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Protocol

from modelrouter.schemas import SummaryReply, SummaryRequest, SummaryRow, WindowSummary, summary_key

__all__ = ["BucketIndex", "BucketRow", "summary_reply"]

# A trailing window whose length matches the request's exactly supplies the latency percentiles
# and quality mean (percentiles of different buckets cannot be merged from their summaries).
_TRAILING_HOURS = {"5m": 5 / 60, "1h": 1.0, "24h": 24.0}


@dataclass(slots=True)
class _Totals:
    requests: int = 0
    successes: int = 0
    cost: float = 0.0
    rate_limited: int = 0
    failovers_out: int = 0
    failovers_in: int = 0
    provisional_requests: int = 0


class _Bucket(Protocol):
    """What a summary query reads of a bucket row (a WindowSummary or a BucketRow)."""

    @property
    def model_id(self) -> str: ...
    @property
    def agent_type(self) -> str | None: ...
    @property
    def window(self) -> str: ...
    @property
    def window_start(self) -> datetime: ...
    @property
    def requests(self) -> int: ...
    @property
    def successes(self) -> int: ...
    @property
    def cost_total(self) -> float: ...
    @property
    def rate_limited(self) -> int: ...
    @property
    def failovers_out(self) -> int: ...
    @property
    def failovers_in(self) -> int: ...
    @property
    def final(self) -> bool: ...
    @property
    def data_through(self) -> datetime | None: ...


# requests, successes, cost_total, rate_limited, failovers_out, failovers_in,
# data_through (epoch seconds, NaN for none), final
_NUMBERS = struct.Struct("<qqdqqqd?")
# Bucket starts shared by every row of the same minute (a datetime is 48 bytes); bounded.
_STARTS: dict[datetime, datetime] = {}
_STARTS_MAX = 100_000


def _shared_start(start: datetime) -> datetime:
    shared = _STARTS.get(start)
    if shared is None:
        if len(_STARTS) >= _STARTS_MAX:
            _STARTS.clear()
        shared = _STARTS[start] = start
    return shared


@dataclass(frozen=True, slots=True)
class BucketRow:
    """The part of a bucket's WindowSummary that summary queries sum, packed: ~290 bytes a row
    less than the same fields as Python objects, ~45 times less than the pydantic record.
    A worker holds one per (model, agent key, bucket) of the retention period: 24 h of
    1-minute buckets of 50 models x 9 agent keys is 648,000 rows."""

    window: ClassVar[str] = "bucket"
    model_id: str
    agent_type: str | None
    window_start: datetime
    numbers: bytes

    @classmethod
    def of(cls, s: WindowSummary) -> BucketRow:
        agent = None if s.agent_type is None else sys.intern(s.agent_type)
        through = math.nan if s.data_through is None else s.data_through.timestamp()
        numbers = _NUMBERS.pack(
            s.requests,
            s.successes,
            s.cost_total,
            s.rate_limited,
            s.failovers_out,
            s.failovers_in,
            through,
            s.final,
        )
        return cls(sys.intern(s.model_id), agent, _shared_start(s.window_start), numbers)

    @property
    def requests(self) -> int:
        return int(_NUMBERS.unpack(self.numbers)[0])

    @property
    def successes(self) -> int:
        return int(_NUMBERS.unpack(self.numbers)[1])

    @property
    def cost_total(self) -> float:
        return float(_NUMBERS.unpack(self.numbers)[2])

    @property
    def rate_limited(self) -> int:
        return int(_NUMBERS.unpack(self.numbers)[3])

    @property
    def failovers_out(self) -> int:
        return int(_NUMBERS.unpack(self.numbers)[4])

    @property
    def failovers_in(self) -> int:
        return int(_NUMBERS.unpack(self.numbers)[5])

    @property
    def data_through(self) -> datetime | None:
        through = float(_NUMBERS.unpack(self.numbers)[6])
        return None if math.isnan(through) else datetime.fromtimestamp(through, UTC)

    @property
    def final(self) -> bool:
        return bool(_NUMBERS.unpack(self.numbers)[7])


class BucketIndex:
    """The `summaries` topic's rows by agent type (None = all agents), bucket rows apart.

    Fed by `apply(key, summary_or_None)` in topic order (a TopicView listener), so a query
    does not scan the trailing-window rows or other agent types. Bucket rows are kept as
    BucketRow; trailing windows (a few per model) in full.
    """

    def __init__(self) -> None:
        self._buckets: dict[str | None, dict[str, BucketRow]] = {}
        self._trailing: dict[str, WindowSummary] = {}
        # Per agent type, the cost of each bucket start over every model (budgets read it:
        # a window's spend is a sum over at most its buckets, not over every model's rows).
        self._spend: dict[str, dict[datetime, float]] = {}

    def __len__(self) -> int:
        return len(self._trailing) + sum(len(rows) for rows in self._buckets.values())

    def apply(self, key: str, summary: WindowSummary | None) -> None:
        if summary is None:  # a tombstone: the key says where the row was
            self._trailing.pop(key, None)
            for agent, rows in self._buckets.items():
                gone = rows.pop(key, None)
                if gone is not None and agent is not None:
                    self._add_spend(agent, gone.window_start, -gone.cost_total)
            return
        if summary.window == "bucket":
            rows = self._buckets.setdefault(summary.agent_type, {})
            row = BucketRow.of(summary)
            old = rows.get(key)
            rows[key] = row
            if summary.agent_type is not None:
                delta = row.cost_total - (old.cost_total if old is not None else 0.0)
                self._add_spend(summary.agent_type, row.window_start, delta)
        elif summary.agent_type is None:
            self._trailing[key] = summary

    def _add_spend(self, agent_type: str, start: datetime, delta: float) -> None:
        by_start = self._spend.setdefault(agent_type, {})
        total = by_start.get(start, 0.0) + delta
        if total > 1e-12:
            by_start[start] = total
        else:  # the bucket is gone (expired): drop it, and the float residue of its sums
            by_start.pop(start, None)

    def spend(self, agent_type: str, since: datetime) -> float:
        """The cost of `agent_type`'s tasks in the buckets starting at or after `since`, every
        model, open buckets included (their provisional rows)."""
        return sum(cost for start, cost in self._spend.get(agent_type, {}).items() if start >= since)

    def row(self, model_id: str, agent_type: str, window_start: datetime) -> BucketRow | None:
        """The bucket row of (model, agent type, bucket start), if the topic has one."""
        key = summary_key(model_id, agent_type, "bucket", window_start)
        return self._buckets.get(agent_type, {}).get(key)

    def buckets(self, agent_type: str | None) -> Iterable[BucketRow]:
        return self._buckets.get(agent_type, {}).values()

    def trailing(self) -> Iterable[WindowSummary]:
        return self._trailing.values()

    def reply(self, request: SummaryRequest, now: datetime) -> SummaryReply:
        return summary_reply(request, self.buckets(request.agent_type), self.trailing(), now)


def summary_reply(
    request: SummaryRequest,
    buckets: Iterable[_Bucket],
    trailing: Iterable[WindowSummary],
    now: datetime,
) -> SummaryReply:
    """Sum the bucket rows of the request's agent type that start within its window.

    `buckets` may hold any rows: only window "bucket" of `request.agent_type` count (final or
    still open: the topic keeps the latest of each; the open ones are counted as provisional).
    Latency and quality come from the latest trailing window of the same length, for all agents
    only; otherwise they are left out. `models` has a row for every model with an event;
    cost_by_model and requests_by_model only those with requests. `data_through` is the newest
    stream time of the rows counted (a row without one, written before the field existed, as
    of its window's start).
    """
    since = now - timedelta(hours=request.window_hours)
    totals: dict[str, _Totals] = {}
    provisional_cost = 0.0
    through: datetime | None = None
    for row in buckets:
        if row.window != "bucket" or row.agent_type != request.agent_type or row.window_start < since:
            continue
        t = totals.setdefault(row.model_id, _Totals())
        t.requests += row.requests
        t.successes += min(row.successes, row.requests)
        t.cost += row.cost_total
        t.rate_limited += row.rate_limited
        t.failovers_out += row.failovers_out
        t.failovers_in += row.failovers_in
        if not row.final:
            t.provisional_requests += row.requests
            provisional_cost += row.cost_total
        row_through = row.data_through or row.window_start
        if through is None or row_through > through:
            through = row_through

    latest: dict[str, WindowSummary] = {}
    if request.agent_type is None:
        for row in trailing:
            hours = _TRAILING_HOURS.get(row.window)
            if row.agent_type is None and hours is not None and math.isclose(hours, request.window_hours):
                seen = latest.get(row.model_id)
                if seen is None or row.window_end > seen.window_end:
                    latest[row.model_id] = row

    rows = []
    for model_id in sorted(totals):
        t = totals[model_id]
        window = latest.get(model_id)
        rows.append(
            SummaryRow(
                model_id=model_id,
                requests=t.requests,
                successes=t.successes,
                success_rate=t.successes / t.requests if t.requests else 0.0,
                cost_total=t.cost,
                latency_p50_ms=window.latency_ms.p50 if window else None,
                latency_p95_ms=window.latency_ms.p95 if window else None,
                quality_mean=window.quality_mean if window else None,
                rate_limited=t.rate_limited,
                failovers_out=t.failovers_out,
                failovers_in=t.failovers_in,
                provisional_requests=t.provisional_requests,
            )
        )
    total_requests = sum(r.requests for r in rows)
    total_successes = sum(r.successes for r in rows)
    return SummaryReply(
        request_id=request.request_id,
        total_requests=total_requests,
        total_cost=sum(r.cost_total for r in rows),
        average_success_rate=total_successes / total_requests if total_requests else 0.0,
        # Models with requests only: one named by a failover or rate limit alone was not used.
        cost_by_model={r.model_id: r.cost_total for r in rows if r.requests},
        requests_by_model={r.model_id: r.requests for r in rows if r.requests},
        models=tuple(rows),
        provisional_requests=sum(r.provisional_requests for r in rows),
        provisional_cost=provisional_cost,
        data_through=through,
        data_age_s=None if through is None else max(0.0, (now - through).total_seconds()),
    )
