"""Routing decisions, side by side: the demo's simulated world (the same tasks, latencies, quality,
outage and rate-limit storm) run through modelrouter (selection over Kafka from a running worker,
with the FailoverManager), through LiteLLM's own Router once per routing strategy it ships, and
through the demo's fixed assignment.

    .venv/bin/python bench/decisions.py                          # 60 s of world per policy, seed 7
    .venv/bin/python bench/decisions.py --seed 3 --seconds 30 --rate 20
    .venv/bin/python bench/decisions.py --strategies simple-shuffle,cost-based-routing
    .venv/bin/python bench/decisions.py --outage-provider google --storm-model gemini-2.0-flash

Each policy runs the world in real time (`--seconds` each, one after the other). LiteLLM's
deployments are backed by the world through a CustomLLM provider: a 429 raises its
RateLimitError with the world's retry-after header, an outage its ServiceUnavailableError, a
500 its InternalServerError, a timeout its Timeout. The Router is configured as LiteLLM's
production docs recommend (retries, allowed_fails + cooldown_time, fallbacks, timeout); see
ROUTER_SETTINGS. The last line printed is JSON:
{"seed", "policies": {"modelrouter": {...}, "litellm:<strategy>": {...}, "fixed": {...},
"fixed+fallback": {...}}}, each with success_rate, mean_quality, cost_per_success,
p95_latency_ms, outage_success_rate, storm_success_rate (and total_cost, calls, tasks).
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download of the cost map

import argparse
import asyncio
import io
import logging
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, get_args

import httpx
import litellm
import orjson
from litellm import CustomLLM, Router

from modelrouter.agents import ModelOptimizer, ModelRegistry
from modelrouter.agents.selection_client import Strategy

# The demo's world and its analysis: every import of the demo is here (it moves with the CLI).
from modelrouter.cli.demo.analysis import PolicyStats, policy_stats
from modelrouter.cli.demo.command import add_timeline_arguments, timeline_from
from modelrouter.cli.demo.fleet import EXCLUDED_PROVIDERS
from modelrouter.cli.demo.run import run_demo
from modelrouter.cli.demo.world import (
    CallOutcome,
    Failure,
    SimTask,
    TaskResult,
    World,
    fleet_agents,
    task_stream,
)
from modelrouter.schemas import ConfigurationError, ModelSpec, Settings

STRATEGIES = (
    "simple-shuffle",
    "least-busy",
    "latency-based-routing",
    "usage-based-routing-v2",
    "cost-based-routing",
)
PROVIDER = "decisions-world"  # the CustomLLM provider name: deployments are "decisions-world/<model_id>"
# LiteLLM's production recommendations (docs "Router - Load Balancing" / "Proxy - Production"):
# retries, a deployment cooled down after allowed_fails failures in a minute, a timeout, fallbacks.
ROUTER_SETTINGS: Mapping[str, Any] = {
    "num_retries": 2,
    "allowed_fails": 3,
    "cooldown_time": 30,
    "retry_after": 0,
}
MAX_RETRIES = 3  # modelrouter's FailoverManager in the demo: 1 + 3 calls at most, as 1 + 2 retries + fallback

log = logging.getLogger("bench.decisions")


# --- the world behind LiteLLM -----------------------------------------------------------


_REQUEST = httpx.Request("POST", "http://decisions-world.invalid/v1/chat/completions")


def litellm_error(outcome: CallOutcome) -> Exception:
    """The exception LiteLLM's own provider code raises for this failure."""
    model, message = outcome.model_id, f"{outcome.failure} from the simulated {outcome.provider}"
    if outcome.failure is Failure.RATE_LIMITED:
        wait = outcome.retry_after_s if outcome.retry_after_s is not None else 1.0
        response = httpx.Response(429, headers={"retry-after": f"{wait:g}"}, request=_REQUEST)
        return litellm.RateLimitError(message=message, llm_provider=PROVIDER, model=model, response=response)
    if outcome.failure is Failure.OVERLOADED:
        response = httpx.Response(503, request=_REQUEST)
        return litellm.ServiceUnavailableError(
            message=message, llm_provider=PROVIDER, model=model, response=response
        )
    if outcome.failure is Failure.TIMEOUT:
        return litellm.Timeout(message=message, model=model, llm_provider=PROVIDER)
    response = httpx.Response(500, request=_REQUEST)
    return litellm.InternalServerError(message=message, llm_provider=PROVIDER, model=model, response=response)


class WorldProvider(CustomLLM):  # type: ignore[misc]
    """Answers a call to "decisions-world/<model>" for the task named in the last message, as
    the world says, after the world's latency; records every call per task."""

    def __init__(self, world: World, tasks: Sequence[SimTask]) -> None:
        super().__init__()
        self.world = world
        self.tasks = {t.index: t for t in tasks}
        self.attempts: dict[int, list[CallOutcome]] = {}
        self.start: float | None = None

    async def acompletion(self, model: str, messages: list[Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        assert self.start is not None, "the run has not started"
        task = self.tasks[int(str(messages[-1]["content"]).removeprefix("task "))]
        outcome = self.world.call(model, task, loop.time() - self.start)
        self.attempts.setdefault(task.index, []).append(outcome)
        await asyncio.sleep(outcome.latency_ms / 1000.0)
        if outcome.failure is not None:
            raise litellm_error(outcome)
        return litellm.ModelResponse(
            model=model,
            choices=[{"message": {"role": "assistant", "content": f"done by {model}"}}],
            usage={
                "prompt_tokens": outcome.input_tokens,
                "completion_tokens": outcome.output_tokens,
                "total_tokens": outcome.input_tokens + outcome.output_tokens,
            },
        )


def deployment(spec: ModelSpec, group: str) -> dict[str, Any]:
    params: dict[str, Any] = {
        "model": f"{PROVIDER}/{spec.model_id}",
        "input_cost_per_token": spec.input_cost_per_1k / 1000.0,
        "output_cost_per_token": spec.output_cost_per_1k / 1000.0,
    }
    if spec.rpm_limit:
        params["rpm"] = spec.rpm_limit
    if spec.tpm_limit:
        params["tpm"] = spec.tpm_limit
    return {
        "model_name": group,
        "litellm_params": params,
        "model_info": {"id": f"{group}/{spec.model_id}", "modelrouter_model": spec.model_id},
    }


def router_config(
    models: Mapping[str, ModelSpec], optimizer: ModelOptimizer, tasks: Sequence[SimTask]
) -> tuple[list[dict[str, Any]], list[dict[str, list[str]]]]:
    """One model group per agent type holding every model modelrouter may choose for it (the
    capabilities its role requires, context for its largest task, not a local model), and a
    fallback group holding its assignment's fallback model."""
    model_list: list[dict[str, Any]] = []
    fallbacks: list[dict[str, list[str]]] = []
    for agent in sorted({t.agent_type for t in tasks}):
        assignment = optimizer.assignment_for(agent)
        largest = max(t.input_tokens + t.output_tokens for t in tasks if t.agent_type == agent)
        eligible = [
            s
            for s in models.values()
            if s.enabled
            and s.provider not in EXCLUDED_PROVIDERS
            and set(assignment.required_capabilities) <= set(s.capabilities)
            and s.context_window >= largest
        ]
        if not eligible:
            raise ConfigurationError(f"no model fits agent type {agent}")
        group, backup = f"agent-{agent}", f"agent-{agent}-fallback"
        model_list += [deployment(s, group) for s in eligible]
        model_list.append(deployment(models[assignment.fallback_model], backup))
        fallbacks.append({group: [backup]})
    return model_list, fallbacks


async def run_litellm(
    strategy: str,
    world: World,
    tasks: Sequence[SimTask],
    models: Mapping[str, ModelSpec],
    optimizer: ModelOptimizer,
) -> list[TaskResult]:
    """The tasks through a real litellm.Router with `strategy`, at their times, in real time."""
    provider = WorldProvider(world, tasks)
    saved = litellm.custom_provider_map
    litellm.custom_provider_map = [{"provider": PROVIDER, "custom_handler": provider}]
    model_list, fallbacks = router_config(models, optimizer, tasks)
    router = Router(
        model_list=model_list,
        routing_strategy=strategy,  # type: ignore[arg-type]
        fallbacks=fallbacks,
        timeout=world.timeout_s + 2.0,  # the world times out first, as a provider would
        **ROUTER_SETTINGS,
    )
    loop = asyncio.get_running_loop()
    done: dict[int, bool] = {}

    async def one(task: SimTask) -> None:
        try:
            await router.acompletion(
                model=f"agent-{task.agent_type}",
                messages=[{"role": "user", "content": f"task {task.index}"}],
                metadata={"agent_type": task.agent_type, "task_id": task.task_id},
            )
        except Exception as exc:  # every deployment and fallback failed: the attempts say so
            log.debug("task %s failed: %s", task.task_id, exc)
        done[task.index] = True

    provider.start = start = loop.time()
    running: set[asyncio.Task[None]] = set()
    try:
        for task in tasks:
            delay = task.at_s - (loop.time() - start)
            if delay > 0:
                await asyncio.sleep(delay)
            job = asyncio.create_task(one(task))
            running.add(job)
            job.add_done_callback(running.discard)
        if running:
            drain_s = (ROUTER_SETTINGS["num_retries"] + 2) * (world.timeout_s + 4.0) + 5.0
            await asyncio.wait(set(running), timeout=drain_s)
    finally:
        for job in set(running):
            job.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        litellm.custom_provider_map = saved
    return [
        TaskResult(
            t.index, t.at_s, t.agent_type, tuple(provider.attempts.get(t.index, ())), done.get(t.index, False)
        )
        for t in tasks
    ]


# --- the comparison ----------------------------------------------------------------------


def figures(p: PolicyStats) -> dict[str, Any]:
    return {
        "success_rate": p.success_rate,
        "mean_quality": p.mean_quality,
        "cost_per_success": p.cost_per_success,
        "p95_latency_ms": p.p95_latency_ms,
        "outage_success_rate": p.outage_success_rate,
        "storm_success_rate": p.storm_success_rate,
        "total_cost": p.cost,
        "calls": p.calls,
        "tasks": p.tasks,
    }


def table(policies: Mapping[str, PolicyStats]) -> str:
    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.1f}%"

    def num(x: float | None, fmt: str) -> str:
        return "-" if x is None else format(x, fmt)

    rows = [
        ("success rate", [pct(p.success_rate) for p in policies.values()]),
        ("  started in the outage", [pct(p.outage_success_rate) for p in policies.values()]),
        ("  started in the storm", [pct(p.storm_success_rate) for p in policies.values()]),
        ("mean quality (successes)", [num(p.mean_quality, ".3f") for p in policies.values()]),
        ("total cost", [f"${p.cost:.4f}" for p in policies.values()]),
        ("cost per successful task", [num(p.cost_per_success, ".6f") for p in policies.values()]),
        ("p95 task latency (ms)", [num(p.p95_latency_ms, ",.0f") for p in policies.values()]),
        ("model calls", [f"{p.calls:,}" for p in policies.values()]),
    ]
    names = [n.removeprefix("litellm:") for n in policies]
    width = max(10, *(len(n) for n in names)) + 2
    head = max(len(r[0]) for r in rows) + 2
    lines = [" " * head + "".join(n.rjust(width) for n in names)]
    lines += [name.ljust(head) + "".join(v.rjust(width) for v in values) for name, values in rows]
    return "\n".join(lines)


async def compare(args: argparse.Namespace, settings: Settings) -> dict[str, PolicyStats]:
    timeline = timeline_from(args)
    policies: dict[str, PolicyStats] = {}
    if not args.skip_modelrouter:
        print(f"modelrouter: {args.seconds:g} s of world through a worker ...", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="decisions-") as run_dir:
            report = await run_demo(
                settings,
                args.seconds,
                args.seed,
                rate=args.rate,
                timeline=timeline,
                view="none",
                out=io.StringIO(),
                run_dir=Path(run_dir),
                start_broker=False,
                strategy=args.agent_strategy,
            )
        policies["modelrouter"] = report.policy("selection")
        fixed = (report.policy("fixed"), report.policy("fixed+fallback"))
    registry = ModelRegistry(settings=settings)  # the demo's registry, config/model_registry.json
    models = dict(registry.models)
    optimizer = ModelOptimizer(registry=models)
    world = World(args.seed, timeline, models)
    tasks = task_stream(args.seed, timeline.seconds, args.rate, fleet_agents(optimizer.agent_types))
    for strategy in args.strategies:
        print(f"litellm {strategy}: {args.seconds:g} s of world ...", file=sys.stderr, flush=True)
        results = await run_litellm(strategy, world, tasks, models, optimizer)
        policies[f"litellm:{strategy}"] = policy_stats(strategy, strategy, results, timeline)
    if not args.skip_modelrouter:
        policies["fixed"], policies["fixed+fallback"] = fixed
    return policies


def _strategies(text: str) -> tuple[str, ...]:
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in names if s not in STRATEGIES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown LiteLLM strategies {unknown}; known: {', '.join(STRATEGIES)}"
        )
    return names


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/decisions.py", description=__doc__.split("\n\n")[0])
    # The demo's options (modelrouter demo --help), with shorter runs allowed, for the test.
    parser.add_argument(
        "--seconds", type=float, default=60.0, help="seconds of world per policy (default 60)"
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the world and its traffic (default 7)")
    parser.add_argument("--rate", type=float, default=30.0, help="tasks per second (default 30)")
    add_timeline_arguments(parser)
    parser.add_argument(
        "--strategies",
        type=_strategies,
        default=STRATEGIES,
        help=f"comma-separated LiteLLM routing strategies (default: all: {','.join(STRATEGIES)})",
    )
    parser.add_argument(
        "--skip-modelrouter", action="store_true", help="LiteLLM's strategies only (no Kafka)"
    )
    parser.add_argument(
        "--agent-strategy",
        choices=get_args(Strategy),
        help="the selection strategy every agent asks modelrouter for (default: each agent type its "
        "own, as in the demo: five ask for quality, IMPLEMENTATION for cost)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    litellm.suppress_debug_info = True
    logging.getLogger("LiteLLM").setLevel(logging.ERROR)
    logging.getLogger("LiteLLM Router").setLevel(logging.ERROR)
    settings = Settings()
    try:
        policies = asyncio.run(compare(args, settings))
    except ConfigurationError as exc:
        print(f"bench/decisions.py: error: {exc}", file=sys.stderr)
        return 2
    print(f"seed {args.seed}, {args.seconds:g} s at {args.rate:g} tasks/s")
    print(table(policies))
    print(
        orjson.dumps({"seed": args.seed, "policies": {n: figures(p) for n, p in policies.items()}}).decode()
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
