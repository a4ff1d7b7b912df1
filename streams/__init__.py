"""The faust-streaming side: ingest, dead letters, folds, summaries and selection.

Importing this package does not import faust: the pure core (buckets, sketch, scoring)
stays light. The worker process is `modelrouter.streams.worker` (`modelrouter worker`).
"""

from .buckets import BucketKey, BucketStats, fold_batch, summarize
from .sketch import LatencySketch

__all__ = ["BucketKey", "BucketStats", "LatencySketch", "fold_batch", "summarize"]
