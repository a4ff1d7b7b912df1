"""`modelrouter explain REQUEST_ID`: a logged decision re-derived. The registry and scorecards
are rebuilt as the responder held them at the decision's recorded positions, the pure scoring
runs again with the request's seed, and the command shows whether it reproduces the choice
and its propensity, with the reasoning."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table

from modelrouter.schemas import (
    DecisionRecord,
    ModelSpec,
    Scorecard,
    Settings,
    TopicName,
    decoder,
    dumps,
    utc_now,
)
from modelrouter.streams.replay import Rederivation, rederive, view_at
from modelrouter.streams.scoring import ScoringParams

from .decision_logs import parse_window, read_decisions
from .failures import EXIT_FAILURE, EXIT_OK, CommandError
from .options import add_command, settings_from
from .output import console, number
from .topic_records import read_records

__all__ = ["explain_decision", "explanation_view", "register"]


async def explain_decision(
    settings: Settings, request_id: str, window: str | None = None, params: ScoringParams | None = None
) -> Rederivation:
    """Find `request_id`'s decision and re-derive it from the views at its positions."""
    since = None if window is None else utc_now() - parse_window(window)
    found = [d for d in await read_decisions(settings, since) if d.request_id == request_id]
    if not found:
        raise CommandError(
            f"no decision for request {request_id} in {settings.topic(TopicName.DECISIONS)}"
            + (f" over the last {window}" if window else "")
            + ": check the id and MODELROUTER_TOPIC_PREFIX (decisions are kept MODELROUTER_RETENTION_HOURS)"
        )
    record = found[0]
    registry_records, card_records = await asyncio.gather(
        read_records(settings, settings.topic(TopicName.REGISTRY), until=record.inputs.registry_positions),
        read_records(
            settings, settings.topic(TopicName.SCORECARDS), until=record.inputs.scorecards_positions
        ),
    )
    registry = view_at(registry_records, record.inputs.registry_positions, decoder(ModelSpec))
    scorecards = view_at(card_records, record.inputs.scorecards_positions, decoder(Scorecard))
    return rederive(record, registry, scorecards, params or ScoringParams.from_settings(settings))


def _positions(p: dict[str, int]) -> str:
    return ", ".join(f"{k}@{v}" for k, v in sorted(p.items())) or "-"


def explanation_view(result: Rederivation) -> RenderableType:
    d: DecisionRecord = result.record
    how = "exact" if d.propensity_samples == 0 else f"Monte Carlo, {d.propensity_samples} draws"
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("request", f"{d.request_id} (task {d.task_id}, agent {d.agent_type})")
    head.add_row("decided at", d.decided_at.isoformat())
    policy = d.policy
    explore = f", exploring, floor {number(policy.explore_floor)}" if policy.explore else ""
    head.add_row("policy", f"{policy.strategy}{explore} (parameters {policy.params_hash})")
    head.add_row("chosen", f"{d.chosen_model_id}{' (fallback)' if d.fallback_used else ''}")
    head.add_row("propensity", f"{number(d.propensity)} ({how})")
    head.add_row(
        "decided on",
        f"registry {_positions(d.inputs.registry_positions)}, scorecards "
        f"{_positions(d.inputs.scorecards_positions)}, stats age {number(d.inputs.stats_age_ms)} ms",
    )
    table = Table(title="eligible candidates, best first", title_justify="left")
    for name in (
        "model",
        "logged score",
        "re-run score",
        "propensity",
        "success",
        "quality",
        "latency",
        "cost",
    ):
        table.add_column(name, justify="left" if name == "model" else "right")
    again = {c.model_id: c.score for c in result.decision.candidates} if result.decision else {}
    for c in d.eligible:
        table.add_row(
            c.model_id,
            number(c.score),
            number(again.get(c.model_id)),
            number(c.propensity),
            number(c.success, 3),
            number(c.quality, 3),
            number(c.latency, 3),
            number(c.cost, 3),
        )
    parts: list[RenderableType] = [head, table]
    if d.rejected:
        parts.append("rejected: " + "; ".join(f"{r.model_id}: {r.reason}" for r in d.rejected))
    if result.decision is not None:
        parts.append(f"reasoning (re-run): {result.decision.reply.reasoning}")
    if result.reproduced:
        parts.append(
            f"reproduced: the re-run chooses {d.chosen_model_id} with propensity "
            f"{number(result.propensity)}, as logged"
        )
    else:
        parts.append("NOT reproduced: " + "; ".join(result.mismatches))
    return Group(*parts)


def _json(result: Rederivation) -> dict[str, Any]:
    return {
        "request_id": result.record.request_id,
        "reproduced": result.reproduced,
        "mismatches": list(result.mismatches),
        "chosen_model_id": result.record.chosen_model_id,
        "logged_propensity": result.record.propensity,
        "rederived_propensity": result.propensity,
        "propensity_samples": result.record.propensity_samples,
        "reasoning": None if result.decision is None else result.decision.reply.reasoning,
    }


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.window is not None:
        parse_window(args.window)
    result = asyncio.run(explain_decision(settings, args.request_id, args.window))
    if args.json:
        print(dumps(_json(result)).decode())
    else:
        console().print(explanation_view(result))
    return EXIT_OK if result.reproduced else EXIT_FAILURE


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "explain",
        summary="Re-derive a logged selection decision and show whether it reproduces.",
        details="Finds the request's DecisionRecord, rebuilds the registry and the scorecards as the "
        "responder held them at the recorded positions, runs the pure scoring again with the "
        "request's seed and compares choice, scores and propensity. Exit code 1 when it does "
        "not reproduce (for example the compacted scorecards topic no longer holds the values of "
        "that time, or the settings differ from the worker's).",
        examples=["modelrouter explain 7f3c9a2e", "modelrouter explain 7f3c9a2e --window 2h --json"],
        handler=run,
    )
    parser.add_argument("request_id", metavar="REQUEST_ID", help="the selection request's id")
    parser.add_argument("--window", help="search only the last 2h, 1d ... of decisions (default: all)")
    parser.add_argument("--json", action="store_true", help="print the verdict as one JSON object")
