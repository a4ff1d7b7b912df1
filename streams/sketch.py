"""LatencySketch: a mergeable quantile sketch with a bounded relative error (the DDSketch algorithm)."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["RELATIVE_ACCURACY", "LatencySketch"]

# Why our own and not the `ddsketch` package (same algorithm, same logarithmic mapping):
# measured on this venv (Python 3.11, 100k lognormal latencies, best of 5),
#   ddsketch.DDSketch(0.01).add       0.33 µs per value
#   LatencySketch.add (dict bins)     0.15 µs per value
# and ddsketch serialises only through protobuf (not installed, not in our codec), so we
# would have to read its private dense-store fields to write JSON. A dict of bin -> count
# also merges by plain addition, which keeps merge exact and order-independent.
#
# 0.0099 rather than 0.01: the bound is (gamma-1)/(gamma+1) = alpha on exact arithmetic;
# the margin absorbs the rounding of log() at bin edges so the 1% promise holds as stated.
RELATIVE_ACCURACY = 0.0099
_GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
_MULTIPLIER = 1 / math.log(_GAMMA)
# Bin k holds (gamma^(k-1), gamma^k]; its estimate 2*gamma^k/(1+gamma) is written as
# gamma^(k-1) * 2*gamma/(1+gamma) so the top bin of the largest float cannot overflow pow().
_VALUE_FACTOR = 2 * _GAMMA / (1 + _GAMMA)
# As in ddsketch: below this, gamma^(k-1) would be subnormal and lose the accuracy bound.
_MIN_POSITIVE = sys.float_info.min * _GAMMA
_MAX_VALUE = sys.float_info.max
_log = math.log
_ceil = math.ceil


@dataclass(slots=True)
class LatencySketch:
    """Counts of positive values per logarithmic bin, plus a count of zeros.

    A quantile is within RELATIVE_ACCURACY of the exact order statistic at rank
    floor(q * (n - 1)) (numpy's method="lower"). Counts are ints, so merging is exact.
    """

    bins: dict[int, int] = field(default_factory=dict)
    zeros: int = 0

    def add(self, value: float) -> None:
        """Record one value; zero (or below 2.3e-308, or negative: the contract has none) counts as zero."""
        if value > _MIN_POSITIVE:
            key = _ceil(_log(value) * _MULTIPLIER)
            bins = self.bins
            bins[key] = bins.get(key, 0) + 1
        else:
            self.zeros += 1

    @property
    def count(self) -> int:
        return self.zeros + sum(self.bins.values())

    def merge_from(self, other: LatencySketch) -> None:
        """Add every value of `other` into this sketch (other is left unchanged)."""
        bins = self.bins
        get = bins.get
        for key, n in other.bins.items():
            bins[key] = get(key, 0) + n
        self.zeros += other.zeros

    def copy(self) -> LatencySketch:
        return LatencySketch(dict(self.bins), self.zeros)

    def quantiles(self, qs: Iterable[float]) -> list[float | None]:
        """The value at each quantile q in [0, 1]; None for every q when the sketch is empty.

        One sort for all of them: summaries ask for p50, p95 and p99 together.
        """
        wanted = list(qs)
        for q in wanted:
            if not 0.0 <= q <= 1.0:
                raise ValueError(f"quantile must be within [0, 1], got {q!r}")
        total = self.count
        if total == 0:
            return [None] * len(wanted)
        keys = sorted(self.bins)
        out: list[float | None] = []
        for q in wanted:
            # Rank counted from 0, the same rule as ddsketch: the first bin whose running
            # count exceeds the rank holds the order statistic.
            rank = q * (total - 1)
            if rank < self.zeros:
                out.append(0.0)
                continue
            seen = self.zeros
            chosen = keys[-1]
            for key in keys:
                seen += self.bins[key]
                if seen > rank:
                    chosen = key
                    break
            out.append(min(_GAMMA ** (chosen - 1) * _VALUE_FACTOR, _MAX_VALUE))
        return out

    def quantile(self, q: float) -> float | None:
        return self.quantiles((q,))[0]

    def to_data(self) -> list[int]:
        """Compact JSON-able form: [zeros, first key, its count, key delta, count, ...].

        Keys are sorted and delta-encoded, so a typical bin costs 3-5 bytes of JSON.
        """
        out = [self.zeros]
        previous = 0
        for key in sorted(self.bins):
            out.append(key - previous)
            out.append(self.bins[key])
            previous = key
        return out

    @classmethod
    def from_data(cls, data: object) -> LatencySketch:
        """The inverse of to_data; ValueError on anything it could not have written."""
        if not (
            isinstance(data, list)
            and len(data) % 2 == 1
            and all(type(x) is int for x in data)
            and all(n > 0 for n in data[2::2])
            and data[0] >= 0
        ):
            raise ValueError("not a LatencySketch: expected [zeros, key, count, key delta, count, ...]")
        bins: dict[int, int] = {}
        key = 0
        for i in range(1, len(data), 2):
            key += data[i]
            if i > 1 and data[i] <= 0:
                raise ValueError("not a LatencySketch: bin keys must be strictly increasing")
            bins[key] = data[i + 1]
        return cls(bins, data[0])
