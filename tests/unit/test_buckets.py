"""BucketStats: folds, exactly-once skips, windows, merge laws, serialisation and summaries."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelrouter.schemas import (
    Event,
    Failover,
    FailoverReason,
    RateLimited,
    TaskCompleted,
    WindowSummary,
    decode,
    encode,
)
from modelrouter.streams.buckets import (
    BucketKey,
    BucketStats,
    FoldTally,
    bucket_start,
    fold_batch,
    fold_failover_in,
    fold_failover_out,
    fold_rate_limited,
    fold_task_completed,
    from_bytes,
    merge,
    merge_into,
    summarize,
    to_bytes,
)
from modelrouter.streams.sketch import LatencySketch

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
E0 = int(T0.timestamp())  # a multiple of 60 and of 3600
TC, RL, FO = "task-completed:0", "rate-limited:0", "failover:0"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def task(
    t: float = 0.0,
    *,
    model: str = "model-a",
    agent: str = "SA",
    success: bool = True,
    latency: float = 100.0,
    quality: float | None = None,
    cost: float = 0.01,
    tokens: tuple[int, int] = (100, 50),
    error: str | None = None,
) -> TaskCompleted:
    return TaskCompleted(
        occurred_at=at(t), agent_type=agent, task_id="t-1", model_id=model, provider="p",
        success=success, latency_ms=latency, quality_score=quality, cost=cost,
        input_tokens=tokens[0], output_tokens=tokens[1], error_type=error,
    )  # fmt: skip


def limited(t: float = 0.0, *, model: str = "model-a", retry: float | None = None) -> RateLimited:
    return RateLimited(occurred_at=at(t), agent_type="SA", model_id=model, provider="p", retry_after_s=retry)


def failover(
    t: float = 0.0, *, src: str = "model-a", dst: str = "model-b", reason: str = "timeout"
) -> Failover:
    return Failover(
        occurred_at=at(t),
        agent_type="SA",
        task_id="t-1",
        original_model=src,
        alternative_model=dst,
        reason=FailoverReason(reason),
    )


def numbered(source: str, events: Iterable[Event], first: int = 0) -> list[tuple[str, int, Event]]:
    return [(source, first + i, ev) for i, ev in enumerate(events)]


# --- bucket boundaries -------------------------------------------------------------------


def test_bucket_start_boundaries() -> None:
    assert bucket_start(E0, 60) == E0
    assert bucket_start(E0 + 59.999999, 60) == E0
    assert bucket_start(E0 + 60, 60) == E0 + 60  # a boundary instant opens the next bucket
    assert bucket_start(E0 - 0.000001, 60) == E0 - 60
    assert bucket_start(E0 + 1799, 3600) == E0


def test_fold_batch_puts_boundary_events_in_the_later_bucket() -> None:
    events = [task(0.0), task(59.999999), task(60.0), task(119.999999), task(120.0)]
    out = fold_batch(numbered(TC, events), 60)
    assert {k: v.requests for k, v in out.items()} == {
        BucketKey("model-a", "SA", E0): 2,
        BucketKey("model-a", "SA", E0 + 60): 2,
        BucketKey("model-a", "SA", E0 + 120): 1,
    }
    assert all(type(k) is BucketKey for k in out)


# --- single folds ------------------------------------------------------------------------


def test_fold_task_completed_counts_every_field() -> None:
    s = BucketStats()
    events = [
        task(latency=120.0, quality=0.9, cost=0.01, tokens=(1000, 200)),
        task(success=False, latency=30_000.0, cost=0.002, tokens=(800, 0), error="timeout"),
        task(success=False, latency=0.0, cost=0.0, tokens=(10, 0), error=None),
        task(latency=80.5, quality=0.5, cost=0.003, tokens=(500, 100)),
        task(latency=99.5, quality=None, cost=0.005, tokens=(1, 2), error="ignored on success"),
    ]
    assert all(fold_task_completed(s, ev, TC, i) for i, ev in enumerate(events))
    assert (s.requests, s.successes) == (5, 3)
    assert s.failures == {"timeout": 1, "unknown": 1}
    assert s.success_rate == pytest.approx(0.6)
    assert s.latency.count == 5
    assert s.latency.zeros == 1
    assert s.latency_sum_us == 30_300_000
    assert s.latency_mean_ms == pytest.approx(6060.0)
    assert (s.quality_count, s.quality_sum_nano) == (2, 1_400_000_000)
    assert s.quality_mean == pytest.approx(0.7)
    assert s.cost_sum_pico == 20_000_000_000
    assert s.cost_total == pytest.approx(0.02)
    assert (s.input_tokens, s.output_tokens) == (2311, 302)
    assert s.applied_offsets == {TC: 4}
    assert (s.rate_limited, s.failovers_in, s.failovers_out, s.cooldown_until) == (0, 0, {}, None)


def test_fold_rate_limited_keeps_latest_cooldown_end() -> None:
    s = BucketStats()
    assert fold_rate_limited(s, limited(0.0), RL, 0)
    assert (s.rate_limited, s.cooldown_until) == (1, None)
    assert fold_rate_limited(s, limited(10.0, retry=30.0), RL, 1)
    assert s.cooldown_until == E0 + 40.0
    assert fold_rate_limited(s, limited(20.0, retry=5.0), RL, 2)  # ends earlier: ignored
    assert s.cooldown_until == E0 + 40.0
    assert fold_rate_limited(s, limited(50.0, retry=0.5), RL, 3)
    assert s.cooldown_until == E0 + 50.5
    assert s.rate_limited == 4


def test_fold_failover_sides() -> None:
    out, into = BucketStats(), BucketStats()
    for i, reason in enumerate(["timeout", "rate_limited", "timeout"]):
        assert fold_failover_out(out, failover(reason=reason), FO, i)
        assert fold_failover_in(into, failover(reason=reason), "failover-in:0", i)
    assert out.failovers_out == {"timeout": 2, "rate_limited": 1}
    assert all(type(k) is str for k in out.failovers_out)  # plain str, not the enum
    assert (out.failovers_in, into.failovers_in, into.failovers_out) == (0, 3, {})


def test_fold_batch_keys_failovers_by_the_side_asked_for() -> None:
    items = numbered(FO, [failover(src="a", dst="b"), failover(src="a", dst="c", reason="cost")])
    outs = fold_batch(items, 60)
    assert {k: v.failovers_out for k, v in outs.items()} == {
        BucketKey("a", "SA", E0): {"timeout": 1, "cost": 1}
    }
    ins = fold_batch(items, 60, failover_side="in")
    assert {k: v.failovers_in for k, v in ins.items()} == {
        BucketKey("b", "SA", E0): 1,
        BucketKey("c", "SA", E0): 1,
    }


def test_fold_batch_separates_models_agents_and_buckets() -> None:
    events: list[Event] = [
        task(1, model="a", agent="SA"),
        task(2, model="a", agent="PM"),
        task(3, model="b", agent="SA", success=False),
        limited(4, model="a", retry=10),
        task(61, model="a", agent="SA"),
    ]
    out = fold_batch(numbered(TC, events), 60)
    assert {k: (v.requests, v.successes, v.rate_limited) for k, v in out.items()} == {
        BucketKey("a", "SA", E0): (1, 1, 1),
        BucketKey("a", "PM", E0): (1, 1, 0),
        BucketKey("b", "SA", E0): (1, 0, 0),
        BucketKey("a", "SA", E0 + 60): (1, 1, 0),
    }


# --- exactly once ------------------------------------------------------------------------


def test_fold_skips_offsets_already_applied_from_the_same_source() -> None:
    s = BucketStats()
    assert fold_task_completed(s, task(), TC, 7)
    snapshot = from_bytes(to_bytes(s))
    assert not fold_task_completed(s, task(), TC, 7)  # the same record again
    assert not fold_task_completed(s, task(), TC, 3)  # an older one
    assert s == snapshot
    assert fold_task_completed(s, task(), "task-completed:1", 3)  # another partition
    assert fold_task_completed(s, task(), TC, 8)
    assert s.requests == 3
    assert s.applied_offsets == {TC: 8, "task-completed:1": 3}


def test_fold_batch_checks_offsets_against_loaded_state() -> None:
    store: dict[BucketKey, BucketStats] = {}
    items = numbered(TC, [task(1), task(2), task(3)])
    tally = FoldTally()
    store.update(fold_batch(items[:2], 60, load=store.get, tally=tally))
    changed = fold_batch(items, 60, load=store.get, tally=tally)  # replay from offset 0
    assert (tally.applied, tally.duplicates) == (3, 2)
    assert changed[BucketKey("model-a", "SA", E0)].requests == 3
    assert fold_batch(items, 60, load=store.get) == {}  # nothing new: nothing to write


def mixed_events(n: int, seed: int) -> list[Event]:
    rng = np.random.default_rng(seed)
    out: list[Event] = []
    for i in range(n):
        t = i * 0.7 + float(rng.uniform(-5, 5))  # out of order by a few seconds
        model = str(rng.choice(["a", "b", "c"]))
        kind = rng.random()
        if kind < 0.8:
            quality = None if rng.random() < 0.3 else round(float(rng.random()), 3)
            out.append(task(t, model=model, latency=float(rng.lognormal(5, 1)), quality=quality,
                            cost=float(rng.uniform(0, 0.05)), success=bool(rng.random() < 0.9)))  # fmt: skip
        elif kind < 0.9:
            out.append(limited(t, model=model, retry=float(rng.uniform(0, 60))))
        else:
            out.append(failover(t, src=model, dst="z", reason="error"))
    return out


def test_crash_and_replay_ends_with_the_totals_of_an_uninterrupted_run() -> None:
    # Two partitions interleaved at random, each in its own offset order (as Kafka delivers).
    parts = [numbered(TC, mixed_events(600, seed=1)), numbered("task-completed:1", mixed_events(400, seed=2))]
    picks = np.random.default_rng(3).permutation([0] * 600 + [1] * 400)
    items = [parts[p].pop(0) for p in picks]
    reference = fold_batch(items, 60)

    # Run 1: batches of 37, state written key by key, the consumer offset committed only
    # every third batch; it dies halfway through writing the 20th batch's keys.
    store: dict[BucketKey, bytes] = {}

    def load(key: BucketKey) -> BucketStats | None:
        raw = store.get(key)
        return None if raw is None else from_bytes(raw)

    committed = 0
    for n, start in enumerate(range(0, 20 * 37, 37), start=1):
        changed = list(fold_batch(items[start : start + 37], 60, load=load).items())
        if n == 20:
            changed = changed[: len(changed) // 2]
        for key, stats in changed:
            store[key] = to_bytes(stats)
        if n % 3 == 0 and n < 20:
            committed = start + 37

    # Run 2: resumes from the committed position, with a different batch size.
    tally = FoldTally()
    for start in range(committed, len(items), 50):
        for key, stats in fold_batch(items[start : start + 50], 60, load=load, tally=tally).items():
            store[key] = to_bytes(stats)

    assert tally.duplicates > 0
    assert {k: from_bytes(v) for k, v in store.items()} == reference
    assert sum(s.requests for s in reference.values()) == sum(
        isinstance(it[2], TaskCompleted) for it in items
    )


def merge_all(stats: Iterable[BucketStats]) -> BucketStats:
    out = BucketStats()
    for s in stats:
        merge_into(out, s)
    return out


# --- merge --------------------------------------------------------------------------------

names = st.text(alphabet="abcxyz_:01", min_size=1, max_size=5)
counts = st.dictionaries(names, st.integers(1, 10**9), max_size=4)
big = st.integers(0, 10**15)
sketches = st.builds(
    LatencySketch, st.dictionaries(st.integers(-3000, 3000), st.integers(1, 10**6), max_size=10), big
)
stats_strategy = st.builds(
    BucketStats, requests=big, successes=big, failures=counts, latency=sketches, latency_sum_us=big,
    quality_sum_nano=big, quality_count=big, cost_sum_pico=big, input_tokens=big, output_tokens=big,
    rate_limited=big, cooldown_until=st.none() | st.floats(0, 4e9), failovers_out=counts, failovers_in=big,
    applied_offsets=st.dictionaries(names, st.integers(0, 2**62), max_size=3),
)  # fmt: skip


@given(stats_strategy, stats_strategy, stats_strategy)
def test_merge_is_associative_and_commutative(a: BucketStats, b: BucketStats, c: BucketStats) -> None:
    copies = [from_bytes(to_bytes(x)) for x in (a, b, c)]
    assert merge(merge(a, b), c) == merge(a, merge(b, c))
    assert merge(a, b) == merge(b, a)
    assert merge_all([c, a, b]) == merge(merge(a, b), c)
    assert merge(a, BucketStats()) == a
    assert [a, b, c] == copies  # inputs untouched


def test_merge_takes_per_source_max_offsets_and_latest_cooldown() -> None:
    a = BucketStats(applied_offsets={"x:0": 5, "x:1": 9}, cooldown_until=100.0, failures={"e": 1})
    b = BucketStats(applied_offsets={"x:0": 7, "x:2": 1}, cooldown_until=None, failures={"e": 2, "f": 1})
    m = merge(a, b)
    assert m.applied_offsets == {"x:0": 7, "x:1": 9, "x:2": 1}
    assert m.cooldown_until == 100.0
    assert m.failures == {"e": 3, "f": 1}


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.lists(st.booleans(), min_size=60, max_size=60))
def test_merge_of_split_folds_equals_one_fold(seed: int, split: list[bool]) -> None:
    events = mixed_events(60, seed)
    whole, left, right = BucketStats(), BucketStats(), BucketStats()
    for i, ev in enumerate(events):
        part = left if split[i] else right
        for target in (whole, part):
            if isinstance(ev, TaskCompleted):
                fold_task_completed(target, ev, TC, i)
            elif isinstance(ev, RateLimited):
                fold_rate_limited(target, ev, TC, i)
            else:
                fold_failover_out(target, ev, TC, i)
    assert merge(left, right) == whole
    acc = BucketStats()
    merge_into(acc, right)
    merge_into(acc, left)
    assert acc == whole


# --- serialisation ------------------------------------------------------------------------


@given(stats_strategy)
def test_bytes_round_trip(s: BucketStats) -> None:
    assert from_bytes(to_bytes(s)) == s


def test_bytes_are_compact() -> None:
    rng = np.random.default_rng(3)
    s = BucketStats()
    for i, latency in enumerate(rng.lognormal(6, 0.7, 300)):
        fold_task_completed(s, task(latency=float(latency), quality=0.8, cost=0.0123), TC, i)
    raw = to_bytes(s)
    assert raw.startswith(b"[1,300,300,{},[0,")
    assert len(raw) < 1000, len(raw)  # ~110 bins of a one-minute bucket


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"{}",
        b"[]",
        b"[2" + b",0" * 15 + b"]",
        b"[1" + b",0" * 15 + b"]",
        b"[1" + b",-1" * 15 + b"]",
    ],
)
def test_from_bytes_refuses_what_to_bytes_cannot_write(raw: bytes) -> None:
    with pytest.raises(ValueError, match=r"not|JSON|unexpected|expected"):
        from_bytes(raw)


# --- summaries ----------------------------------------------------------------------------


def test_summarize_values() -> None:
    latencies = [50.0, 100.0, 150.0, 200.0, 0.0, 1000.0, 80.0, 120.0, 95.0, 3000.0]
    s = BucketStats()
    for i, latency in enumerate(latencies):
        ev = task(latency=latency, success=i % 5 != 4, quality=0.5 if i < 4 else None, cost=0.25)
        fold_task_completed(s, ev, TC, i)
    fold_rate_limited(s, limited(retry=3.0), RL, 0)
    fold_failover_out(s, failover(), FO, 0)
    fold_failover_out(s, failover(reason="cost"), FO, 1)
    fold_failover_in(s, failover(), "failover-in:0", 0)

    summary = summarize(
        s,
        model_id="model-a",
        agent_type="SA",
        window="bucket",
        window_start=E0,
        window_end=E0 + 60,
        final=True,
    )
    assert (summary.requests, summary.successes, summary.success_rate) == (10, 8, 0.8)
    assert (summary.window_start, summary.window_end, summary.final) == (T0, at(60), True)
    assert summary.quality_mean == pytest.approx(0.5)
    assert summary.cost_total == pytest.approx(2.5)
    assert (summary.input_tokens, summary.output_tokens) == (1000, 500)
    assert (summary.rate_limited, summary.failovers_out, summary.failovers_in) == (1, 2, 1)
    lat = summary.latency_ms
    assert lat.mean == pytest.approx(479.5)
    exact = np.quantile(latencies, [0.5, 0.95, 0.99], method="lower")
    for got, want in zip((lat.p50, lat.p95, lat.p99), exact, strict=True):
        assert got == pytest.approx(want, rel=0.01)
    assert decode(WindowSummary, encode(summary)) == summary
    assert summary.key == f"model-a|SA|bucket|{T0.isoformat()}"


def test_summarize_without_data_gives_none_not_zero() -> None:
    s = BucketStats()
    fold_rate_limited(s, limited(), RL, 0)
    summary = summarize(
        s, model_id="m", agent_type=None, window="1h", window_start=T0, window_end=at(3600), final=False
    )
    assert summary.requests == 0
    assert summary.success_rate is None
    assert summary.quality_mean is None
    assert (summary.latency_ms.p50, summary.latency_ms.p95, summary.latency_ms.p99) == (None, None, None)
    assert summary.latency_ms.mean is None
    assert summary.cost_total == 0.0
    assert summary.rate_limited == 1
    assert summary.key == "m|*|1h"  # trailing windows: one key per model and length


def test_summarize_all_agents_from_merged_buckets() -> None:
    items = numbered(TC, [task(1, agent="SA", cost=0.5), task(2, agent="PM", success=False, cost=0.25)])
    merged = merge_all(fold_batch(items, 60).values())
    summary = summarize(
        merged, model_id="model-a", agent_type=None, window="5m", window_start=E0, window_end=E0 + 300,
        final=False,
    )  # fmt: skip
    assert (summary.requests, summary.successes, summary.success_rate, summary.cost_total) == (
        2,
        1,
        0.5,
        0.75,
    )
