"""Off-policy evaluation checked against the truth, in the demo's simulated world.

    .venv/bin/python bench/evaluate.py              # 20 trials: A balanced+explore (floor 0.05), B quality
    .venv/bin/python bench/evaluate.py --trials 50 --policy-b latency --tasks 3000

Each trial (one seed): the demo's world (config/model_registry.json, its outage and rate-limit
storm) and task stream. Policy A (exploring, with the exploration floor) chooses a model for
every task through streams.scoring.decide; each choice is logged as the responder logs it
(DecisionRecord, through the codec) and the world's answer to that call becomes its
TaskCompleted. Policy B is then evaluated from that log alone with the code of
`modelrouter evaluate` (streams.policy_eval), and run live on the same tasks at the same
moments. The scorecards are the same in both runs (from the models' profiles), so B's live
result is exactly what the estimate is about; the world's outcomes still vary with time (the
outage, the storm) and with the task.

Reported: how often B's live success rate and cost per task fall inside the estimate's 95%
interval (coverage), and the mean absolute errors. No Kafka: this measures the estimators,
not the transport (tests/integration/test_decisions.py covers the topic). Last line JSON:
{"trials", "coverage_success", "coverage_cost", "mean_abs_error_success", ...}.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from modelrouter.agents.registry_config import load_registry
from modelrouter.cli.demo.timeline import Timeline
from modelrouter.cli.demo.world import AGENTS, SimTask, World, task_stream
from modelrouter.schemas import (
    DecisionInputs,
    DecisionRecord,
    ModelSpec,
    Scorecard,
    SelectionRequest,
    TaskCompleted,
    TaskInfo,
    decode,
    encode,
)
from modelrouter.streams.decision_log import decision_record
from modelrouter.streams.policy_eval import CandidatePolicy, evaluate, parse_policy
from modelrouter.streams.scoring import DEFAULT_PARAMS, ScoringParams, decide

START = datetime(2026, 1, 1, tzinfo=UTC)


def scorecards(world: World, registry: dict[str, ModelSpec]) -> dict[str, Scorecard]:
    """What a worker would know of each model after a calm warm-up: its profile's rates."""
    out = {}
    for model_id in registry:
        p = world.profile(model_id)
        ok = 1.0 - p.error_rate - p.timeout_rate - p.rate_limit_rate
        typical_s = p.first_token_s + 400 / p.tokens_per_s
        out[model_id] = Scorecard(
            model_id=model_id,
            updated_at=START,
            requests=200,
            successes=round(200 * ok),
            latency_p95_ms=typical_s * math.exp(1.645 * p.latency_sigma) * 1000.0,
            quality_mean=p.quality,
        )
    return out


def request(task: SimTask, policy: CandidatePolicy, explore: bool) -> SelectionRequest:
    return SelectionRequest(
        request_id=f"{task.task_id}-{policy.strategy}-{explore}",
        reply_to="bench.replies",
        agent_type=task.agent_type,
        task=TaskInfo(
            task_id=task.task_id,
            task_type=task.task_type,
            estimated_input_tokens=task.input_tokens,
            estimated_output_tokens=task.output_tokens,
        ),
        strategy=policy.strategy,
        explore=explore,
    )


def completed(task: SimTask, world: World, model_id: str) -> TaskCompleted:
    outcome = world.call(model_id, task, task.at_s)
    return TaskCompleted(
        occurred_at=START + timedelta(seconds=task.at_s),
        agent_type=task.agent_type,
        task_id=task.task_id,
        model_id=model_id,
        provider=outcome.provider,
        success=outcome.ok,
        latency_ms=outcome.latency_ms,
        quality_score=outcome.quality,
        cost=outcome.cost,
        input_tokens=outcome.input_tokens,
        output_tokens=outcome.output_tokens,
    )


def trial(seed: int, args: argparse.Namespace, a: CandidatePolicy, b: CandidatePolicy) -> dict[str, object]:
    registry = load_registry()
    seconds = args.tasks / args.rate
    world = World(seed, Timeline.scaled(seconds), registry)
    tasks = task_stream(seed, seconds, args.rate, AGENTS)
    cards = scorecards(world, registry)
    params = ScoringParams(weights=DEFAULT_PARAMS.weights, explore_floor=a.floor)
    log: list[DecisionRecord] = []
    outcomes: list[TaskCompleted] = []
    for task in tasks:
        req = request(task, a, explore=True)
        now = START + timedelta(seconds=task.at_s)
        decision = decide(req, registry, cards, now, random.Random(req.request_id), params)
        record = decision_record(req, decision, params, DecisionInputs())
        log.append(decode(DecisionRecord, encode(record)))  # as `evaluate` reads it off the topic
        outcomes.append(completed(task, world, record.chosen_model_id))
    estimate = evaluate(log, outcomes, b, params, bootstrap=args.bootstrap, seed=seed)

    live = []
    b_params = ScoringParams(weights={**DEFAULT_PARAMS.weights, b.strategy: b.weights}, explore_floor=b.floor)
    for task in tasks:
        req = request(task, b, explore=b.explore)
        now = START + timedelta(seconds=task.at_s)
        reply = decide(req, registry, cards, now, random.Random(req.request_id), b_params).reply
        live.append(completed(task, world, reply.selected_model_id))
    truth = {
        "success": sum(c.success for c in live) / len(live),
        "cost": sum(c.cost for c in live) / len(live),
    }
    row: dict[str, object] = {"seed": seed, "tasks": len(tasks), "live": truth}
    for metric in ("success", "cost"):
        e = estimate.estimates[metric]
        interval = getattr(e, args.estimator)
        row[metric] = {
            "supported": e.support.supported,
            "ess": round(e.support.effective_samples, 1),
            "logged": estimate.logged_mean[metric],
            "estimate": None if interval is None else interval.value,
            "low": None if interval is None else interval.low,
            "high": None if interval is None else interval.high,
            "covers": None if interval is None else interval.covers(truth[metric]),
        }
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--tasks", type=int, default=2000, help="tasks per trial (default 2000)")
    parser.add_argument("--rate", type=float, default=20.0, help="tasks per second of simulated time")
    parser.add_argument("--policy-a", default="balanced,explore,floor=0.05", help="the logging policy")
    parser.add_argument("--policy-b", default="quality", help="the policy evaluated (default quality)")
    parser.add_argument("--estimator", choices=("ips", "snips", "dr"), default="dr")
    parser.add_argument("--bootstrap", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    a, b = parse_policy(args.policy_a), parse_policy(args.policy_b)
    if not a.explore:
        parser.error("--policy-a must explore (add ',explore'): a deterministic log supports no other policy")
    trials = f"{args.trials} trials of ~{args.tasks} tasks"
    print(f"A = {a.describe()}, B = {b.describe()}: {trials} ({args.estimator})")
    started = time.monotonic()
    rows = []
    for i in range(args.trials):
        row = trial(args.seed + i, args, a, b)
        rows.append(row)
        s, c, live = row["success"], row["cost"], row["live"]
        assert isinstance(s, dict)
        assert isinstance(c, dict)
        assert isinstance(live, dict)

        def show(m: dict[str, object], truth: float, digits: int) -> str:
            if not m["supported"]:
                return f"not supported (ESS {m['ess']})"
            return (
                f"{m['estimate']:.{digits}f} [{m['low']:.{digits}f}, {m['high']:.{digits}f}] "
                f"live {truth:.{digits}f} {'in' if m['covers'] else 'OUT'} (ESS {m['ess']})"
            )

        print(
            f"seed {row['seed']}: {row['tasks']} tasks; success {show(s, live['success'], 4)}; "
            f"cost {show(c, live['cost'], 6)}",
            flush=True,
        )

    def share(metric: str) -> float | None:
        got = [r[metric]["covers"] for r in rows if r[metric]["supported"]]  # type: ignore[index]
        return round(sum(got) / len(got), 3) if got else None

    def error(metric: str) -> float | None:
        errs = [
            abs(r[metric]["estimate"] - r["live"][metric])  # type: ignore[index]
            for r in rows
            if r[metric]["supported"]  # type: ignore[index]
        ]
        return round(sum(errs) / len(errs), 6) if errs else None

    supported = sum(1 for r in rows if r["success"]["supported"])  # type: ignore[index]
    print(f"{time.monotonic() - started:.0f} s; {supported} of {len(rows)} trials supported")
    print(
        json.dumps(
            {
                "trials": len(rows),
                "coverage_success": share("success"),
                "coverage_cost": share("cost"),
                "mean_abs_error_success": error("success"),
                "mean_abs_error_cost": error("cost"),
                "supported_trials": supported,
                "estimator": args.estimator,
                "policy_a": a.describe(),
                "policy_b": b.describe(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
