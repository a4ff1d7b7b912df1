"""LatencyHistogram: cumulative bucket counts of observed seconds, as Prometheus reads them. Pure."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

__all__ = ["SELECTION_BOUNDS_S", "LatencyHistogram"]

# Selection answers in ~0.2 ms when idle and within 10 ms up to 1,500 requests/s
# (docs/benchmarks.md); the client's default deadline is 250 ms.
SELECTION_BOUNDS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass
class LatencyHistogram:
    bounds: tuple[float, ...] = SELECTION_BOUNDS_S
    counts: list[int] = field(default_factory=list)  # per bound, then +Inf (not cumulative)
    total_s: float = 0.0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1
        self.total_s += seconds

    def cumulative(self) -> list[tuple[str, int]]:
        """(upper bound as Prometheus writes it, count at or below it), ending with +Inf."""
        out, running = [], 0
        for bound, n in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += n
            out.append(("+Inf" if bound == float("inf") else repr(bound), running))
        return out

    @property
    def count(self) -> int:
        return sum(self.counts)
