"""`modelrouter select`: one selection request; shows the choice, why, the alternatives, the rejected."""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table

from modelrouter.agents.selection_client import fallback_reply
from modelrouter.schemas import BaseAssignment, Constraints, SelectionReply, Settings, TaskInfo

from .connection import selection_client
from .failures import EXIT_OK, CommandError
from .options import add_command, settings_from
from .output import DASH, console, json_line, ms, number

__all__ = ["register", "reply_view"]

# A one-shot command pays for its connection and the worker's first send to a new reply
# topic; an agent holding one client uses the 250 ms default (MODELROUTER_SELECTION_DEADLINE_MS).
CLI_DEADLINE_MS = 5000


def build_request_parts(
    args: argparse.Namespace,
) -> tuple[TaskInfo, BaseAssignment | None, Constraints | None]:
    """The request's task, base assignment and constraints from the flags (ValidationError: exit 2)."""
    task = TaskInfo(
        task_id=args.task_id or f"cli-{uuid.uuid4().hex[:12]}",
        task_type=args.task_type,
        estimated_input_tokens=args.input_tokens,
        estimated_output_tokens=args.output_tokens,
    )
    base = None
    if args.primary is not None or args.fallback is not None:
        if args.primary is None or args.fallback is None:
            args.parser.error("--primary and --fallback go together (the base assignment names both)")
        base = BaseAssignment(
            role_type=args.role,
            model_tier=args.tier,
            primary_model=args.primary,
            fallback_model=args.fallback,
        )
    constraints = Constraints(
        required_capabilities=tuple(args.require),
        max_cost_per_request=args.max_cost,
        excluded_providers=tuple(args.exclude_provider),
        excluded_models=tuple(args.exclude_model),
        max_latency_ms=args.max_latency_ms,
        min_success_rate=args.min_success_rate,
    )
    return task, base, None if constraints == Constraints() else constraints


def reply_view(reply: SelectionReply) -> RenderableType:
    """The reply for people: the choice and its reasons, then the ranking and the rejections."""
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("selected", f"[bold]{reply.selected_model_id}[/bold] ({reply.provider})")
    head.add_row("score", f"{reply.score:.3f}")
    head.add_row("reasoning", reply.reasoning)
    head.add_row("fallback used", "yes" if reply.fallback_used else "no")
    head.add_row("stats age", f"{ms(reply.stats_age_ms)} ms" if reply.stats_age_ms is not None else DASH)
    head.add_row("endpoint", reply.endpoint or DASH)
    parts: list[RenderableType] = [head]
    if reply.factors:
        factors = Table(title="factors", title_justify="left")
        factors.add_column("factor")
        factors.add_column("value", justify="right")
        for name, value in reply.factors.items():
            factors.add_row(name, number(value))
        parts.append(factors)
    if reply.alternatives:
        ranked = Table(title="alternatives (ranked)", title_justify="left")
        ranked.add_column("#", justify="right")
        ranked.add_column("model")
        ranked.add_column("score", justify="right")
        for rank, alt in enumerate(reply.alternatives, 2):
            ranked.add_row(str(rank), alt.model_id, f"{alt.score:.3f}")
        parts.append(ranked)
    if reply.rejected:
        rejected = Table(title="rejected", title_justify="left")
        rejected.add_column("model")
        rejected.add_column("reason")
        for r in reply.rejected:
            rejected.add_row(r.model_id, r.reason)
        parts.append(rejected)
    return Group(*parts)


async def ask(settings: Settings, args: argparse.Namespace) -> SelectionReply:
    task, base, constraints = build_request_parts(args)
    try:
        return await _ask_service(settings, args, task, base, constraints)
    except CommandError as exc:  # no broker answered the connection
        if base is None:
            raise
        # As agents do (and --help says): the base assignment's fallback, saying why.
        print(f"modelrouter select: {exc}; answering with the fallback model", file=sys.stderr)
        return fallback_reply(uuid.uuid4().hex, base, f"broker unreachable: {exc}")


async def _ask_service(
    settings: Settings,
    args: argparse.Namespace,
    task: TaskInfo,
    base: BaseAssignment | None,
    constraints: Constraints | None,
) -> SelectionReply:
    async with selection_client(settings) as client:
        request = client.request(
            args.agent_type,
            task,
            base_assignment=base,
            constraints=constraints,
            strategy=args.strategy,
            explore=args.explore,
            deadline_ms=args.deadline_ms,
        )
        # No base assignment: a missed deadline raises SelectionTimeout (exit 1, "is a worker running?").
        return await client.select(request, deadline_ms=args.deadline_ms)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    build_request_parts(args)  # bad flags fail before any connection
    reply = asyncio.run(ask(settings, args))
    if args.json:
        json_line(reply)
    else:
        console().print(reply_view(reply))
    return EXIT_OK


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "select",
        summary="Ask the selection service (a running worker) which model one task should use.",
        details="Prints the chosen model, its score and reasoning, the factors, the ranked alternatives "
        "and every rejected model with its reason. With --primary/--fallback, a missed deadline "
        "or no broker answers with the fallback model and says why (as agents do); without, it "
        "exits 1 naming the part that failed (the broker, or no worker answering).",
        examples=[
            "modelrouter select --agent-type SA",
            "modelrouter select --agent-type SA --strategy cost --require vision --max-cost 0.01",
            "modelrouter select --agent-type PM --exclude-provider openai --json | jq .selected_model_id",
            "modelrouter select --agent-type SA --primary gpt-4o --fallback claude-3-5-sonnet "
            "--role architect --tier premium",
        ],
        handler=run,
    )
    task = parser.add_argument_group("task")
    task.add_argument("--agent-type", required=True, help="the asking agent's type, e.g. SA, PM, BA")
    task.add_argument("--task-id", help="the task (default: a fresh cli-... id)")
    task.add_argument("--task-type", help="kind of task, e.g. design, review")
    task.add_argument("--input-tokens", type=int, metavar="N", help="expected prompt tokens")
    task.add_argument("--output-tokens", type=int, metavar="N", help="expected completion tokens")
    how = parser.add_argument_group("ranking and constraints")
    how.add_argument(
        "--strategy",
        choices=["balanced", "cost", "latency", "quality"],
        default="balanced",
        help="how to rank",
    )
    how.add_argument("--explore", action="store_true", help="sample success rates (Thompson sampling)")
    how.add_argument(
        "--require", action="append", default=[], metavar="CAP", help="needed capability (repeat)"
    )
    how.add_argument("--exclude-provider", action="append", default=[], metavar="P", help="repeatable")
    how.add_argument("--exclude-model", action="append", default=[], metavar="M", help="repeatable")
    how.add_argument("--max-cost", type=float, metavar="USD", help="max expected cost of the request")
    how.add_argument("--max-latency-ms", type=float, metavar="N", help="max p95 latency, where known")
    how.add_argument("--min-success-rate", type=float, metavar="R", help="min success rate 0..1, where known")
    base = parser.add_argument_group("base assignment (what the ModelOptimizer would pick)")
    base.add_argument("--primary", metavar="M", help="primary model")
    base.add_argument("--fallback", metavar="M", help="fallback model (used when nothing else passes)")
    base.add_argument("--role", default="default", help="role type (default: default)")
    base.add_argument("--tier", default="standard", help="model tier (default: standard)")
    out = parser.add_argument_group("reply")
    out.add_argument(
        "--deadline-ms",
        type=int,
        default=CLI_DEADLINE_MS,
        metavar="N",
        help=f"how long to wait for the reply (default {CLI_DEADLINE_MS})",
    )
    out.add_argument("--json", action="store_true", help="print the SelectionReply as one JSON line")
