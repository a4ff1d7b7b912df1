"""What went wrong with a model call: the FailoverReason of an exception, a rate limit's
retry-after and kind. Pure functions over exceptions from any SDK (OpenAI, Anthropic,
Google, httpx, aiohttp, litellm, or your own), judged by status code, class name and message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from modelrouter.schemas import FailoverReason, LimitKind

__all__ = ["classify_failure", "limit_kind_of", "parse_duration_s", "retry_after_seconds", "status_code_of"]

# Class-name fragments (lower case, underscores removed), checked over the whole MRO.
_NAME_HINTS: tuple[tuple[FailoverReason, tuple[str, ...]], ...] = (
    (FailoverReason.CONTEXT_LENGTH, ("contextwindow", "contextlength", "prompttoolong")),
    (FailoverReason.CONTENT_POLICY, ("contentpolicy", "contentfilter", "safetyerror", "moderation")),
    (
        FailoverReason.RATE_LIMITED,
        ("ratelimit", "toomanyrequests", "resourceexhausted", "throttl", "quotaexceeded"),
    ),
    (FailoverReason.TIMEOUT, ("timeout", "deadlineexceeded")),
    (FailoverReason.UNAVAILABLE, ("serviceunavailable", "overloaded", "unavailable", "connectionerror")),
)
# Machine-readable error codes some SDKs carry (`exc.code`, `exc.body["error"]["code"]`).
_CODE_HINTS: dict[str, FailoverReason] = {
    "context_length_exceeded": FailoverReason.CONTEXT_LENGTH,
    "string_above_max_length": FailoverReason.CONTEXT_LENGTH,
    "content_filter": FailoverReason.CONTENT_POLICY,
    "content_policy_violation": FailoverReason.CONTENT_POLICY,
    "rate_limit_exceeded": FailoverReason.RATE_LIMITED,
    "rate_limit_error": FailoverReason.RATE_LIMITED,
    "insufficient_quota": FailoverReason.RATE_LIMITED,
    "overloaded_error": FailoverReason.UNAVAILABLE,
    "resource_exhausted": FailoverReason.RATE_LIMITED,
}
_TEXT_HINTS: tuple[tuple[FailoverReason, re.Pattern[str]], ...] = (
    (
        FailoverReason.CONTEXT_LENGTH,
        re.compile(
            r"context[ _-]?(length|window)|maximum context|prompt is too long|input is too long"
            r"|too many (input )?tokens|exceeds the (model'?s )?(maximum|context)"
        ),
    ),
    (
        FailoverReason.CONTENT_POLICY,
        re.compile(r"content[ _-]?(policy|filter|management)|safety (system|filter)|flagged|moderation"),
    ),
    (
        FailoverReason.RATE_LIMITED,
        re.compile(r"rate[ _-]?limit|too many requests|\b429\b|quota|resource[ _-]exhausted|throttl"),
    ),
    (FailoverReason.TIMEOUT, re.compile(r"timed? ?out|timeout|deadline exceeded")),
    (
        FailoverReason.UNAVAILABLE,
        re.compile(r"overloaded|unavailable|\b50[34]\b|\b529\b|connection (refused|reset)"),
    ),
)


def _mro_names(exc: BaseException) -> list[str]:
    return [cls.__name__.lower().replace("_", "") for cls in type(exc).__mro__]


def status_code_of(exc: BaseException) -> int | None:
    """The HTTP status an SDK exception carries (`status_code`, `status`, `response.status_code`)."""
    for obj in (exc, getattr(exc, "response", None)):
        if obj is None:
            continue
        for attr in ("status_code", "status", "http_status"):
            value = getattr(obj, attr, None)
            if isinstance(value, int) and not isinstance(value, bool) and 100 <= value < 600:
                return value
    code = getattr(exc, "code", None)
    if isinstance(code, int) and not isinstance(code, bool) and 100 <= code < 600:
        return code
    return None


def _error_codes(exc: BaseException) -> Iterable[str]:
    for value in (getattr(exc, "code", None), getattr(exc, "type", None)):
        if isinstance(value, str):
            yield value.lower()
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            for key in ("code", "type", "status"):
                value = inner.get(key)
                if isinstance(value, str):
                    yield value.lower()


def classify_failure(exc: BaseException) -> FailoverReason:
    """Why a model call failed, as a FailoverReason.

    Strong signals first (error codes, class names, status codes: 429 rate limited, 408/504
    timeout, 413 context length, 503/529 unavailable), then the message; any other failure,
    a 5xx included, is ERROR.
    """
    for code in _error_codes(exc):
        if code in _CODE_HINTS:
            return _CODE_HINTS[code]
    names = _mro_names(exc)
    for reason, hints in _NAME_HINTS:
        if any(hint in name for name in names for hint in hints):
            return reason
    if isinstance(exc, TimeoutError):
        return FailoverReason.TIMEOUT
    status = status_code_of(exc)
    if status == 429:
        return FailoverReason.RATE_LIMITED
    if status in (408, 504):
        return FailoverReason.TIMEOUT
    if status == 413:
        return FailoverReason.CONTEXT_LENGTH
    if status in (503, 529):
        return FailoverReason.UNAVAILABLE
    text = str(exc).lower()
    for reason, pattern in _TEXT_HINTS:
        if pattern.search(text):
            return reason
    if isinstance(exc, ConnectionError):
        return FailoverReason.UNAVAILABLE
    return FailoverReason.ERROR


# --- retry-after ---------------------------------------------------------------------

_UNIT_S = {
    "ms": 0.001,
    "millisecond": 0.001,
    "milliseconds": 0.001,
    "h": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
}
_UNIT_S |= dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60.0)
_UNIT_S |= dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1.0)
_PART = re.compile(
    r"(\d+(?:\.\d+)?)\s*(milliseconds?|ms|minutes?|mins?|m|hours?|h|seconds?|secs?|s)?(?![a-z])"
)
_DURATION = re.compile(r"\s*:?\s*((?:\d+(?:\.\d+)?\s*(?:[a-z]+)?\s*)+)")
_TRIGGER = re.compile(r"retry[-_ ]after|try again in|retry in|wait(?: for)?")


def parse_duration_s(text: str) -> float | None:
    """Seconds in "20", "1.5s", "500ms", "6m0s", "2 minutes", "1h2m3s"; None if none."""
    parts = _PART.findall(text.strip().lower())
    if not parts:
        return None
    return sum(float(number) * _UNIT_S[unit or "s"] for number, unit in parts)


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    try:
        items = headers.items()
    except AttributeError:
        try:
            items = list(headers)
        except TypeError:
            return None
    for key, value in items:
        if isinstance(key, bytes):
            key = key.decode("latin-1")
        if isinstance(key, str) and key.lower() == name:
            return value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return None


def _seconds(value: object, now: datetime) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return max(0.0, float(value))
    if hasattr(value, "total_seconds"):  # a timedelta
        return max(0.0, float(value.total_seconds()))
    if isinstance(value, str):
        text = value.strip()
        try:
            return max(0.0, float(text))
        except ValueError:
            pass
        try:  # Retry-After may be an HTTP date
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return parse_duration_s(text)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - now).total_seconds())
    return None


def retry_after_seconds(exc: BaseException, *, now: datetime | None = None) -> float | None:
    """How long the provider asked to wait, in seconds, from (in order) the exception's
    `retry_after` attribute, its (or its response's) `retry-after-ms` / `retry-after` /
    `x-ratelimit-reset-*` headers, or its message ("retry after 20s", "try again in 6m0s")."""
    now = now if now is not None else datetime.now(UTC)
    for attr in ("retry_after", "retry_after_s", "retry_after_seconds"):
        found = _seconds(getattr(exc, attr, None), now)
        if found is not None:
            return found
    for obj in (exc, getattr(exc, "response", None)):
        headers = getattr(obj, "headers", None) if obj is not None else None
        ms = _header(headers, "retry-after-ms")
        if ms is not None:
            try:
                return max(0.0, float(ms) / 1000.0)
            except ValueError:
                pass
        for name in ("retry-after", "x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"):
            found = _seconds(_header(headers, name), now)
            if found is not None:
                return found
    text = str(exc).lower()
    for trigger in _TRIGGER.finditer(text):
        duration = _DURATION.match(text, trigger.end())
        if duration is not None:
            found = parse_duration_s(duration.group(1))
            if found is not None:
                return found
    return None


_TOKENS = re.compile(r"tokens? per min|\btpm\b|token rate|input[_ ]tokens|output[_ ]tokens|tokens")
_REQUESTS = re.compile(r"requests? per min|\brpm\b|request rate|requests")


def limit_kind_of(exc: BaseException) -> LimitKind:
    """Which limit a rate-limit error hit: tokens, requests, or unknown."""
    given = getattr(exc, "limit_kind", None)
    if isinstance(given, str) and given in {k.value for k in LimitKind}:
        return LimitKind(given)
    text = str(exc).lower()
    if _TOKENS.search(text):
        return LimitKind.TOKENS
    if _REQUESTS.search(text):
        return LimitKind.REQUESTS
    return LimitKind.UNKNOWN
