"""Builds the records the worker publishes: final and provisional WindowSummaries, Scorecards.

Pure given a `load` function for stored buckets: the caller sends what these return.
"""

from __future__ import annotations

from datetime import UTC, datetime

from modelrouter.schemas import Scorecard, WindowKind, WindowSummary, encode

from .buckets import BucketStats, merge_into, summarize
from .model_health import ModelHealth, scorecard
from .windows import Loader, WindowIndex, trailing_bounds

__all__ = [
    "TRAILING",
    "bucket_summaries",
    "final_summaries",
    "open_bucket_summaries",
    "provisional_summaries",
    "scorecard_for",
    "to_record",
]

TRAILING: tuple[tuple[WindowKind, int], ...] = (("5m", 300), ("1h", 3600), ("24h", 86_400))
# The stats a scorecard carries: a short trailing window, so selection sees a recovered
# provider within minutes (an hour kept it down-ranked long after an outage ended).
SCORECARD_WINDOW_S = 300


def to_record(summary: WindowSummary | Scorecard) -> tuple[bytes, bytes]:
    """(key, value) for the compacted topics: the latest record of each window/model wins."""
    key = summary.key if isinstance(summary, WindowSummary) else summary.model_id
    return key.encode("utf-8"), encode(summary)


def final_summaries(index: WindowIndex, model: str, bucket: int, load: Loader) -> list[WindowSummary]:
    """Final summaries of one closed bucket: one per agent type, and one over all of them."""
    return bucket_summaries(index, model, bucket, load, final=True)


def open_bucket_summaries(index: WindowIndex, model: str, load: Loader) -> list[WindowSummary]:
    """Provisional summaries (final=False) of `model`'s buckets still open, under the keys their
    finals will replace: summary queries then count the open minutes instead of missing them."""
    out: list[WindowSummary] = []
    for buckets in index.open.values():
        for bucket in sorted(b for b, models in buckets.items() if model in models):
            out += bucket_summaries(index, model, bucket, load, final=False)
    return out


def _stream_time(index: WindowIndex, model: str) -> float | None:
    partition = index.model_partition.get(model)
    return None if partition is None else index.clock(partition).stream_time


def bucket_summaries(
    index: WindowIndex, model: str, bucket: int, load: Loader, *, final: bool
) -> list[WindowSummary]:
    """Summaries of one bucket: one per agent type, and one over all of them."""
    end = bucket + index.bucket_seconds
    through = _stream_time(index, model)
    out = []
    merged = BucketStats()
    for agent in sorted(index.agents(model, bucket)):
        stats = load(model, agent, bucket)
        if stats is not None:
            merge_into(merged, stats)
            out.append(
                summarize(
                    stats,
                    model_id=model,
                    agent_type=agent,
                    window="bucket",
                    window_start=bucket,
                    window_end=end,
                    final=final,
                    data_through=through,
                )
            )
    index.cache_model_bucket(model, bucket, merged)  # trailing windows reuse it
    out.append(
        summarize(
            merged,
            model_id=model,
            agent_type=None,
            window="bucket",
            window_start=bucket,
            window_end=end,
            final=final,
            data_through=through,
        )
    )
    return out


def _end_bucket(index: WindowIndex, model: str) -> int | None:
    t = _stream_time(index, model)
    if t is None:
        return None
    return int(t // index.bucket_seconds) * index.bucket_seconds


def provisional_summaries(index: WindowIndex, model: str, load: Loader) -> list[WindowSummary]:
    """Trailing 5m, 1h and 24h summaries of one model over all agent types, as of stream time."""
    end_bucket = _end_bucket(index, model)
    if end_bucket is None:
        return []
    out = []
    for kind, span in TRAILING:
        start, end = trailing_bounds(span, end_bucket, index.bucket_seconds)
        stats = index.trailing(model, start, end, load)
        out.append(
            summarize(
                stats,
                model_id=model,
                agent_type=None,
                window=kind,
                window_start=start,
                window_end=end,
                final=False,
                data_through=_stream_time(index, model),
            )
        )
    index.evict_minutes(model, end_bucket - 5400)  # minutes past 1.5 h live on in hourly rollups
    return out


def scorecard_for(
    index: WindowIndex,
    model: str,
    health: ModelHealth | None,
    load: Loader,
    window_s: int = SCORECARD_WINDOW_S,
) -> Scorecard:
    end_bucket = _end_bucket(index, model)
    stats: BucketStats | None = None
    if end_bucket is not None:
        start, end = trailing_bounds(window_s, end_bucket, index.bucket_seconds)
        stats = index.trailing(model, start, end, load)
    return scorecard(model, stats, health, datetime.now(UTC))
