"""Classifying a failed model call: FailoverReason, retry-after and limit kind, from any SDK's exception."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from modelrouter.agents.failures import (
    classify_failure,
    limit_kind_of,
    parse_duration_s,
    retry_after_seconds,
    status_code_of,
)
from modelrouter.schemas import FailoverReason, LimitKind

R = FailoverReason


class _Response:
    def __init__(self, status_code: int, headers: Any = None) -> None:
        self.status_code = status_code
        self.headers = headers or {}


class APIStatusError(Exception):
    """Shaped like openai/anthropic SDK errors: status_code, response, body."""

    def __init__(self, message: str, status_code: int, headers: Any = None, body: Any = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.response = _Response(status_code, headers)
        self.body = body


class RateLimitError(APIStatusError):
    pass


class BadRequestError(APIStatusError):
    pass


class ContextWindowExceededError(Exception):  # litellm
    pass


class ContentPolicyViolationError(Exception):  # litellm
    pass


class ServiceUnavailableError(Exception):
    pass


class APIConnectionError(Exception):
    pass


class APITimeoutError(APIConnectionError):  # openai: a timeout is a connection error there
    pass


class ResourceExhausted(Exception):  # google.api_core
    pass


class ClientResponseError(Exception):  # aiohttp: `status` and `headers`
    def __init__(self, status: int, headers: dict[str, str]) -> None:
        super().__init__(f"{status}, message='Too Many Requests'")
        self.status = status
        self.headers = headers


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (RateLimitError("Rate limit reached", 429), R.RATE_LIMITED),
        (ResourceExhausted("429 quota"), R.RATE_LIMITED),
        (ClientResponseError(429, {}), R.RATE_LIMITED),
        (APIStatusError("slow down", 429), R.RATE_LIMITED),
        (TimeoutError(), R.TIMEOUT),
        (TimeoutError("read"), R.TIMEOUT),
        (APITimeoutError("Request timed out."), R.TIMEOUT),
        (APIStatusError("gateway", 504), R.TIMEOUT),
        (
            BadRequestError(
                "This model's maximum context length is 8192 tokens",
                400,
                body={"code": "context_length_exceeded"},
            ),
            R.CONTEXT_LENGTH,
        ),
        (BadRequestError("prompt is too long: 250000 tokens > 200000 maximum", 400), R.CONTEXT_LENGTH),
        (ContextWindowExceededError("too big"), R.CONTEXT_LENGTH),
        (APIStatusError("payload", 413), R.CONTEXT_LENGTH),
        (
            BadRequestError("flagged", 400, body={"error": {"code": "content_policy_violation"}}),
            R.CONTENT_POLICY,
        ),
        (ContentPolicyViolationError("no"), R.CONTENT_POLICY),
        (
            BadRequestError(
                "The response was filtered due to the prompt triggering content management policy", 400
            ),
            R.CONTENT_POLICY,
        ),
        (ServiceUnavailableError("down"), R.UNAVAILABLE),
        (APIStatusError("Overloaded", 529), R.UNAVAILABLE),
        (APIStatusError("upstream", 503), R.UNAVAILABLE),
        (APIConnectionError("Connection error."), R.UNAVAILABLE),
        (ConnectionRefusedError(111, "refused"), R.UNAVAILABLE),
        (APIStatusError("Internal server error", 500), R.ERROR),
        (APIStatusError("bad gateway", 502), R.ERROR),
        (ValueError("something else"), R.ERROR),
    ],
)
def test_classify_failure(exc: Exception, reason: FailoverReason) -> None:
    assert classify_failure(exc) is reason


def test_an_error_code_beats_the_class_name() -> None:
    # openai raises BadRequestError (400) for a context overflow; its code says which.
    exc = BadRequestError("Invalid request", 400, body={"error": {"code": "context_length_exceeded"}})
    assert classify_failure(exc) is R.CONTEXT_LENGTH


def test_status_code_of_reads_attributes_and_response() -> None:
    assert status_code_of(APIStatusError("x", 503)) == 503
    assert status_code_of(ClientResponseError(429, {})) == 429
    assert status_code_of(ValueError("x")) is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("20", 20.0),
        ("1.5s", 1.5),
        ("500ms", 0.5),
        ("6m0s", 360.0),
        ("2 minutes", 120.0),
        ("1h2m3s", 3723.0),
        ("12 seconds", 12.0),
        ("nothing", None),
    ],
)
def test_parse_duration(text: str, seconds: float | None) -> None:
    assert parse_duration_s(text) == seconds


class _WithRetryAfter(Exception):
    def __init__(self, value: object) -> None:
        super().__init__("rate limited")
        self.retry_after = value


def test_retry_after_from_an_attribute() -> None:
    assert retry_after_seconds(_WithRetryAfter(17)) == 17.0
    assert retry_after_seconds(_WithRetryAfter("2.5")) == 2.5
    assert retry_after_seconds(_WithRetryAfter(timedelta(seconds=30))) == 30.0


def test_retry_after_from_headers_case_insensitive() -> None:
    assert retry_after_seconds(RateLimitError("x", 429, headers={"Retry-After": "12"})) == 12.0
    assert retry_after_seconds(RateLimitError("x", 429, headers={"retry-after-ms": "1500"})) == 1.5
    assert (
        retry_after_seconds(RateLimitError("x", 429, headers={"x-ratelimit-reset-requests": "6m0s"})) == 360.0
    )
    # aiohttp puts headers on the exception itself
    assert retry_after_seconds(ClientResponseError(429, {"Retry-After": "4"})) == 4.0
    # a list of (bytes, bytes) pairs, as raw ASGI/h11 headers come
    assert retry_after_seconds(RateLimitError("x", 429, headers=[(b"retry-after", b"9")])) == 9.0


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    date = format_datetime(now + timedelta(seconds=90), usegmt=True)
    exc = RateLimitError("x", 429, headers={"retry-after": date})
    assert retry_after_seconds(exc, now=now) == 90.0
    assert retry_after_seconds(exc, now=now + timedelta(seconds=200)) == 0.0  # in the past: now


@pytest.mark.parametrize(
    ("message", "seconds"),
    [
        (
            "Rate limit reached for gpt-4 on tokens per min (TPM): Limit 10000. Please try again in 6m0s.",
            360.0,
        ),
        ("Please try again in 1.5s. Visit https://platform.openai.com/account/rate-limits", 1.5),
        ("429 Too Many Requests; Retry-After: 12", 12.0),
        ("rate limited, retry after 500ms", 0.5),
        ("quota exceeded, retry in 30 seconds", 30.0),
        ("Too Many Requests", None),
    ],
)
def test_retry_after_from_the_message(message: str, seconds: float | None) -> None:
    assert retry_after_seconds(RateLimitError(message, 429)) == seconds


def test_attribute_beats_header_beats_message() -> None:
    exc = RateLimitError("try again in 99s", 429, headers={"retry-after": "5"})
    assert retry_after_seconds(exc) == 5.0
    exc.retry_after = 1  # type: ignore[attr-defined]
    assert retry_after_seconds(exc) == 1.0


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("Rate limit reached on tokens per min (TPM)", LimitKind.TOKENS),
        ("Rate limit reached on requests per min (RPM)", LimitKind.REQUESTS),
        ("Too Many Requests", LimitKind.REQUESTS),
        ("slow down", LimitKind.UNKNOWN),
    ],
)
def test_limit_kind(message: str, kind: LimitKind) -> None:
    assert limit_kind_of(RateLimitError(message, 429)) is kind
