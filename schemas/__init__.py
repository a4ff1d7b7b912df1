"""The wire contract: records, topic names, the codec, settings and errors."""

from .base import Record, utc_now
from .codec import decode, decode_event, decode_reply, decode_request, dumps, encode, encode_key, loads
from .deadletter import DeadLetter, payload_text
from .errors import APIModelError, ConfigurationError, InvalidEventError, ModelRouterError, SelectionTimeout
from .events import Event, EventType, Failover, FailoverReason, LimitKind, RateLimited, TaskCompleted
from .registry import ModelSpec
from .selection import (
    Alternative,
    BaseAssignment,
    Constraints,
    ErrorDetail,
    ErrorReply,
    Rejection,
    Reply,
    Request,
    SelectionReply,
    SelectionRequest,
    SummaryReply,
    SummaryRequest,
    SummaryRow,
    TaskInfo,
)
from .settings import Settings
from .summaries import LatencySummary, Scorecard, WindowKind, WindowSummary, summary_key
from .topics import EVENT_TOPICS, TopicName, TopicSpec, topic_specs

__all__ = [
    "EVENT_TOPICS",
    "APIModelError",
    "Alternative",
    "BaseAssignment",
    "ConfigurationError",
    "Constraints",
    "DeadLetter",
    "ErrorDetail",
    "ErrorReply",
    "Event",
    "EventType",
    "Failover",
    "FailoverReason",
    "InvalidEventError",
    "LatencySummary",
    "LimitKind",
    "ModelRouterError",
    "ModelSpec",
    "RateLimited",
    "Record",
    "Rejection",
    "Reply",
    "Request",
    "Scorecard",
    "SelectionReply",
    "SelectionRequest",
    "SelectionTimeout",
    "Settings",
    "SummaryReply",
    "SummaryRequest",
    "SummaryRow",
    "TaskCompleted",
    "TaskInfo",
    "TopicName",
    "TopicSpec",
    "WindowKind",
    "WindowSummary",
    "decode",
    "decode_event",
    "decode_reply",
    "decode_request",
    "dumps",
    "encode",
    "encode_key",
    "loads",
    "payload_text",
    "summary_key",
    "topic_specs",
    "utc_now",
]
