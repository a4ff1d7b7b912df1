"""Kafka plumbing shared by the SDK and the worker: topic creation, live topic views, reading a
topic or a table's changelog to its end, and aiokafka's repeated log lines limited. The one
room of `agents` that `modelrouter.streams` may import (docs/design.md, "Dependency direction")."""

from .admin import ensure_topics
from .log_flood import CLIENT_LOGGERS, WORKER_LOGGERS, RepeatedLogFilter, limit_repeated_logs
from .topic_reader import read_table, read_to_end
from .topic_view import TopicView

__all__ = [
    "CLIENT_LOGGERS",
    "WORKER_LOGGERS",
    "RepeatedLogFilter",
    "TopicView",
    "ensure_topics",
    "limit_repeated_logs",
    "read_table",
    "read_to_end",
]
