"""`modelrouter summary`: the guide's get_performance_summary, answered by a worker, as a table."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table

from modelrouter.agents import BudgetBook
from modelrouter.schemas import Settings, SummaryReply, SummaryRequest

from .budget import budget_table, with_spend
from .connection import CONNECT_TIMEOUT_S, selection_client
from .failures import EXIT_OK
from .options import add_command, settings_from
from .output import DASH, console, json_line, ms, number, percent, usd

__all__ = ["register", "summary_view"]


def summary_view(reply: SummaryReply, agent_type: str | None, window_hours: float) -> RenderableType:
    who = f"agent type {agent_type}" if agent_type is not None else "all agents"
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column(justify="right")
    head.add_row("requests", f"{reply.total_requests:,}")
    head.add_row("cost", usd(reply.total_cost))
    head.add_row("success rate", percent(reply.average_success_rate))
    if reply.provisional_requests or reply.provisional_cost:
        head.add_row(
            "provisional",
            f"{reply.provisional_requests:,} requests, {usd(reply.provisional_cost)} in buckets still open",
        )
    head.add_row("newest data", _age(reply))
    table = Table(title=f"per model, {who}, last {number(window_hours)} h", title_justify="left")
    for name in ("model", "requests", "open", "ok", "success", "cost", "p50 ms", "p95 ms", "quality"):
        table.add_column(name, justify="left" if name == "model" else "right")
    for name in ("rate-limited", "failovers out", "failovers in"):
        table.add_column(name, justify="right")
    for row in reply.models:
        table.add_row(
            row.model_id,
            f"{row.requests:,}",
            f"{row.provisional_requests:,}",
            f"{row.successes:,}",
            percent(row.success_rate),
            usd(row.cost_total),
            ms(row.latency_p50_ms),
            ms(row.latency_p95_ms),
            number(row.quality_mean, 3),
            str(row.rate_limited),
            str(row.failovers_out),
            str(row.failovers_in),
        )
    if not reply.models:
        return Group(head, f"no requests from {who} in the last {number(window_hours)} h")
    return Group(head, table)


def _age(reply: SummaryReply) -> str:
    if reply.data_through is None or reply.data_age_s is None:
        return DASH
    return f"{reply.data_through:%Y-%m-%d %H:%M:%S} UTC ({reply.data_age_s:,.0f} s old)"


async def ask(settings: Settings, args: argparse.Namespace) -> SummaryReply:
    async with selection_client(settings) as client:
        return await client.summary(args.agent_type, args.window_hours, deadline_ms=args.deadline_ms)


async def budgets_view(settings: Settings, agent_type: str | None, deadline_ms: int) -> RenderableType | None:
    """Spend against limit of each agent type with a budget (of `agent_type` only, when given)."""
    budgets = await BudgetBook(settings).read(timeout_s=CONNECT_TIMEOUT_S)
    if agent_type is not None:
        budgets = {a: b for a, b in budgets.items() if a == agent_type}
    if not budgets:
        return None
    spend, why = await with_spend(settings, budgets, deadline_ms)
    table = budget_table(budgets, spend, "budgets: spend against limit (open buckets included)")
    return Group(table, why) if why else table


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    # Bad flags fail before any connection (the same checks the request gets on the wire).
    SummaryRequest(request_id="-", reply_to="-", agent_type=args.agent_type, window_hours=args.window_hours)
    reply = asyncio.run(ask(settings, args))
    if args.json:
        json_line(reply)
        return EXIT_OK
    console().print(summary_view(reply, args.agent_type, args.window_hours))
    budgets = asyncio.run(budgets_view(settings, args.agent_type, args.deadline_ms))
    if budgets is not None:
        console().print(budgets)
    return EXIT_OK


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "summary",
        summary="Show requests, cost and success rate per model over the last hours (a worker answers).",
        details="The integration guide's get_performance_summary. Totals count closed buckets and the "
        "latest state of open ones, shown as provisional (the 'open' column), with how old the newest "
        "data is; latency percentiles and quality appear for all agents over "
        "a window of 5 min, 1 h or 24 h.",
        examples=[
            "modelrouter summary",
            "modelrouter summary --agent-type SA --window-hours 1",
            "modelrouter summary --json | jq .total_cost",
        ],
        handler=run,
    )
    parser.add_argument("--agent-type", help="one agent type (default: all agents)")
    parser.add_argument(
        "--window-hours", type=float, default=24.0, metavar="H", help="how far back (default 24)"
    )
    parser.add_argument(
        "--deadline-ms",
        type=int,
        default=5000,
        metavar="N",
        help="how long to wait for the reply (default 5000)",
    )
    parser.add_argument("--json", action="store_true", help="print the SummaryReply as one JSON line")
