"""BucketStats: the per-(model, agent type, bucket) aggregate of the event topics, and the pure
functions that fold events into it, merge, serialise and summarise it, and tell open from closed."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, NamedTuple

from modelrouter.schemas.codec import dumps, loads
from modelrouter.schemas.events import Event, Failover, QualityReported, RateLimited, TaskCompleted
from modelrouter.schemas.summaries import LatencySummary, WindowKind, WindowSummary

from .sketch import LatencySketch

__all__ = [
    "BucketKey",
    "BucketStats",
    "FailoverSide",
    "FoldTally",
    "bucket_start",
    "copy_stats",
    "fold_batch",
    "fold_failover_in",
    "fold_failover_out",
    "fold_quality_reported",
    "fold_rate_limited",
    "fold_task_completed",
    "from_bytes",
    "merge",
    "merge_into",
    "summarize",
    "to_bytes",
]

# Sums are kept as ints in fixed point, not floats: float addition is not associative, and
# merge must give the same totals whatever the order or batching (a restarted worker must
# end with exactly the totals of one that never died). Rounding is per event and tiny.
LATENCY_SCALE = 1_000  # latency_sum_us: microseconds
QUALITY_SCALE = 1_000_000_000  # quality_sum_nano: quality in units of 1e-9
COST_SCALE = 1_000_000_000_000  # cost_sum_pico: USD in units of 1e-12
# JSON numbers that orjson writes stop at 2**64 - 1 (cost: ~$18.4M in one bucket); to_bytes
# writes a larger sum as a decimal string, so no number of events can overflow a bucket.
_U64_MAX = 2**64 - 1
_SUM_FIELDS = (1, 2, 5, 6, 7, 8, 9, 10, 11, 14)  # positions of counts and sums in the array
UNKNOWN_ERROR = "unknown"
_FORMAT = 1  # first element of to_bytes' array; bump when the layout changes

FailoverSide = Literal["out", "in"]


class BucketKey(NamedTuple):
    model_id: str
    agent_type: str
    bucket_start: int  # epoch seconds, a multiple of bucket_seconds


@dataclass(slots=True)
class BucketStats:
    requests: int = 0
    successes: int = 0
    failures: dict[str, int] = field(default_factory=dict)  # error_type -> count
    latency: LatencySketch = field(default_factory=LatencySketch)
    latency_sum_us: int = 0
    quality_sum_nano: int = 0
    quality_count: int = 0
    cost_sum_pico: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    rate_limited: int = 0
    cooldown_until: float | None = None  # epoch seconds: latest occurred_at + retry_after_s
    failovers_out: dict[str, int] = field(default_factory=dict)  # reason -> count
    failovers_in: int = 0
    # "topic:partition" -> highest source offset folded in; an offset at or below it is a replay.
    applied_offsets: dict[str, int] = field(default_factory=dict)

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.requests if self.requests else None

    @property
    def latency_mean_ms(self) -> float | None:
        n = self.latency.count
        return self.latency_sum_us / n / LATENCY_SCALE if n else None

    @property
    def quality_mean(self) -> float | None:
        n = self.quality_count
        return self.quality_sum_nano / n / QUALITY_SCALE if n else None

    @property
    def cost_total(self) -> float:
        return self.cost_sum_pico / COST_SCALE


def bucket_start(epoch_s: float, bucket_seconds: int) -> int:
    """Start of the bucket holding `epoch_s`; an instant on a boundary opens the next bucket."""
    return int(epoch_s // bucket_seconds) * bucket_seconds


# Each fold first claims (source, offset): a Kafka offset at or below the one already
# applied to this key from the same partition was folded before a crash, so it is skipped.
# The checks are inlined rather than shared: a call costs as much as the check itself.


def fold_task_completed(stats: BucketStats, ev: TaskCompleted, source: str, offset: int) -> bool:
    """Fold one TaskCompleted (key: model_id); False when the offset was already applied."""
    applied = stats.applied_offsets
    if offset <= applied.get(source, -1):
        return False
    applied[source] = offset
    stats.requests += 1
    if ev.success:
        stats.successes += 1
    else:
        error = ev.error_type or UNKNOWN_ERROR
        failures = stats.failures
        failures[error] = failures.get(error, 0) + 1
    # Latency of failed calls counts too: a timeout is latency the agent waited through.
    latency = ev.latency_ms
    stats.latency.add(latency)
    stats.latency_sum_us += round(latency * LATENCY_SCALE)
    quality = ev.quality_score
    if quality is not None:
        stats.quality_sum_nano += round(quality * QUALITY_SCALE)
        stats.quality_count += 1
    stats.cost_sum_pico += round(ev.cost * COST_SCALE)
    stats.input_tokens += ev.input_tokens
    stats.output_tokens += ev.output_tokens
    return True


def fold_rate_limited(stats: BucketStats, ev: RateLimited, source: str, offset: int) -> bool:
    """Fold one RateLimited (key: model_id); False when the offset was already applied."""
    applied = stats.applied_offsets
    if offset <= applied.get(source, -1):
        return False
    applied[source] = offset
    stats.rate_limited += 1
    if ev.retry_after_s is not None:
        until = ev.occurred_at.timestamp() + ev.retry_after_s
        if stats.cooldown_until is None or until > stats.cooldown_until:
            stats.cooldown_until = until
    return True


def fold_quality_reported(stats: BucketStats, ev: QualityReported, source: str, offset: int) -> bool:
    """Fold one QualityReported (key: model_id): one more quality, no request; False on a replay."""
    applied = stats.applied_offsets
    if offset <= applied.get(source, -1):
        return False
    applied[source] = offset
    stats.quality_sum_nano += round(ev.quality_score * QUALITY_SCALE)
    stats.quality_count += 1
    return True


def fold_failover_out(stats: BucketStats, ev: Failover, source: str, offset: int) -> bool:
    """Fold the leaving side of a Failover (key: original_model)."""
    applied = stats.applied_offsets
    if offset <= applied.get(source, -1):
        return False
    applied[source] = offset
    reason = ev.reason.value
    out = stats.failovers_out
    out[reason] = out.get(reason, 0) + 1
    return True


def fold_failover_in(stats: BucketStats, ev: Failover, source: str, offset: int) -> bool:
    """Fold the arriving side of a Failover (key: alternative_model).

    `source` must differ from the one used for the OUT side (it normally does: the IN side
    is read from a topic re-keyed by alternative_model); a failover from a model to itself
    would otherwise be skipped as a replay on one of its two sides.
    """
    applied = stats.applied_offsets
    if offset <= applied.get(source, -1):
        return False
    applied[source] = offset
    stats.failovers_in += 1
    return True


def merge_into(target: BucketStats, other: BucketStats) -> None:
    """Add `other` into `target` in place (for accumulating many buckets into a window)."""
    target.requests += other.requests
    target.successes += other.successes
    _add_counts(target.failures, other.failures)
    target.latency.merge_from(other.latency)
    target.latency_sum_us += other.latency_sum_us
    target.quality_sum_nano += other.quality_sum_nano
    target.quality_count += other.quality_count
    target.cost_sum_pico += other.cost_sum_pico
    target.input_tokens += other.input_tokens
    target.output_tokens += other.output_tokens
    target.rate_limited += other.rate_limited
    if other.cooldown_until is not None and (
        target.cooldown_until is None or other.cooldown_until > target.cooldown_until
    ):
        target.cooldown_until = other.cooldown_until
    _add_counts(target.failovers_out, other.failovers_out)
    target.failovers_in += other.failovers_in
    offsets = target.applied_offsets
    for source, offset in other.applied_offsets.items():
        if offset > offsets.get(source, -1):
            offsets[source] = offset


def merge(a: BucketStats, b: BucketStats) -> BucketStats:
    """A new BucketStats holding both; associative and commutative, inputs untouched."""
    out = copy_stats(a)
    merge_into(out, b)
    return out


def copy_stats(s: BucketStats) -> BucketStats:
    """A deep copy: nothing mutable is shared with `s`."""
    return BucketStats(
        s.requests, s.successes, dict(s.failures), s.latency.copy(), s.latency_sum_us,
        s.quality_sum_nano, s.quality_count, s.cost_sum_pico, s.input_tokens, s.output_tokens,
        s.rate_limited, s.cooldown_until, dict(s.failovers_out), s.failovers_in,
        dict(s.applied_offsets),
    )  # fmt: skip


def _add_counts(target: dict[str, int], other: dict[str, int]) -> None:
    for key, n in other.items():
        target[key] = target.get(key, 0) + n


def to_bytes(s: BucketStats) -> bytes:
    """Compact JSON: one positional array, format number first (field names would double it).

    A count or sum beyond 2**64 - 1 is written as a decimal string (exact, read back by
    from_bytes); below that, as a JSON number, so the common case costs nothing extra.
    """
    data: list[object] = [
        _FORMAT, s.requests, s.successes, s.failures, s.latency.to_data(), s.latency_sum_us,
        s.quality_sum_nano, s.quality_count, s.cost_sum_pico, s.input_tokens, s.output_tokens,
        s.rate_limited, s.cooldown_until, s.failovers_out, s.failovers_in, s.applied_offsets,
    ]  # fmt: skip
    for i in _SUM_FIELDS:
        n = data[i]
        if type(n) is int and n > _U64_MAX:
            data[i] = str(n)
    return dumps(data)


def from_bytes(raw: bytes) -> BucketStats:
    """The inverse of to_bytes; ValueError (saying what) on bytes it could not have written."""
    data = loads(raw)
    if not (isinstance(data, list) and len(data) == 16 and data[0] == _FORMAT):
        raise ValueError(f"not BucketStats format {_FORMAT}: expected a 16-element array starting {_FORMAT}")
    for i in _SUM_FIELDS:
        n = data[i]
        if type(n) is str and n.isascii() and n.isdigit():
            data[i] = n = int(n)  # a sum beyond 2**64 - 1, as to_bytes writes it
        if not (type(n) is int and n >= 0):
            raise ValueError("not BucketStats: counts and sums must be non-negative ints")
    cooldown = data[12]
    if cooldown is not None and type(cooldown) not in (int, float):
        raise ValueError("not BucketStats: cooldown_until must be a number or null")
    return BucketStats(
        data[1], data[2], _counts(data[3], "failures"), LatencySketch.from_data(data[4]), data[5],
        data[6], data[7], data[8], data[9], data[10],
        data[11], None if cooldown is None else float(cooldown), _counts(data[13], "failovers_out"),
        data[14], _counts(data[15], "applied_offsets"),
    )  # fmt: skip


def _counts(value: object, name: str) -> dict[str, int]:
    if not (isinstance(value, dict) and all(type(n) is int for n in value.values())):
        raise ValueError(f"not BucketStats: {name} must map strings to ints")
    return value


def summarize(
    stats: BucketStats,
    *,
    model_id: str,
    agent_type: str | None,
    window: WindowKind,
    window_start: datetime | float,
    window_end: datetime | float,
    final: bool,
    data_through: float | None = None,
) -> WindowSummary:
    """The wire summary of `stats` (agent_type None: stats merged over all agent types).

    Window bounds may be aware datetimes or epoch seconds (e.g. a BucketKey's bucket_start);
    `data_through` is the partition's stream time in epoch seconds, if known.
    """
    p50, p95, p99 = stats.latency.quantiles((0.5, 0.95, 0.99))
    return WindowSummary(
        model_id=model_id,
        agent_type=agent_type,
        window=window,
        window_start=_as_datetime(window_start),
        window_end=_as_datetime(window_end),
        final=final,
        requests=stats.requests,
        successes=stats.successes,
        success_rate=stats.success_rate,
        latency_ms=LatencySummary(p50=p50, p95=p95, p99=p99, mean=stats.latency_mean_ms),
        quality_mean=stats.quality_mean,
        cost_total=stats.cost_total,
        input_tokens=stats.input_tokens,
        output_tokens=stats.output_tokens,
        rate_limited=stats.rate_limited,
        failovers_out=sum(stats.failovers_out.values()),
        failovers_in=stats.failovers_in,
        data_through=None if data_through is None else _as_datetime(data_through),
    )


def _as_datetime(value: datetime | float) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromtimestamp(value, UTC)


@dataclass(slots=True)
class FoldTally:
    """What fold_batch did with the items it was given (accumulates over calls)."""

    applied: int = 0
    duplicates: int = 0  # offset already folded into the key: a replay after a crash


def fold_batch(
    items: Iterable[tuple[str, int, Event]],
    bucket_seconds: int,
    *,
    failover_side: FailoverSide = "out",
    load: Callable[[BucketKey], BucketStats | None] | None = None,
    tally: FoldTally | None = None,
) -> dict[BucketKey, BucketStats]:
    """Fold (source, offset, event) items; return the keys that changed, each written once.

    - TaskCompleted, RateLimited and QualityReported are keyed by model_id. A Failover is folded on one side
      only: `failover_side="out"` keys it by original_model (the failover topic as read),
      `"in"` by alternative_model (a stream re-keyed by it, with its own source ids).
    - `load(key)` is called at most once per key and batch for the stored stats (None: new);
      those objects are updated in place. Without it every key starts empty, which turns
      off replay detection against stored state: use it wherever state is stored.
    """
    cache: dict[tuple[str, str, int], BucketStats] = {}
    changed: dict[tuple[str, str, int], BucketStats] = {}
    out_side = failover_side == "out"
    applied = duplicates = 0
    for source, offset, ev in items:
        t = ev.occurred_at.timestamp()
        start = int(t // bucket_seconds) * bucket_seconds
        # A plain tuple hashes and compares equal to the BucketKey it stands for, and costs
        # a fifth as much to build; BucketKeys are made once per changed key, at the end.
        # (A BucketStats is always truthy, so `or` only runs on a cache miss.)
        if isinstance(ev, TaskCompleted):
            key = (ev.model_id, ev.agent_type, start)
            stats = cache.get(key) or _open(cache, key, load)
            done = fold_task_completed(stats, ev, source, offset)
        elif isinstance(ev, RateLimited):
            key = (ev.model_id, ev.agent_type, start)
            stats = cache.get(key) or _open(cache, key, load)
            done = fold_rate_limited(stats, ev, source, offset)
        elif isinstance(ev, QualityReported):
            key = (ev.model_id, ev.agent_type, start)
            stats = cache.get(key) or _open(cache, key, load)
            done = fold_quality_reported(stats, ev, source, offset)
        elif out_side:
            key = (ev.original_model, ev.agent_type, start)
            stats = cache.get(key) or _open(cache, key, load)
            done = fold_failover_out(stats, ev, source, offset)
        else:
            key = (ev.alternative_model, ev.agent_type, start)
            stats = cache.get(key) or _open(cache, key, load)
            done = fold_failover_in(stats, ev, source, offset)
        if done:
            changed[key] = stats
            applied += 1
        else:
            duplicates += 1
    if tally is not None:
        tally.applied += applied
        tally.duplicates += duplicates
    return {BucketKey(*key): stats for key, stats in changed.items()}


def _open(
    cache: dict[tuple[str, str, int], BucketStats],
    key: tuple[str, str, int],
    load: Callable[[BucketKey], BucketStats | None] | None,
) -> BucketStats:
    stats = load(BucketKey(*key)) if load is not None else None
    cache[key] = stats = stats if stats is not None else BucketStats()
    return stats
