"""The agent-side SDK: publishing events, asking for selections, failover."""

from .admin import ensure_topics
from .publisher import EventPublisher
from .reader import read_table, read_to_end

__all__ = ["EventPublisher", "ensure_topics", "read_table", "read_to_end"]
