"""WindowIndex: stream time, closing and reclosing buckets, expiry, rebalances, trailing rollups."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from itertools import count

import numpy as np
import pytest

from modelrouter.schemas import Event, Failover, FailoverReason, RateLimited, TaskCompleted
from modelrouter.streams.buckets import (
    BucketStats,
    FailoverSide,
    fold_batch,
    from_bytes,
    merge_into,
    to_bytes,
)
from modelrouter.streams.windows import INPUT_HOLD_S, InputClocks, WindowIndex, trailing_bounds

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
E0 = int(T0.timestamp())  # a multiple of 60 and of 3600
HOUR, DAY = 3600, 86_400
BS, GRACE = 60, 10


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def task(
    t: float,
    *,
    model: str = "m",
    agent: str = "SA",
    success: bool = True,
    latency: float = 100.0,
    cost: float = 0.01,
) -> TaskCompleted:
    return TaskCompleted(
        occurred_at=at(t), agent_type=agent, task_id="t-1", model_id=model, provider="p",
        success=success, latency_ms=latency, cost=cost, input_tokens=100, output_tokens=50,
        error_type=None if success else "timeout",
    )  # fmt: skip


def limited(t: float, *, model: str = "m", retry: float | None = 30.0) -> RateLimited:
    return RateLimited(occurred_at=at(t), agent_type="SA", model_id=model, provider="p", retry_after_s=retry)


def failover(t: float, *, src: str = "m", dst: str = "n") -> Failover:
    return Failover(
        occurred_at=at(t), agent_type="PM", task_id="t-1", original_model=src, alternative_model=dst,
        reason=FailoverReason.TIMEOUT,
    )  # fmt: skip


class Store:
    """The bucket table as the worker keeps it (bytes per key), telling the index of each write."""

    def __init__(self, index: WindowIndex) -> None:
        self.index = index
        self.rows: dict[tuple[str, str, int], bytes] = {}
        self.loads = 0
        self._offsets = count()

    def load(self, model: str, agent: str, bucket: int) -> BucketStats | None:
        self.loads += 1
        raw = self.rows.get((model, agent, bucket))
        return None if raw is None else from_bytes(raw)

    def write(
        self,
        events: Sequence[Event],
        partition: int = 0,
        *,
        wall: float | None = None,
        side: FailoverSide = "out",
    ) -> None:
        source = f"events-{side}:{partition}"
        items = [(source, next(self._offsets), ev) for ev in events]
        for ev in events:
            t = ev.occurred_at.timestamp()
            self.index.observe(partition, t, t if wall is None else wall)
        stored = {k: from_bytes(v) for k, v in self.rows.items()}
        for key, stats in fold_batch(
            items, self.index.bucket_seconds, failover_side=side, load=stored.get
        ).items():
            self.rows[key] = to_bytes(stats)
            self.index.note_write(partition, *key)

    def merged(self, model: str, start: int, end: int) -> BucketStats:
        """An independent model-level merge of the stored rows with start <= bucket < end."""
        out = BucketStats()
        for (m, _, b), v in sorted(self.rows.items()):
            if m == model and start <= b < end:
                merge_into(out, from_bytes(v))
        return out

    def drop(self, keys: Iterable[tuple[str, str, int]]) -> None:
        for key in keys:
            del self.rows[key]


def new_index(retention_s: float = DAY) -> WindowIndex:
    return WindowIndex(bucket_seconds=BS, grace_seconds=GRACE, retention_s=retention_s)


# --- trailing_bounds ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("span", "end_bucket", "bucket_s", "expected"),
    [
        # Up to an hour: exactly `span` seconds of whole buckets, ending after end_bucket.
        (300, E0 + 1800, 60, (E0 + 1560, E0 + 1860)),
        (300, E0, 60, (E0 - 240, E0 + 60)),
        (300, E0 + 300, 300, (E0 + 300, E0 + 600)),
        (3600, E0 + 1800, 60, (E0 - 1740, E0 + 1860)),
        (3600, E0 + 3540, 60, (E0, E0 + 3600)),
        (3600, E0 + 1500, 300, (E0 - 1800, E0 + 1800)),
        # 24h: starts on the hour 23 hours before end_bucket's hour (13:00 the day before).
        (DAY, E0 + 1800, 60, (E0 - 23 * HOUR, E0 + 1860)),  # 23h31m
        (DAY, E0 + 3540, 60, (E0 - 23 * HOUR, E0 + 3600)),  # exactly 24h
        (DAY, E0, 60, (E0 - 23 * HOUR, E0 + 60)),  # 23h01m
        (DAY, E0 + 3300, 300, (E0 - 23 * HOUR, E0 + 3600)),
    ],
)
def test_trailing_bounds(span: int, end_bucket: int, bucket_s: int, expected: tuple[int, int]) -> None:
    assert trailing_bounds(span, end_bucket, bucket_s) == expected


def test_trailing_24h_bounds_as_clock_times() -> None:
    start, end = trailing_bounds(DAY, E0 + 1800, 60)  # stream time in the 12:30 bucket
    assert datetime.fromtimestamp(start, UTC) == datetime(2025, 2, 28, 13, 0, tzinfo=UTC)
    assert datetime.fromtimestamp(end, UTC) == datetime(2025, 3, 1, 12, 31, tzinfo=UTC)
    assert start % HOUR == 0
    assert HOUR * 23 < end - start <= DAY


# --- stream time and closing --------------------------------------------------------------


def test_stream_time_only_moves_forward_and_wall_time_follows_the_latest_event() -> None:
    index = new_index()
    index.observe(0, E0 + 50, wall=1000.0)
    index.observe(0, E0 + 20, wall=1001.0)  # out of order: stream time stays
    index.observe(1, E0 + 5, wall=999.0)
    assert (index.clock(0).stream_time, index.clock(0).last_event_wall) == (E0 + 50, 1001.0)
    assert (index.clock(1).stream_time, index.clock(1).last_event_wall) == (E0 + 5, 999.0)
    assert index.clock(2).stream_time is None  # a partition never seen


# InputClocks: how far a partition's stream time may move when its topics are read at
# different paces (topics "tc": task-completed, "fo": failover).


def test_stream_time_waits_for_the_slowest_topic_with_records_left() -> None:
    clocks = InputClocks()
    # A backlog: one fetch of the sparse failover topic spans 10 minutes, one of
    # task-completed 3 seconds; both have more to read.
    assert clocks.advance(0, {"tc": E0 + 3, "fo": E0 + 600}, {"tc", "fo"}, wall=1.0) == E0 + 3
    # Failover read to its end (no longer lagging): task-completed still holds it back.
    assert clocks.advance(0, {"tc": E0 + 6}, {"tc"}, wall=1.1) == E0 + 6
    # Everything read: the latest event time read on any topic, failover's included.
    assert clocks.advance(0, {"tc": E0 + 590}, set(), wall=1.2) == E0 + 600
    # Partitions are independent.
    assert clocks.advance(1, {"tc": E0 + 7}, set(), wall=1.2) == E0 + 7


def test_a_lagging_topic_not_read_yet_holds_stream_time_back_entirely() -> None:
    clocks = InputClocks()
    # The first batch brought only failovers; task-completed has records but none read yet.
    assert clocks.advance(0, {"fo": E0 + 600}, {"tc", "fo"}, wall=1.0) is None
    assert clocks.advance(0, {"tc": E0 + 2}, {"tc", "fo"}, wall=1.1) == E0 + 2


def test_a_lagging_topic_that_delivers_nothing_stops_holding_stream_time_back() -> None:
    clocks = InputClocks()
    # "tc" has records left (e.g. a tail of transaction markers) but none come.
    assert clocks.advance(0, {"tc": E0 + 5, "fo": E0 + 60}, {"tc"}, wall=100.0) == E0 + 5
    assert clocks.advance(0, {"fo": E0 + 90}, {"tc"}, wall=100.0 + INPUT_HOLD_S) == E0 + 5
    assert clocks.advance(0, {"fo": E0 + 95}, {"tc"}, wall=100.1 + INPUT_HOLD_S) == E0 + 95
    # A topic that starts lagging without any record read waits as long, then stops.
    assert clocks.advance(0, {"fo": E0 + 99}, {"ra"}, wall=200.0) is None
    assert clocks.advance(0, {"fo": E0 + 99}, {"ra"}, wall=200.1 + INPUT_HOLD_S) == E0 + 99


def test_input_clocks_clear_forgets_every_topic() -> None:
    clocks = InputClocks()
    clocks.advance(0, {"tc": E0 + 5}, set(), wall=1.0)
    clocks.clear()
    assert clocks.advance(0, {}, set(), wall=2.0) is None


def test_due_to_close_on_stream_time_after_end_plus_grace() -> None:
    index = new_index()
    store = Store(index)
    store.write([task(5), task(65)])
    wall = E0 + 80.0  # not idle: only stream time counts
    assert index.models_in(0, E0) == {"m"}
    store.write([task(69.9)], wall=wall)
    assert index.due_to_close(0, wall) == []
    store.write([task(70)], wall=wall)  # stream time reaches E0 + 60 + 10
    assert index.due_to_close(0, wall) == [E0]
    store.write([task(129.9)], wall=wall)
    assert index.due_to_close(0, wall) == [E0]
    store.write([task(130)], wall=wall)
    assert index.due_to_close(0, wall) == [E0, E0 + 60]  # oldest first; E0+120 still open
    assert index.due_to_close(1, wall) == []  # stream time is per partition


def test_due_to_close_on_wall_clock_only_after_the_partition_was_idle_for_bucket_plus_grace() -> None:
    index = new_index()
    store = Store(index)
    store.write([task(30)], wall=E0 + 30.0)  # live: the event arrives when it happened
    assert index.due_to_close(0, E0 + 99.999) == []  # idle 69.999 s
    assert index.due_to_close(0, E0 + 100.0) == [E0]  # idle 70 s: wall clock stands in for stream time

    # A backlog: events from the past arriving now. Not idle, so wall time is not used...
    lagging = new_index()
    store = Store(lagging)
    store.write([task(30)], wall=E0 + 1000.0)
    assert lagging.due_to_close(0, E0 + 1069.9) == []
    # ...until no event came for a bucket plus grace.
    assert lagging.due_to_close(0, E0 + 1070.0) == [E0]


def test_due_to_close_with_nothing_open() -> None:
    index = new_index()
    assert index.due_to_close(0, E0 + 10_000) == []  # partition never seen
    index.observe(0, E0 + 500, wall=E0 + 500)
    assert index.due_to_close(0, E0 + 10_000) == []  # seen, but no bucket written


def test_mark_closed_moves_the_watermark_and_a_late_write_goes_to_reclose() -> None:
    index = new_index()
    store = Store(index)
    store.write([task(5), task(65), task(70, model="x")])
    store.write([task(130)])
    due = index.due_to_close(0, E0 + 130)
    assert due == [E0, E0 + 60]
    assert index.models_in(0, E0 + 60) == {"m", "x"}
    for bucket in due:
        index.mark_closed(0, bucket)
    assert index.clock(0).closed_through == E0 + 60
    assert index.open[0] == {E0 + 120: {"m"}}
    assert index.due_to_close(0, E0 + 130) == []
    index.mark_closed(0, E0)  # an older bucket never lowers the watermark
    assert index.clock(0).closed_through == E0 + 60

    store.write([task(10, agent="PM")])  # late: its bucket's finals already went out
    store.write([task(-30)])  # a closed bucket that had no data before
    store.write([task(119.5, model="x")])  # the watermark bucket itself
    store.write([task(125, model="x")])  # the open bucket: normal
    assert index.reclose == {(0, "m", E0), (0, "m", E0 - 60), (0, "x", E0 + 60)}
    assert index.open[0] == {E0 + 120: {"m", "x"}}
    assert index.models_in(0, E0) == set()
    assert index.agents("m", E0) == {"SA", "PM"}
    assert index.due_to_close(0, E0 + 130) == []  # reclosing is not closing again


# --- expiry and rebalances ----------------------------------------------------------------


def test_expire_drops_only_that_partitions_buckets_past_retention() -> None:
    index = new_index(retention_s=HOUR)
    store = Store(index)
    store.write([task(0), task(10, agent="PM"), task(60), task(120)], partition=0)
    store.write([task(0, model="y"), task(60, model="y")], partition=1)
    now = E0 + HOUR + BS + 60.5  # buckets E0 and E0+60 ended more than an hour ago
    gone = index.expire(0, now)
    assert sorted(gone) == [("m", "PM", E0), ("m", "SA", E0), ("m", "SA", E0 + 60)]
    assert index.keys["m"] == {E0 + 120: {"SA"}}
    assert index.open[0] == {E0 + 120: {"m"}}
    assert index.keys["y"] == {E0: {"SA"}, E0 + 60: {"SA"}}  # partition 1: untouched
    assert index.expire(0, now) == []  # already gone
    assert sorted(index.expire(1, now)) == [("y", "SA", E0), ("y", "SA", E0 + 60)]


def is_expired(bucket_start: int, bucket_seconds: int, retention_s: float, now_s: float) -> bool:
    """The rule, written out independently: a bucket expires `retention_s` after it ends."""
    return now_s >= bucket_start + bucket_seconds + retention_s


@pytest.mark.parametrize("offset", [-0.001, 0.0, 0.001, 59.999, 60.0, 120.0])
def test_expire_agrees_with_is_expired_at_the_boundary(offset: float) -> None:
    index = new_index(retention_s=HOUR)
    store = Store(index)
    store.write([task(0), task(60), task(120)])
    now = E0 + BS + HOUR + offset
    expected = [b for b in (E0, E0 + 60, E0 + 120) if is_expired(b, BS, HOUR, now)]
    assert sorted(b for _, _, b in index.expire(0, now)) == expected


def test_expired_buckets_leave_the_trailing_rollups() -> None:
    # Retention shorter than a day: the 24h window reaches buckets that expire under it.
    index = new_index(retention_s=HOUR)
    store = Store(index)
    store.write([task(t) for t in range(0, 2 * HOUR, 300)])
    start, end = trailing_bounds(DAY, E0 + 2 * HOUR - BS, BS)
    assert index.trailing("m", start, end, store.load).requests == 24  # hourly rollups now cached
    store.drop(index.expire(0, E0 + 2 * HOUR + 30 * 60))
    assert index.trailing("m", start, end, store.load) == store.merged("m", start, end)


def test_forget_partitions_drops_everything_of_partitions_no_longer_owned() -> None:
    index = new_index()
    store = Store(index)
    for p, model in enumerate(["a", "b", "c"]):
        store.write([task(t, model=model) for t in range(0, HOUR + 120, 60)], partition=p)
    for p in range(3):
        index.mark_closed(p, E0 + HOUR)
    store.write([task(30, model="a")], partition=0)
    store.write([task(30, model="b")], partition=1)
    start, end = E0, E0 + HOUR
    assert index.trailing("b", start, end, store.load).requests == 61  # cached rollup of b
    index.forget_partitions(keep=[0, 2])
    assert index.model_partition == {"a": 0, "c": 2}
    assert set(index.keys) == {"a", "c"}
    assert set(index.clocks) == {0, 2}
    assert set(index.open) == {0, 2}
    assert index.reclose == {(0, "a", E0)}
    assert index.dirty_models == {"a", "c"}
    assert index.trailing("b", start, end, store.load) == BucketStats()  # no stale rollup
    assert index.trailing("a", start, end, store.load) == store.merged("a", start, end)


# --- trailing rollups -----------------------------------------------------------------------


def populate(store: Store, seed: int, span_s: int = 26 * HOUR) -> None:
    """Events of two models and two agent types over `span_s` up to E0+35min, a few per minute."""
    rng = np.random.default_rng(seed)
    first = E0 + 35 * 60 - span_s
    events: list[Event] = []
    for t in sorted(rng.uniform(first, E0 + 35 * 60, 2500)):
        model, agent = str(rng.choice(["m", "n"])), str(rng.choice(["SA", "PM"]))
        kind = rng.random()
        if kind < 0.85:
            ok, latency = bool(rng.random() < 0.9), float(rng.lognormal(5, 1))
            cost = round(float(rng.uniform(0, 0.05)), 6)
            events.append(task(t - E0, model=model, agent=agent, success=ok, latency=latency, cost=cost))
        elif kind < 0.95:
            events.append(limited(t - E0, model=model, retry=float(rng.uniform(0, 60))))
        else:
            events.append(failover(t - E0, src=model, dst="n" if model == "m" else "m"))
    store.write(events)
    store.write([ev for ev in events if isinstance(ev, Failover)], side="in")


def assert_same_stats(got: BucketStats, expected: BucketStats) -> None:
    assert got.requests == expected.requests
    assert got.successes == expected.successes
    assert got.cost_total == expected.cost_total
    assert got.rate_limited == expected.rate_limited
    assert (got.failovers_out, got.failovers_in) == (expected.failovers_out, expected.failovers_in)
    qs = (0.5, 0.95, 0.99)
    assert got.latency.quantiles(qs) == expected.latency.quantiles(qs)
    assert got == expected  # every field, sketch bins and offsets included


@pytest.mark.parametrize("end_bucket", [E0 + 34 * 60, E0 - 60, E0, E0 - 25 * 60])
@pytest.mark.parametrize("span", [300, HOUR, DAY])
def test_trailing_equals_an_independent_merge_of_the_same_buckets(span: int, end_bucket: int) -> None:
    index = new_index(retention_s=2 * DAY)
    store = Store(index)
    populate(store, seed=span + end_bucket)
    start, end = trailing_bounds(span, end_bucket, BS)
    for model in ("m", "n"):
        expected = store.merged(model, start, end)
        assert expected.requests > 0
        assert_same_stats(index.trailing(model, start, end, store.load), expected)
        assert_same_stats(index.trailing(model, start, end, store.load), expected)  # from the caches


def test_trailing_over_arbitrary_ranges_across_hour_boundaries() -> None:
    index = new_index(retention_s=2 * DAY)
    store = Store(index)
    populate(store, seed=7)
    store.write([task(-30, latency=70_000.0)])  # the last bucket of an hour: in some ranges, not others
    ranges = [(E0 - 2 * HOUR, E0), (E0 - 2 * HOUR, E0 - 60), (E0 - HOUR, E0 - 60),
              (E0 - 2 * HOUR - 120, E0 + 60), (E0 - 90 * 60, E0 - 20 * 60),
              (E0 - 5 * HOUR, E0 - 5 * HOUR + 60), (E0 + 60, E0 + 60)]  # fmt: skip
    for start, end in ranges:
        assert index.trailing("m", start, end, store.load) == store.merged("m", start, end)


def test_trailing_rollups_are_cached_until_a_write_invalidates_them() -> None:
    index = new_index(retention_s=2 * DAY)
    store = Store(index)
    populate(store, seed=3)
    start, end = trailing_bounds(DAY, E0 + 34 * 60, BS)
    before = index.trailing("m", start, end, store.load)
    store.loads = 0
    assert index.trailing("m", start, end, store.load) == before
    assert store.loads == 0  # every hour and minute came from the caches

    # A write in a whole hour (its rollup is cached) and one in the partial last hour.
    store.write([task(-5 * HOUR + 17, latency=90_000.0, cost=1.5), task(33 * 60, success=False)])
    after = index.trailing("m", start, end, store.load)
    assert after == store.merged("m", start, end)
    assert (after.requests, after.successes) == (before.requests + 2, before.successes + 1)
    assert after.cost_total == pytest.approx(before.cost_total + 1.51)
    assert after.latency.quantile(1.0) == pytest.approx(90_000.0, rel=0.01)
    assert store.loads > 0


def test_a_row_changed_without_note_write_is_not_seen_through_the_cache() -> None:
    # Why the worker must call note_write for every key it writes.
    index = new_index()
    store = Store(index)
    store.write([task(10), task(70)])
    cached = index.trailing("m", E0, E0 + 120, store.load)
    store.rows[("m", "SA", E0)] = to_bytes(BucketStats())
    assert index.trailing("m", E0, E0 + 120, store.load) == cached
    index.note_write(0, "m", "SA", E0)
    assert index.trailing("m", E0, E0 + 120, store.load).requests == 1


def test_model_bucket_merges_agent_types_and_skips_deleted_rows() -> None:
    index = new_index()
    store = Store(index)
    store.write([task(1, agent="SA"), task(2, agent="PM", success=False), task(3, agent="QA")])
    del store.rows[("m", "QA", E0)]  # indexed but gone from the table
    merged = index.model_bucket("m", E0, store.load)
    assert (merged.requests, merged.successes, merged.failures) == (2, 1, {"timeout": 1})
    store.loads = 0
    assert index.model_bucket("m", E0, store.load) is merged
    assert store.loads == 0


def test_evicted_minutes_are_read_again_with_the_same_result() -> None:
    index = new_index(retention_s=2 * DAY)
    store = Store(index)
    populate(store, seed=11, span_s=3 * HOUR)
    start, end = E0 - 90 * 60, E0 + 30 * 60
    first = index.trailing("m", start, end, store.load)
    index.evict_minutes("m", E0)
    store.loads = 0
    assert index.trailing("m", start, end, store.load) == first
    # 10:30-11:00 is read again; 11:00-12:00 is an hourly rollup, and minutes from 12:00 were kept.
    assert store.loads == sum(len(index.agents("m", b)) for b in range(start, E0 - HOUR, BS))
    assert store.loads > 0
