"""What the demo measures: the fleet's records, each policy's stats over the same tasks, and
when selection moved off a failing provider and came back. Pure: plain records in and out.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, deque
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from .timeline import Timeline, Window
from .world import CallOutcome, TaskResult

__all__ = [
    "CallRecord",
    "PolicyStats",
    "RejectionRecord",
    "SelectionRecord",
    "Shift",
    "mean_quality",
    "percentile",
    "policy_stats",
    "selection_shift",
    "share_per_second",
    "trailing_shares",
]

# The share of selections that counts as "moved away" (or half the share before, if that is lower).
LEFT_BELOW = 0.10
# Shares are measured over the selections of the trailing second (at ~30 tasks/s, ~30 of them).
SHARE_WINDOW_S = 1.0
MIN_SELECTIONS = 5
BACK_WINDOW_S = 2.0


@dataclass(frozen=True, slots=True)
class SelectionRecord:
    """One selection reply, as the fleet got it."""

    at_s: float
    agent_type: str
    model_id: str
    provider: str
    fallback_used: bool
    round_trip_ms: float


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One model call the fleet made, when it started and what the world answered."""

    at_s: float
    outcome: CallOutcome


@dataclass(frozen=True, slots=True)
class RejectionRecord:
    """A model the selection service rejected in a reply, and why ("circuit open after ...")."""

    at_s: float
    model_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class PolicyStats:
    name: str  # "selection", "fixed", "fixed+fallback"
    label: str
    tasks: int
    successes: int
    success_rate: float
    outage_tasks: int
    outage_success_rate: float | None
    storm_tasks: int
    storm_success_rate: float | None
    cost: float
    cost_per_success: float | None
    p95_latency_ms: float | None
    calls: int
    mean_quality: float | None = None  # of the successful tasks: a cheaper pick may be a worse one


@dataclass(frozen=True, slots=True)
class Shift:
    """How selection treated `subject` (a provider or a model) while it was failing in `window`."""

    subject: str
    what: str  # "outage" or "rate-limit storm"
    window: Window
    before: Window  # when share_before was measured
    share_before: float | None  # of selections
    threshold: float
    low_at_start: bool  # the share was below the threshold already when the window began
    left_at_s: float | None  # first moment the trailing share fell below the threshold
    failed_calls_before_leaving: int
    reason: str | None  # a rejection the service gave for one of its models
    share_during: float | None
    took_over: tuple[tuple[str, float], ...]  # models with the largest share during the window
    again_at_s: float | None  # first selection of it after the window
    back_at_s: float | None  # first moment after the window the share was back to half of before
    after: Window
    share_after: float | None


# --- numbers -----------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..1); None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _rate(results: Sequence[TaskResult]) -> float | None:
    return sum(r.success for r in results) / len(results) if results else None


def policy_stats(name: str, label: str, results: Sequence[TaskResult], timeline: Timeline) -> PolicyStats:
    """Success, cost and latency of one policy; outage and storm rates count the tasks that
    started inside those windows."""
    successes = sum(r.success for r in results)
    outage = [r for r in results if r.at_s in timeline.outage]
    storm = [r for r in results if r.at_s in timeline.storm]
    cost = sum(r.cost for r in results)
    return PolicyStats(
        name=name,
        label=label,
        tasks=len(results),
        successes=successes,
        success_rate=successes / len(results) if results else 0.0,
        outage_tasks=len(outage),
        outage_success_rate=_rate(outage),
        storm_tasks=len(storm),
        storm_success_rate=_rate(storm),
        cost=cost,
        cost_per_success=cost / successes if successes else None,
        p95_latency_ms=percentile([r.latency_ms for r in results], 0.95),
        calls=sum(len(r.attempts) for r in results),
        mean_quality=mean_quality(results),
    )


def mean_quality(results: Sequence[TaskResult]) -> float | None:
    """Mean quality of the successful tasks (the answer of their last call); None without any."""
    scores = [q for r in results if r.success and (q := r.attempts[-1].quality) is not None]
    return sum(scores) / len(scores) if scores else None


def trailing_shares(
    selections: Sequence[SelectionRecord], members: Collection[str], window_s: float = SHARE_WINDOW_S
) -> list[tuple[float, float | None]]:
    """(time, share of `members` among the selections of the trailing `window_s`) at each selection;
    None where the trailing window holds fewer than MIN_SELECTIONS."""
    out: list[tuple[float, float | None]] = []
    recent: deque[tuple[float, bool]] = deque()
    hits = 0
    for s in sorted(selections, key=lambda s: s.at_s):
        member = s.model_id in members
        recent.append((s.at_s, member))
        hits += member
        while recent and recent[0][0] <= s.at_s - window_s:
            hits -= recent.popleft()[1]
        out.append((s.at_s, hits / len(recent) if len(recent) >= MIN_SELECTIONS else None))
    return out


def _share(selections: Sequence[SelectionRecord], members: Collection[str], window: Window) -> float | None:
    inside = [s for s in selections if s.at_s in window]
    return sum(s.model_id in members for s in inside) / len(inside) if inside else None


def selection_shift(
    subject: str,
    what: str,
    members: Collection[str],
    window: Window,
    before: Window,
    after: Window,
    selections: Sequence[SelectionRecord],
    calls: Sequence[CallRecord],
    rejections: Sequence[RejectionRecord],
) -> Shift:
    """When selection's share of `members` fell during `window` (compared with `before`), and
    when it came back after; `after` is the stretch whose share the report quotes."""
    share_before = _share(selections, members, before)
    threshold = LEFT_BELOW if share_before is None else min(LEFT_BELOW, share_before / 2)
    series = trailing_shares(selections, members)
    at_start = next((share for t, share in reversed(series) if t < window.start_s), None)
    left = (
        next(
            (t for t, share in series if t >= window.start_s and share is not None and share < threshold),
            None,
        )
        if share_before  # a share of nothing cannot fall
        else None
    )
    back = None
    if share_before:
        # Back = a selection of it after which it kept at least half its former share for the
        # next BACK_WINDOW_S: one lucky second while a cooldown flickers does not count.
        ordered = sorted(selections, key=lambda s: s.at_s)
        times = [s.at_s for s in ordered]
        hits = [0]
        for s in ordered:
            hits.append(hits[-1] + (s.model_id in members))
        for i, t in enumerate(times):
            if t < window.end_s or ordered[i].model_id not in members:
                continue
            j = bisect.bisect_left(times, t + BACK_WINDOW_S)
            if j - i >= MIN_SELECTIONS and (hits[j] - hits[i]) / (j - i) >= share_before / 2:
                back = t
                break
    until = left if left is not None else window.end_s
    # Failures that came back in [start, until): also calls already running when it began.
    failed = sum(
        1
        for c in calls
        if c.outcome.model_id in members
        and not c.outcome.ok
        and window.start_s <= c.at_s + c.outcome.latency_ms / 1000.0 < until
    )
    reason = next(
        (
            f"{r.model_id}: {r.reason}"
            for r in sorted(rejections, key=lambda r: r.at_s)
            if r.model_id in members and window.start_s <= r.at_s < window.end_s
        ),
        None,
    )
    inside = [s for s in selections if s.at_s in window]
    counts = Counter(s.model_id for s in inside if s.model_id not in members)
    took_over = tuple((m, n / len(inside)) for m, n in counts.most_common(3))
    return Shift(
        subject=subject,
        what=what,
        window=window,
        before=before,
        share_before=share_before,
        threshold=threshold,
        low_at_start=at_start is not None and at_start < threshold,
        left_at_s=left,
        failed_calls_before_leaving=failed,
        reason=reason,
        share_during=_share(selections, members, window),
        took_over=took_over,
        again_at_s=next(
            (
                s.at_s
                for s in sorted(selections, key=lambda s: s.at_s)
                if s.at_s >= window.end_s and s.model_id in members
            ),
            None,
        ),
        back_at_s=back,
        after=after,
        share_after=_share(selections, members, after),
    )


def share_per_second(
    selections: Sequence[SelectionRecord], members: Collection[str], seconds: float
) -> list[float | None]:
    n = max(1, math.ceil(seconds))
    totals, hits = [0] * n, [0] * n
    for s in selections:
        i = min(n - 1, max(0, int(s.at_s)))
        totals[i] += 1
        hits[i] += s.model_id in members
    return [h / t if t else None for h, t in zip(hits, totals, strict=True)]
