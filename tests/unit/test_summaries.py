"""The published records: final bucket summaries, provisional trailing windows, scorecards, keys."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import count

import numpy as np
import pytest

from modelrouter.schemas import (
    Event,
    Failover,
    FailoverReason,
    RateLimited,
    Scorecard,
    TaskCompleted,
    WindowSummary,
    decode,
    encode,
)
from modelrouter.streams.buckets import (
    BucketStats,
    FailoverSide,
    fold_batch,
    from_bytes,
    merge_into,
    summarize,
    to_bytes,
)
from modelrouter.streams.model_health import ModelHealth
from modelrouter.streams.sketch import RELATIVE_ACCURACY
from modelrouter.streams.summaries import (
    TRAILING,
    final_summaries,
    open_bucket_summaries,
    provisional_summaries,
    scorecard_for,
    to_record,
)
from modelrouter.streams.windows import WindowIndex, trailing_bounds

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
E0 = int(T0.timestamp())  # a multiple of 60 and of 3600
HOUR = 3600
BS = 60


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def task(
    t: float,
    *,
    model: str = "m",
    agent: str = "SA",
    success: bool = True,
    latency: float = 100.0,
    quality: float | None = None,
    cost: float = 0.01,
) -> TaskCompleted:
    return TaskCompleted(
        occurred_at=at(t), agent_type=agent, task_id="t-1", model_id=model, provider="p",
        success=success, latency_ms=latency, quality_score=quality, cost=cost, input_tokens=100,
        output_tokens=50, error_type=None if success else "timeout",
    )  # fmt: skip


def limited(t: float, *, model: str = "m", agent: str = "SA", retry: float | None = 30.0) -> RateLimited:
    return RateLimited(occurred_at=at(t), agent_type=agent, model_id=model, provider="p", retry_after_s=retry)


def failover(t: float, *, src: str, dst: str, agent: str) -> Failover:
    return Failover(
        occurred_at=at(t), agent_type=agent, task_id="t-1", original_model=src, alternative_model=dst,
        reason=FailoverReason.ERROR,
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

    def write(self, events: Sequence[Event], partition: int = 0, *, side: FailoverSide = "out") -> None:
        source = f"events-{side}:{partition}"
        items = [(source, next(self._offsets), ev) for ev in events]
        for ev in events:
            t = ev.occurred_at.timestamp()
            self.index.observe(partition, t, t)
        stored = {k: from_bytes(v) for k, v in self.rows.items()}
        for key, stats in fold_batch(items, BS, failover_side=side, load=stored.get).items():
            self.rows[key] = to_bytes(stats)
            self.index.note_write(partition, *key)

    def merged(self, model: str, start: int, end: int) -> BucketStats:
        """An independent model-level merge of the stored rows with start <= bucket < end."""
        out = BucketStats()
        for (m, _, b), v in self.rows.items():
            if m == model and start <= b < end:
                merge_into(out, from_bytes(v))
        return out


def new_store() -> Store:
    return Store(WindowIndex(bucket_seconds=BS, grace_seconds=10, retention_s=2 * 86_400))


def one_bucket() -> Store:
    """Model m in bucket E0: agent types SA and PM call it, QA fails over to it from n."""
    store = new_store()
    store.write(
        [
            task(5, latency=100.0, cost=0.01),
            task(10, latency=300.0, cost=0.02),
            task(20, success=False, latency=5000.0, cost=0.0),
            limited(30, retry=30.0),
            task(15, agent="PM", latency=200.0, quality=0.9, cost=0.05),
            task(25, agent="PM", latency=400.0, quality=0.7, cost=0.05),
            failover(40, src="m", dst="n", agent="PM"),
            failover(45, src="n", dst="m", agent="QA"),
            task(65, latency=9999.0),  # the next bucket
            task(5, model="n", latency=1.0),  # another model
        ]
    )
    store.write(
        [failover(40, src="m", dst="n", agent="PM"), failover(45, src="n", dst="m", agent="QA")], side="in"
    )
    return store


# --- final summaries ----------------------------------------------------------------------


def test_final_summaries_one_per_agent_type_and_one_over_all() -> None:
    store = one_bucket()
    out = final_summaries(store.index, "m", E0, store.load)
    assert [s.agent_type for s in out] == ["PM", "QA", "SA", None]
    for s in out:
        assert (s.model_id, s.window, s.final) == ("m", "bucket", True)
        assert (s.window_start, s.window_end) == (T0, at(60))

    pm, qa, sa, whole = out
    assert (pm.requests, pm.successes, pm.success_rate) == (2, 2, 1.0)
    assert pm.quality_mean == pytest.approx(0.8)
    assert pm.cost_total == pytest.approx(0.10)
    assert (pm.rate_limited, pm.failovers_out, pm.failovers_in) == (0, 1, 0)
    assert pm.latency_ms.mean == pytest.approx(300.0)
    assert (qa.requests, qa.success_rate, qa.latency_ms.p50, qa.failovers_in) == (0, None, None, 1)
    assert (sa.requests, sa.successes, sa.rate_limited, sa.quality_mean) == (3, 2, 1, None)
    assert sa.success_rate == pytest.approx(2 / 3)
    assert sa.cost_total == pytest.approx(0.03)
    assert sa.latency_ms.p50 == pytest.approx(300.0, rel=RELATIVE_ACCURACY)

    assert (whole.requests, whole.successes, whole.success_rate) == (5, 4, 0.8)
    assert (whole.input_tokens, whole.output_tokens) == (500, 250)
    assert (whole.rate_limited, whole.failovers_out, whole.failovers_in) == (1, 1, 1)
    assert whole.cost_total == pytest.approx(0.13)
    assert whole.quality_mean == pytest.approx(0.8)
    assert whole.latency_ms.mean == pytest.approx(1200.0)
    assert whole.latency_ms.p50 == pytest.approx(300.0, rel=RELATIVE_ACCURACY)
    assert whole.latency_ms.p99 == pytest.approx(400.0, rel=RELATIVE_ACCURACY)  # rank floor(0.99 * 4)

    parts = (pm, qa, sa)
    for name in ("requests", "successes", "input_tokens", "output_tokens", "rate_limited",
                 "failovers_out", "failovers_in"):  # fmt: skip
        assert getattr(whole, name) == sum(getattr(s, name) for s in parts), name
    assert whole.cost_total == pytest.approx(sum(s.cost_total for s in parts))
    assert whole == summarize(
        store.merged("m", E0, E0 + BS),
        model_id="m", agent_type=None, window="bucket", window_start=E0, window_end=E0 + BS, final=True,
        data_through=E0 + 65,  # the partition's stream time
    )  # fmt: skip


def test_final_summaries_cache_the_merged_bucket_for_trailing_windows() -> None:
    store = one_bucket()
    final_summaries(store.index, "m", E0, store.load)
    store.loads = 0
    merged = store.index.model_bucket("m", E0, store.load)
    assert store.loads == 0
    assert merged == store.merged("m", E0, E0 + BS)


def test_final_summaries_skip_an_indexed_agent_whose_row_is_gone() -> None:
    store = one_bucket()
    del store.rows[("m", "PM", E0)]
    out = final_summaries(store.index, "m", E0, store.load)
    assert [s.agent_type for s in out] == ["QA", "SA", None]
    assert (out[-1].requests, out[-1].successes, out[-1].failovers_out) == (3, 2, 0)


def test_final_summaries_of_a_bucket_with_nothing_stored() -> None:
    store = one_bucket()
    (only,) = final_summaries(store.index, "m", E0 - 600, store.load)
    assert (only.agent_type, only.requests, only.success_rate, only.cost_total) == (None, 0, None, 0.0)
    assert (only.window_start, only.window_end) == (at(-600), at(-540))


def test_open_bucket_summaries_cover_each_open_bucket_under_its_final_key() -> None:
    store = one_bucket()
    out = open_bucket_summaries(store.index, "m", store.load)
    # Both buckets of m are open (stream time 65 s has not passed E0's end plus grace).
    assert [(s.window_start, s.agent_type) for s in out] == [
        (T0, "PM"), (T0, "QA"), (T0, "SA"), (T0, None), (at(60), "SA"), (at(60), None),
    ]  # fmt: skip
    assert not any(s.final for s in out)
    assert {s.data_through for s in out} == {at(65)}  # the partition's stream time
    whole = out[3]
    finals = final_summaries(store.index, "m", E0, store.load)
    assert whole.key == finals[-1].key  # the final replaces it on the compacted topic
    assert whole.model_copy(update={"final": True}) == finals[-1]
    store.index.mark_closed(0, E0)
    assert [s.window_start for s in open_bucket_summaries(store.index, "m", store.load)] == [at(60)] * 2


# --- provisional summaries ----------------------------------------------------------------


def populate(store: Store, seed: int, last: float) -> None:
    """Events of two agent types on model m over the 26 hours up to E0 + `last` (the latest)."""
    rng = np.random.default_rng(seed)
    times = [*sorted(rng.uniform(last - 26 * HOUR, last, 1500)), last]
    events: list[Event] = []
    for t in times:
        agent = str(rng.choice(["SA", "PM"]))
        if rng.random() < 0.9:
            ok, latency = bool(rng.random() < 0.85), float(rng.lognormal(5, 1))
            cost, quality = round(float(rng.uniform(0, 0.05)), 6), round(float(rng.random()), 3)
            events.append(task(t, agent=agent, success=ok, latency=latency, cost=cost, quality=quality))
        else:
            events.append(limited(t, agent=agent))
    store.write(events)


def test_provisional_summaries_are_trailing_windows_over_all_agent_types() -> None:
    store = new_store()
    populate(store, seed=1, last=34 * 60 + 30)  # stream time in the 12:34 bucket
    out = provisional_summaries(store.index, "m", store.load)
    assert [s.window for s in out] == ["5m", "1h", "24h"]
    assert [(s.window_start, s.window_end) for s in out] == [
        (at(30 * 60), at(35 * 60)),
        (at(-25 * 60), at(35 * 60)),
        (datetime(2025, 2, 28, 13, 0, tzinfo=UTC), at(35 * 60)),
    ]
    for s, (kind, span) in zip(out, TRAILING, strict=True):
        assert (s.model_id, s.agent_type, s.final) == ("m", None, False)
        start, end = trailing_bounds(span, E0 + 34 * 60, BS)
        expected = store.merged("m", start, end)
        assert s.requests == expected.requests > 0
        assert s == summarize(
            expected,
            model_id="m",
            agent_type=None,
            window=kind,
            window_start=start,
            window_end=end,
            final=False,
            data_through=store.index.clock(0).stream_time,
        )
    assert out[0].requests < out[1].requests < out[2].requests


def test_provisional_summaries_end_with_the_bucket_of_stream_time() -> None:
    store = new_store()
    store.write([task(10), task(60)])  # stream time exactly on a boundary: the later bucket
    store.write([task(300, model="x")], partition=1)  # another partition's clock
    five, hour, _ = provisional_summaries(store.index, "m", store.load)
    assert (five.window_start, five.window_end, five.requests) == (at(-180), at(120), 2)
    assert (hour.window_start, hour.window_end) == (at(120 - HOUR), at(120))
    five_x = provisional_summaries(store.index, "x", store.load)[0]
    assert (five_x.window_end, five_x.requests) == (at(360), 1)


def test_provisional_summaries_without_stream_time_are_empty() -> None:
    store = new_store()
    assert provisional_summaries(store.index, "m", store.load) == []  # model never written
    store.index.note_write(0, "m", "SA", E0)  # written, but no event observed on the partition
    assert provisional_summaries(store.index, "m", store.load) == []


def test_provisional_summaries_follow_new_writes() -> None:
    store = new_store()
    populate(store, seed=2, last=34 * 60 + 30)
    before = provisional_summaries(store.index, "m", store.load)
    store.write([task(-20 * HOUR + 1, cost=2.0, success=False), task(34 * 60 + 40, cost=1.0)])
    after = provisional_summaries(store.index, "m", store.load)
    assert [a.requests - b.requests for a, b in zip(after, before, strict=True)] == [1, 1, 2]
    assert [a.successes - b.successes for a, b in zip(after, before, strict=True)] == [1, 1, 1]
    assert after[2].cost_total == pytest.approx(before[2].cost_total + 3.0)


# --- scorecards ---------------------------------------------------------------------------


def test_scorecard_for_carries_the_trailing_hour_and_the_health() -> None:
    store = new_store()
    store.write(
        [
            task(-2 * HOUR, success=False, latency=90_000.0, cost=5.0),  # long before the hour
            task(-1741, success=False, latency=80_000.0, cost=5.0),  # bucket E0-1800: just outside
            task(-1740, latency=100.0, cost=0.01, quality=0.5),  # bucket E0-1740: the first inside
            task(-600, agent="PM", latency=200.0, cost=0.03, quality=1.0),
            task(600, success=False, latency=3000.0, cost=0.0),
            task(1200, agent="PM", latency=400.0, cost=0.02),
            limited(1500, retry=None),
            task(1805, latency=300.0, cost=0.04),  # stream time: bucket E0+1800
        ]
    )
    health = ModelHealth(failure_streak=2, last_failure_at=E0 + 600.0, cooldown_until=E0 + 1560.0)
    before = datetime.now(UTC)
    card = scorecard_for(store.index, "m", health, store.load, window_s=3600)  # an hour, as configured
    assert before <= card.updated_at <= datetime.now(UTC)
    expected = store.merged("m", E0 - 1740, E0 + 1860)
    assert (card.model_id, card.requests, card.successes) == ("m", 5, 4)
    assert card.success_rate == pytest.approx(0.8)
    assert card.cost_mean == pytest.approx(0.10 / 5)
    assert card.quality_mean == pytest.approx(0.75)
    assert [card.latency_p50_ms, card.latency_p95_ms] == expected.latency.quantiles((0.5, 0.95))
    assert card.latency_p50_ms == pytest.approx(300.0, rel=RELATIVE_ACCURACY)
    assert card.latency_p95_ms == pytest.approx(400.0, rel=RELATIVE_ACCURACY)  # rank floor(0.95 * 4)
    assert (card.failure_streak, card.last_failure_at, card.cooldown_until) == (2, at(600), at(1560))


def test_scorecard_for_a_model_without_stream_time_has_only_health() -> None:
    store = new_store()
    health = ModelHealth(failure_streak=1, last_failure_at=E0 + 1.5)
    card = scorecard_for(store.index, "m", health, store.load)
    assert (card.requests, card.success_rate, card.latency_p50_ms, card.cost_mean) == (0, None, None, None)
    assert (card.failure_streak, card.last_failure_at, card.cooldown_until) == (1, at(1.5), None)
    assert scorecard_for(store.index, "m", None, store.load).failure_streak == 0


# --- records ------------------------------------------------------------------------------


def test_to_record_keys_and_values() -> None:
    store = one_bucket()
    *_, sa, whole = final_summaries(store.index, "m", E0, store.load)
    key, value = to_record(sa)
    assert key == b"m|SA|bucket|2025-03-01T12:00:00+00:00"
    assert value == encode(sa)
    assert decode(WindowSummary, value) == sa
    assert to_record(whole)[0] == b"m|*|bucket|2025-03-01T12:00:00+00:00"
    five = provisional_summaries(store.index, "m", store.load)[0]
    assert five.window_start == at(-180)
    assert to_record(five)[0] == b"m|*|5m"  # one key per trailing window: compaction keeps the latest

    card = scorecard_for(store.index, "m", ModelHealth(failure_streak=3), store.load)
    key, value = to_record(card)
    assert key == b"m"
    assert decode(Scorecard, value) == card
