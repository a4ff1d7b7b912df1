"""`modelrouter budget set|show|clear`: spend limits per agent type on the compacted `budgets`
topic, and the spend against them (a worker answers the spend; docs/operations.md, Budgets)."""

from __future__ import annotations

import argparse
import asyncio
import math
from typing import Any

from rich.table import Table

from modelrouter.agents import BudgetBook
from modelrouter.schemas import (
    BUDGET_WINDOWS,
    NAME_MAX,
    Budget,
    ModelRouterError,
    Settings,
    SummaryReply,
    dumps,
)

from .connection import CONNECT_TIMEOUT_S, connect, selection_client
from .failures import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, CommandError, brief
from .options import add_command, settings_from
from .output import DASH, console, usd

_HOURS = BUDGET_WINDOWS

__all__ = ["budget_table", "dollars", "register"]

# Spend per agent type and window, as a worker's summaries count it (open buckets included).
Spend = dict[tuple[str, float], float]


def dollars(text: str) -> float:
    """A limit in USD from the command line: a positive, finite number ("5", "5.00", "$5")."""
    try:
        value = float(text.strip().removeprefix("$"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of dollars: {text!r} (write e.g. 5.00)") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(
            f"a limit must be a positive number of dollars, got {text!r}; to remove limits use "
            "`modelrouter budget clear AGENT_TYPE`"
        )
    return value


def _agent_type(text: str) -> str:
    if not 1 <= len(text) <= NAME_MAX:
        raise argparse.ArgumentTypeError(f"an agent type is 1 to {NAME_MAX} characters, got {len(text)}")
    return text


def budget_table(budgets: dict[str, Budget], spend: Spend | None, title: str) -> Table:
    """One row per agent type and limited window: limit, spent, left (spend None: not known)."""
    table = Table(title=title, title_justify="left")
    for name, justify in (("agent type", "left"), ("window", "left"), ("limit", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for name in ("spent", "left", "used"):
        table.add_column(name, justify="right")
    for agent in sorted(budgets):
        for window, limit in budgets[agent].limits().items():
            spent = None if spend is None else spend.get((agent, _HOURS[window]))
            table.add_row(
                agent,
                window,
                usd(limit),
                usd(spent) if spent is not None else DASH,
                usd(max(0.0, limit - spent)) if spent is not None else DASH,
                f"{spent / limit:.0%}" if spent is not None else DASH,
            )
    return table


async def spend_of(settings: Settings, agents: list[str], deadline_ms: int) -> Spend:
    """The spend of each agent type over each budget window, from a worker's summaries."""
    out: Spend = {}
    async with selection_client(settings) as client:
        replies: list[SummaryReply] = await asyncio.gather(
            *(client.summary(a, h, deadline_ms=deadline_ms) for a in agents for h in _HOURS.values())
        )
    for (agent, hours), reply in zip(((a, h) for a in agents for h in _HOURS.values()), replies, strict=True):
        out[(agent, hours)] = reply.total_cost
    return out


async def with_spend(
    settings: Settings, budgets: dict[str, Budget], deadline_ms: int
) -> tuple[Spend | None, str]:
    """The spend against `budgets`, or None and why not (no worker answered): limits still show."""
    if not budgets:
        return {}, ""
    try:
        return await spend_of(settings, sorted(budgets), deadline_ms), ""
    except ModelRouterError as exc:
        return None, f"spend not shown: {brief(exc)}"


async def show(settings: Settings, agent_type: str | None, as_json: bool, deadline_ms: int) -> int:
    book = BudgetBook(settings)
    budgets = await connect(settings, book.read(timeout_s=CONNECT_TIMEOUT_S), CONNECT_TIMEOUT_S * 2)
    if agent_type is not None:
        budgets = {a: b for a, b in budgets.items() if a == agent_type}
    spend, why = await with_spend(settings, budgets, deadline_ms)
    if as_json:
        rows = []
        for agent in sorted(budgets):
            row: dict[str, Any] = budgets[agent].model_dump(mode="json")
            if spend is not None:
                row["spent_per_hour"] = spend.get((agent, 1.0))
                row["spent_per_day"] = spend.get((agent, 24.0))
            rows.append(row)
        print(dumps(rows).decode())
        return EXIT_OK if budgets or agent_type is None else EXIT_FAILURE
    if not budgets:
        who = f"agent type {agent_type} has" if agent_type is not None else "no agent type has"
        console(stderr=True).print(f"{book.topic}: {who} no budget (set one with `modelrouter budget set`)")
        return EXIT_FAILURE if agent_type is not None else EXIT_OK
    console().print(
        budget_table(budgets, spend, f"{book.topic}: spend against limits (open buckets included)")
    )
    if why:
        console(stderr=True).print(why)
    return EXIT_OK


async def set_budget(settings: Settings, args: argparse.Namespace) -> int:
    book = BudgetBook(settings)
    budget = await connect(
        settings,
        book.set(args.agent_type, per_hour=args.per_hour, per_day=args.per_day, timeout_s=CONNECT_TIMEOUT_S),
        CONNECT_TIMEOUT_S * 2,
    )
    limits = ", ".join(f"{w} {usd(v)}" for w, v in budget.limits().items())
    print(f"{book.topic}: {budget.agent_type} limited to {limits}")
    return EXIT_OK


async def clear(settings: Settings, agent_type: str) -> int:
    book = BudgetBook(settings)
    before = await connect(settings, book.read(timeout_s=CONNECT_TIMEOUT_S), CONNECT_TIMEOUT_S * 2)
    await connect(settings, book.clear(agent_type, timeout_s=CONNECT_TIMEOUT_S), CONNECT_TIMEOUT_S * 2)
    note = "" if agent_type in before else " (it had none)"
    print(f"{book.topic}: {agent_type}'s budget cleared{note}")
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.action == "set":
        if args.per_hour is None and args.per_day is None:
            raise CommandError(
                "budget set needs a limit: --per-hour USD and/or --per-day USD "
                f"(e.g. modelrouter budget set {args.agent_type} --per-hour 5.00)",
                EXIT_USAGE,
            )
        return asyncio.run(set_budget(settings, args))
    if args.action == "clear":
        return asyncio.run(clear(settings, args.agent_type))
    return asyncio.run(show(settings, args.agent_type, args.json, args.deadline_ms))


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "budget",
        summary="Set, show or clear spend limits per agent type (workers enforce them in selection).",
        examples=[
            "modelrouter budget set SA --per-hour 5.00",
            "modelrouter budget set SA --per-hour 5 --per-day 50",
            "modelrouter budget show",
            "modelrouter budget clear SA",
        ],
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    set_parser = add_command(
        actions,
        "set",
        summary="Limit an agent type's spend over the trailing hour and/or day (replaces its limits).",
        details="Selection then prefers cheaper models as the spend nears a limit, and rejects models "
        "whose expected cost does not fit what is left (docs/operations.md, Budgets).",
        examples=["modelrouter budget set SA --per-hour 5.00", "modelrouter budget set PM --per-day 50"],
        handler=run,
    )
    set_parser.add_argument("agent_type", type=_agent_type, metavar="AGENT_TYPE")
    set_parser.add_argument("--per-hour", type=dollars, metavar="USD", help="limit over the trailing hour")
    set_parser.add_argument("--per-day", type=dollars, metavar="USD", help="limit over the trailing 24 h")
    show_parser = add_command(
        actions,
        "show",
        summary="Print the budgets and the spend against them (exit 1 when AGENT_TYPE has none).",
        examples=["modelrouter budget show", "modelrouter budget show SA --json"],
        handler=run,
    )
    show_parser.add_argument("agent_type", nargs="?", type=_agent_type, metavar="AGENT_TYPE")
    show_parser.add_argument("--json", action="store_true", help="print the budgets as a JSON list")
    show_parser.add_argument(
        "--deadline-ms", type=int, default=5000, metavar="N", help="wait for a worker's spend (default 5000)"
    )
    clear_parser = add_command(
        actions,
        "clear",
        summary="Remove an agent type's budget (a tombstone on the budgets topic).",
        examples=["modelrouter budget clear SA"],
        handler=run,
    )
    clear_parser.add_argument("agent_type", type=_agent_type, metavar="AGENT_TYPE")
