"""The one codec: every wire record is UTF-8 JSON, written and read here only."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, TypeVar, cast

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError

from .errors import InvalidEventError
from .events import Event
from .selection import Reply, Request

__all__ = [
    "decode",
    "decode_event",
    "decode_reply",
    "decode_request",
    "decoder",
    "dumps",
    "encode",
    "encode_data",
    "encode_key",
    "loads",
]

M = TypeVar("M")

EVENT = TypeAdapter[Event](Event)
REQUEST = TypeAdapter[Request](Request)
REPLY = TypeAdapter[Reply](Reply)


def encode(record: BaseModel) -> bytes:
    """A record as compact UTF-8 JSON (None fields kept: the contract names them)."""
    return record.__pydantic_serializer__.to_json(record)


def _nested(value: Any) -> orjson.Fragment:
    if isinstance(value, BaseModel):
        return orjson.Fragment(encode(value))
    raise TypeError(f"{type(value).__name__} is not JSON-able")


def encode_data(record: Mapping[str, Any]) -> bytes:
    """A wire record given as plain data (dicts, lists, str, numbers, aware datetimes, nested
    records), written as `encode` would write the validated record, without validating it.

    For records built by our own code in bulk (a DecisionRecord per selection), where
    validation cost more than the rest of the record: the producer's tests check that what it
    builds decodes to the record it means. Non-finite floats would be written as null (orjson):
    the producer must not give any.
    """
    return orjson.dumps(record, default=_nested, option=orjson.OPT_UTC_Z)


def encode_key(key: str) -> bytes:
    return key.encode("utf-8")


def dumps(value: Any) -> bytes:
    """Plain JSON-able data (not a wire record) as bytes."""
    return orjson.dumps(value)


def loads(raw: bytes | str) -> Any:
    return orjson.loads(raw)


def _validate(adapter: TypeAdapter[M], raw: bytes | str, what: str) -> M:
    try:
        return adapter.validate_json(raw)
    except ValidationError as exc:
        raise InvalidEventError(what, exc.errors(include_url=False)) from None


def decode_event(raw: bytes | str) -> Event:
    """Any of the three events, chosen by its `type`; InvalidEventError names the bad fields."""
    return _validate(EVENT, raw, "event")


def decode_request(raw: bytes | str) -> Request:
    return _validate(REQUEST, raw, "request")


def decode_reply(raw: bytes | str) -> Reply:
    return _validate(REPLY, raw, "reply")


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def decode(model: type[M], raw: bytes | str) -> M:
    """One record of a known model (ModelSpec, WindowSummary, Scorecard, DeadLetter, ...)."""
    adapter = _ADAPTERS.get(model)
    if adapter is None:
        adapter = _ADAPTERS[model] = TypeAdapter(model)
    return cast(M, _validate(adapter, raw, model.__name__))


def decoder(model: type[M]) -> Callable[[bytes | str], M]:
    """decode() for one model, as a one-argument function (for topic views and table readers)."""
    return partial(decode, model)
