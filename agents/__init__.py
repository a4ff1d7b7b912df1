"""The agent-side SDK: publishing events, asking for selections, failover."""

from .admin import ensure_topics
from .publisher import EventPublisher

__all__ = ["EventPublisher", "ensure_topics"]
