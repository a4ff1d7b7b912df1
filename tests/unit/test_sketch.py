"""LatencySketch: quantiles within 1% of numpy's exact ones, exact merges, compact round trips."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelrouter.streams.sketch import RELATIVE_ACCURACY, LatencySketch

QS = (0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0)


def sketch_of(values: list[float] | np.ndarray) -> LatencySketch:
    s = LatencySketch()
    for v in values:
        s.add(float(v))
    return s


def assert_within_1pct(values: np.ndarray, sketch: LatencySketch, qs: tuple[float, ...] = QS) -> None:
    # DDSketch's promise is about the order statistic at rank floor(q*(n-1)), which is
    # numpy's "lower" method; the default "linear" interpolates between two of them.
    exact = np.quantile(values, qs, method="lower")
    got = sketch.quantiles(qs)
    for q, want, est in zip(qs, exact, got, strict=True):
        assert est is not None
        if want == 0:
            assert est == 0, f"q={q}: want 0, got {est}"
        else:
            rel = abs(est - want) / want
            assert rel <= 0.01, f"q={q}: want {want}, got {est} ({rel:.4%})"


def distributions() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20240601)
    with_zeros = rng.lognormal(5.0, 1.0, 20_000)
    with_zeros[rng.random(20_000) < 0.3] = 0.0
    return {
        "lognormal latencies": rng.lognormal(mean=6.0, sigma=0.8, size=50_000),
        "heavy lognormal": rng.lognormal(mean=4.0, sigma=2.5, size=50_000),
        "uniform": rng.uniform(1.0, 5_000.0, size=50_000),
        "uniform from 0": rng.uniform(0.0, 1.0, size=20_000),
        "30% zeros": with_zeros,
        "exponential": rng.exponential(300.0, size=30_000),
        "bimodal": np.concatenate([rng.normal(80, 5, 10_000), rng.normal(4_000, 300, 1_000)]).clip(0),
        "few values": np.array([12.0, 0.0, 950.5, 3.25, 3.25]),
    }


@pytest.mark.parametrize("name", list(distributions()))
def test_quantiles_within_one_percent_of_numpy(name: str) -> None:
    values = distributions()[name]
    assert_within_1pct(values, sketch_of(values))


def test_empty_sketch_has_no_quantiles() -> None:
    s = LatencySketch()
    assert s.count == 0
    assert s.quantiles((0.5, 0.99)) == [None, None]
    assert s.quantile(0.5) is None


def test_zero_latencies_counted_in_zero_bucket() -> None:
    s = sketch_of([0.0, 0.0, 0.0, 10.0])
    assert s.zeros == 3
    assert s.count == 4
    assert s.quantiles((0.0, 0.5, 2 / 3)) == [0.0, 0.0, 0.0]
    top = s.quantile(1.0)
    assert top is not None
    assert top == pytest.approx(10.0, rel=0.01)


def test_single_value_accuracy_at_extremes() -> None:
    for v in (1e-300, 0.001, 1.0, 999.999, 1e12, sys.float_info.max):
        est = sketch_of([v]).quantile(0.5)
        assert est is not None
        assert abs(est - v) / v <= RELATIVE_ACCURACY * (1 + 1e-9)


def test_quantile_outside_unit_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="within"):
        sketch_of([1.0]).quantile(1.5)


positive_or_zero = st.one_of(st.just(0.0), st.floats(min_value=1e-300, max_value=1e300))


@settings(max_examples=300, deadline=None)
@given(st.lists(positive_or_zero, min_size=1, max_size=200))
def test_any_values_any_quantile_within_one_percent(values: list[float]) -> None:
    assert_within_1pct(np.array(values), sketch_of(values))


@given(st.lists(positive_or_zero, max_size=100), st.lists(positive_or_zero, max_size=100))
def test_merge_equals_sketch_of_all_values(a: list[float], b: list[float]) -> None:
    left, right = sketch_of(a), sketch_of(b)
    before = right.copy()
    left.merge_from(right)
    assert left == sketch_of(a + b)
    assert right == before


@given(st.lists(positive_or_zero, max_size=200))
def test_data_round_trip(values: list[float]) -> None:
    s = sketch_of(values)
    assert LatencySketch.from_data(s.to_data()) == s


def test_data_is_compact() -> None:
    rng = np.random.default_rng(7)
    s = sketch_of(rng.lognormal(6.0, 0.8, 10_000))
    data = s.to_data()
    assert len(data) == 1 + 2 * len(s.bins)
    # Delta-encoded keys: every key after the first is a small positive step.
    assert all(0 < d < 50 for d in data[3::2])


@pytest.mark.parametrize(
    "data",
    [
        None,
        {},
        [],
        [0, 5],  # a key without its count
        [-1],  # negative zero count
        [0, 5, 0],  # an empty bin is never written
        [0, 5, 1, 0, 2],  # keys not increasing
        [0, 5, 1.5],
        [True, 5, 1],
    ],
)
def test_from_data_refuses_what_to_data_cannot_write(data: object) -> None:
    with pytest.raises(ValueError, match="not a LatencySketch"):
        LatencySketch.from_data(data)
