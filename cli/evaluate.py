"""`modelrouter evaluate`: a candidate policy's success rate, mean quality and cost per task,
estimated off-policy from the decisions log and the task outcomes, without running it."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table

from modelrouter.schemas import Settings, dumps, utc_now
from modelrouter.streams.offpolicy import Estimate, Interval
from modelrouter.streams.policy_eval import METRICS, Evaluation, evaluate, parse_policy
from modelrouter.streams.scoring import ScoringParams

from .decision_logs import parse_window, read_completions, read_decisions
from .failures import EXIT_OK
from .options import add_command, settings_from
from .output import console, number

__all__ = ["evaluation_json", "evaluation_view", "register"]

_ESTIMATORS = ("ips", "snips", "dr")


def _interval(i: Interval | None) -> dict[str, float] | None:
    return None if i is None else {"value": i.value, "low": i.low, "high": i.high}


def evaluation_json(result: Evaluation, window: str, agent_type: str | None) -> dict[str, Any]:
    def one(e: Estimate) -> dict[str, Any]:
        return {
            "n": e.n,
            "supported": e.support.supported,
            "verdict": e.support.reason,
            "effective_samples": e.support.effective_samples,
            "off_support": e.support.off_support,
            **{name: _interval(getattr(e, name)) for name in _ESTIMATORS},
        }

    return {
        "policy": result.policy.describe(),
        "window": window,
        "agent_type": agent_type,
        "decisions": result.decisions,
        "joined": result.joined,
        "logged": result.logged_mean,
        "metrics": {m: one(e) for m, e in result.estimates.items()},
    }


def evaluation_view(result: Evaluation, window: str, agent_type: str | None) -> RenderableType:
    who = f"agent type {agent_type}" if agent_type else "all agents"
    head = (
        f"policy {result.policy.describe()} on the last {window} of {who}: "
        f"{result.decisions:,} decisions, {result.joined:,} with an outcome"
    )
    table = Table(title=head, title_justify="left")
    for name in ("metric", "logged", "estimator", "estimate", "95% interval", "ESS", "n"):
        table.add_column(name, justify="left" if name in ("metric", "estimator") else "right")
    notes = []
    for metric in METRICS:
        e = result.estimates[metric]
        logged = number(result.logged_mean[metric], 4)
        if not e.support.supported:
            table.add_row(
                metric, logged, "-", "not supported", "-", number(e.support.effective_samples, 3), str(e.n)
            )
            notes.append(f"{metric}: the log does not support this policy: {e.support.reason}")
            continue
        for name in _ESTIMATORS:
            i = getattr(e, name)
            table.add_row(
                metric if name == "ips" else "",
                logged if name == "ips" else "",
                name.upper() if name != "dr" else "doubly robust",
                number(i.value, 4),
                f"{number(i.low, 4)} .. {number(i.high, 4)}",
                number(e.support.effective_samples, 4) if name == "ips" else "",
                str(e.n) if name == "ips" else "",
            )
    return Group(table, *notes)


async def _evaluate(settings: Settings, args: argparse.Namespace) -> Evaluation:
    params = ScoringParams.from_settings(settings)
    policy = parse_policy(args.policy, params)
    since = utc_now() - parse_window(args.window)
    decisions, completions = await asyncio.gather(
        read_decisions(settings, since, args.agent_type), read_completions(settings, since)
    )
    return evaluate(decisions, completions, policy, params, bootstrap=args.bootstrap, seed=args.seed)


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    parse_policy(args.policy)  # bad flags fail before any connection
    parse_window(args.window)
    result = asyncio.run(_evaluate(settings, args))
    if args.json:
        print(dumps(evaluation_json(result, args.window, args.agent_type)).decode())
    else:
        console().print(evaluation_view(result, args.window, args.agent_type))
    return EXIT_OK


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "evaluate",
        summary="Estimate what another selection policy would have achieved on the logged traffic.",
        details="Joins the decisions topic with the task-completed topic by task id over the window "
        "and estimates the policy's success rate, mean quality and cost per task with IPS, "
        "self-normalised IPS and doubly-robust estimators, each with a bootstrap 95% interval and "
        "the effective sample size. Where the logged choices overlap too little with the "
        "policy's, it says so instead of printing a number (docs/evaluation.md).",
        examples=[
            "modelrouter evaluate --policy cost --window 24h",
            "modelrouter evaluate --policy 'balanced,weights=0.5/0.3/0.1/0.1' --agent-type SA",
            "modelrouter evaluate --policy 'quality,max_cost=0.02' --json | jq .metrics.success",
        ],
        handler=run,
    )
    parser.add_argument(
        "--policy",
        required=True,
        help="strategy and parameters: STRATEGY[,weights=S/Q/L/C][,explore][,floor=P][,max_cost=USD]",
    )
    parser.add_argument("--window", default="24h", help="how far back (default 24h; 90m, 2d ...)")
    parser.add_argument("--agent-type", help="one agent type's decisions (default: all)")
    parser.add_argument("--bootstrap", type=int, default=400, metavar="N", help="bootstrap resamples (400)")
    parser.add_argument("--seed", type=int, default=0, help="the bootstrap's seed")
    parser.add_argument("--json", action="store_true", help="print the estimates as one JSON object")
