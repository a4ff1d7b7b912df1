"""Kafka plumbing shared by the SDK and the worker: topic creation, live topic views, and
reading a topic or a table's changelog to its end. The one room of `agents` that
`modelrouter.streams` may import (docs/design.md, "Dependency direction")."""

from .admin import ensure_topics
from .topic_reader import read_table, read_to_end
from .topic_view import TopicView

__all__ = ["TopicView", "ensure_topics", "read_table", "read_to_end"]
