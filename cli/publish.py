"""`modelrouter publish`: one event from flags or from JSON on stdin, validated before it is sent."""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from typing import Any

from modelrouter.agents import EventPublisher
from modelrouter.schemas import (
    Event,
    FailoverReason,
    InvalidEventError,
    LimitKind,
    Settings,
    TopicName,
    decode_event,
    dumps,
)
from modelrouter.schemas.errors import describe_errors

from .connection import connect
from .failures import EXIT_OK, EXIT_USAGE, CommandError
from .options import add_command, settings_from

__all__ = ["event_from_flags", "event_from_json", "register"]


@dataclass(frozen=True)
class EventFlag:
    """One contract field as a flag: `--latency-ms` sets `latency_ms`."""

    name: str
    help: str
    type: Any = str
    required: bool = False
    choices: tuple[str, ...] | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


EXAMPLES = {
    "task-completed": "modelrouter publish task-completed --agent-type SA --task-id t1 --model-id gpt-4o "
    "--provider openai --latency-ms 840 --cost 0.0041 --input-tokens 1200 --output-tokens 350",
    "rate-limited": "modelrouter publish rate-limited --agent-type SA --model-id gpt-4o --provider openai "
    "--retry-after-s 20 --limit-kind requests",
    "failover": "modelrouter publish failover --agent-type SA --task-id t1 --original-model gpt-4o "
    "--alternative-model claude-3-5-sonnet --reason rate_limited",
}

_COMMON = (
    EventFlag("agent_type", "agent type, e.g. SA, PM, BA", required=True),
    EventFlag("event_id", "unique event id (default: a fresh one)"),
    EventFlag("occurred_at", "event time, RFC 3339 with offset (default: now)"),
)
# Per event kind (the CLI's name, the contract's `type`), its own fields in contract order.
EVENTS: dict[str, tuple[str, str, tuple[EventFlag, ...]]] = {
    "task-completed": (
        "task_completed",
        "an agent finished (or failed) one call to a model",
        (
            EventFlag("task_id", "the agent's task", required=True),
            EventFlag("model_id", "the model called", required=True),
            EventFlag("provider", "the model's provider", required=True),
            EventFlag("latency_ms", "call latency in ms", float, required=True),
            EventFlag("cost", "cost of the call in USD", float, required=True),
            EventFlag("input_tokens", "prompt tokens", int, required=True),
            EventFlag("output_tokens", "completion tokens", int, required=True),
            EventFlag("quality_score", "quality 0..1, if judged", float),
            EventFlag("error_type", "what went wrong, for a failed call"),
        ),
    ),
    "rate-limited": (
        "rate_limited",
        "a provider refused a call for a rate limit",
        (
            EventFlag("model_id", "the model that refused", required=True),
            EventFlag("provider", "the model's provider", required=True),
            EventFlag("task_id", "the agent's task, if any"),
            EventFlag("retry_after_s", "the provider's retry-after, in seconds", float),
            EventFlag("limit_kind", "which limit", choices=tuple(k.value for k in LimitKind)),
        ),
    ),
    "failover": (
        "failover",
        "an agent moved a task from one model to another",
        (
            EventFlag("task_id", "the agent's task", required=True),
            EventFlag("original_model", "the model given up on", required=True),
            EventFlag("alternative_model", "the model used instead", required=True),
            EventFlag("reason", "why", required=True, choices=tuple(r.value for r in FailoverReason)),
        ),
    ),
}


def _fields(kind: str) -> tuple[EventFlag, ...]:
    return _COMMON + EVENTS[kind][2]


def event_from_flags(kind: str, args: argparse.Namespace) -> Event:
    """Validate the flags as the wire would (JSON, strict); an error names the flag."""
    values: dict[str, Any] = {"type": EVENTS[kind][0]}
    for field in _fields(kind):
        value = getattr(args, field.name, None)
        if value is not None:
            values[field.name] = value
    if kind == "task-completed":
        values["success"] = not args.failed
    try:
        return decode_event(dumps(values))
    except InvalidEventError as exc:
        flags = [
            {**err, "loc": ("--" + str(err["loc"][-1]).replace("_", "-"),)} if err.get("loc") else err
            for err in exc.errors
        ]
        raise CommandError(f"invalid {kind} event: {describe_errors(flags)}", EXIT_USAGE) from None


def event_from_json(raw: bytes) -> Event:
    if not raw.strip():
        raise CommandError(
            "publish --json reads one event as JSON from stdin, and stdin was empty", EXIT_USAGE
        )
    return decode_event(raw)  # InvalidEventError: a usage error naming the field


async def send(settings: Settings, event: Event) -> str:
    """Publish and wait for the broker's acknowledgement; where the record landed."""
    async with EventPublisher(settings, client_id="modelrouter-cli") as publisher:
        delivery = await publisher.publish(event, wait=False)
        assert delivery is not None  # wait=False returns the delivery future
        meta = await delivery
    return f"partition {meta.partition}, offset {meta.offset}"


def run(args: argparse.Namespace) -> int:
    if args.json == (args.kind is not None):
        args.parser.error("give an event kind with its flags, or --json with the event on stdin (not both)")
    if args.json:
        if sys.stdin.isatty():
            print("reading one event as JSON from stdin (end with Ctrl-D) ...", file=sys.stderr)
        event = event_from_json(sys.stdin.buffer.read())
    else:
        event = event_from_flags(args.kind, args)
    settings = settings_from(args)  # validated before any connection: nothing is sent on bad input
    where = asyncio.run(connect(settings, send(settings, event)))
    topic = settings.topic(TopicName(event.type.replace("_", "-")))
    print(f"published {event.type} {event.event_id} to {topic} ({where})")
    return EXIT_OK


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "publish",
        summary="Publish one event (task-completed, rate-limited or failover); invalid input sends nothing.",
        details="Give the event kind and its fields as flags, or --json with one event object on "
        "stdin (its `type` says which). An invalid field exits 2 naming it.",
        examples=[
            *EXAMPLES.values(),
            'echo \'{"type": "rate_limited", "agent_type": "PM", "model_id": "gpt-4o", '
            '"provider": "openai"}\' | modelrouter publish --json',
        ],
        handler=run,
    )
    parser.add_argument("--json", action="store_true", help="read one event as JSON from stdin")
    kinds = parser.add_subparsers(dest="kind", metavar="KIND")
    for kind, (_, what, _own) in EVENTS.items():
        examples = [EXAMPLES[kind]]
        if kind == "task-completed":
            examples.append(f"{EXAMPLES[kind]} --failed --error-type timeout")
        sub = add_command(
            kinds, kind, summary=f"Publish a {kind} event: {what}.", examples=examples, handler=run
        )
        for field in _fields(kind):
            sub.add_argument(
                field.flag,
                dest=field.name,
                type=field.type,
                required=field.required,
                choices=field.choices,
                help=field.help,
            )
        if kind == "task-completed":
            sub.add_argument("--failed", action="store_true", help="the call failed (default: it succeeded)")
