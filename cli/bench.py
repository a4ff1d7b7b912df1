"""`modelrouter bench <name>`: the checkout's benchmarks (bench/*.py), with their own options."""

from __future__ import annotations

import argparse
from typing import Any

from .checkout import run_script, script_path
from .options import add_command, overrides

__all__ = ["register"]

# subcommand -> (its script in bench/, what it measures)
BENCHMARKS = {
    "ingest": ("ingest.py", "how fast one worker folds events, next to a bare consumer's ceiling"),
    "select": ("selection.py", "selection round trips per second and their latency, at a given request rate"),
    "restart": ("restart.py", "how long a worker takes to restart on a long history (warm or --cold)"),
    "freshness": ("freshness.py", "from a rate limit to the first selection avoiding the model, under load"),
    "decisions": (
        "decisions.py",
        "the demo's world through modelrouter, each LiteLLM Router strategy and the fixed assignment",
    ),
}


def run(args: argparse.Namespace) -> int:
    script = script_path(
        f"bench/{BENCHMARKS[args.benchmark][0]}", "the benchmarks live in bench/ of the repository"
    )
    env = {f"MODELROUTER_{name.upper()}": value for name, value in overrides(args).items()}
    return run_script(script, args.passthrough, env)


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "bench",
        summary="Run a benchmark against the broker (bench/*.py of the source checkout).",
        details="Options after the benchmark's name go to its script: "
        "`modelrouter bench ingest --help` shows them. Each run uses a fresh topic prefix.",
        examples=[
            "modelrouter bench ingest --events 100000",
            "modelrouter bench select --rate 500 --seconds 20",
            "modelrouter bench restart --events 200000 --cold",
        ],
    )
    benchmarks = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    for name, (_, what) in BENCHMARKS.items():
        add_command(benchmarks, name, summary=what, handler=run, passthrough="script")
