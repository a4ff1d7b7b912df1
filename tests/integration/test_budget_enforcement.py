"""Budgets enforced by real workers: a flood of tasks for a budgeted agent type ends within one
task's cost of its limit, with one worker, across a worker's SIGKILL, and with two workers."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from modelrouter.agents import BudgetBook, EventPublisher, ModelRegistry, SelectionClient
from modelrouter.cli.worker_process import WorkerProcess, wait_until_answering
from modelrouter.schemas import (
    BaseAssignment,
    ModelSpec,
    SelectionTimeout,
    Settings,
    SummaryReply,
    TaskCompleted,
    TaskInfo,
    utc_now,
)

from kafka_helpers import eventually
from ops_helpers import free_port, scrape, value

pytestmark = pytest.mark.kafka

# 1000 tokens in at $0.05 and 200..800 out at $0.10 per 1k: a task is expected to cost $0.07..$0.13.
MODEL = ModelSpec(
    model_id="m",
    provider="p",
    tier="standard",
    context_window=128_000,
    input_cost_per_1k=0.05,
    output_cost_per_1k=0.10,
)
MAX_TASK_COST = 0.13
BASE = BaseAssignment(role_type="developer", model_tier="standard", primary_model="m", fallback_model="m")


@dataclass
class Flood:
    """Agents of type SA asking for a model, running the task (a short sleep) when one is
    chosen and publishing its TaskCompleted with the expected cost; a fallback is not run."""

    settings: Settings
    agents: int
    work_s: tuple[float, float]
    chosen: list[float] = field(default_factory=list)
    budget_refusals: int = 0
    other_fallbacks: int = 0  # no worker answered in time (one was killed)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, client: SelectionClient, publisher: EventPublisher) -> None:
        ids = itertools.count()
        await asyncio.gather(
            *(self._agent(client, publisher, ids, random.Random(a)) for a in range(self.agents))
        )

    async def _agent(
        self,
        client: SelectionClient,
        publisher: EventPublisher,
        ids: itertools.count[int],
        rng: random.Random,
    ) -> None:
        while not self.stop.is_set():
            task_id = f"t-{next(ids)}"
            task = TaskInfo(
                task_id=task_id, estimated_input_tokens=1000, estimated_output_tokens=rng.randint(200, 800)
            )
            reply = await client.select(client.request("SA", task, base_assignment=BASE), deadline_ms=1500)
            if reply.fallback_used:
                if any(r.reason.startswith("budget:") for r in reply.rejected):
                    self.budget_refusals += 1
                else:
                    self.other_fallbacks += 1
                await asyncio.sleep(0.05)
                continue
            cost = reply.factors["expected_cost_usd"]
            self.chosen.append(cost)
            await asyncio.sleep(rng.uniform(*self.work_s))
            await publisher.publish(
                TaskCompleted(
                    occurred_at=utc_now(),
                    agent_type="SA",
                    task_id=task_id,
                    model_id="m",
                    provider="p",
                    success=True,
                    latency_ms=100.0,
                    cost=cost,
                    input_tokens=1000,
                    output_tokens=500,
                )
            )


async def until(done: Callable[[], bool], timeout_s: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not done():
        assert loop.time() < deadline, f"not within {timeout_s} s"
        await asyncio.sleep(0.2)


def budget_settings(kafka_settings: Settings) -> Settings:
    # Buckets of 10 minutes: the flood's spend is in a bucket still open (provisional rows).
    return kafka_settings.model_copy(
        update={"bucket_seconds": 600, "partitions": 2, "session_timeout_s": 6.0}
    )


async def prepare(settings: Settings, limit: float) -> None:
    await ModelRegistry(settings=settings, models={"m": MODEL}).publish()
    budget = await BudgetBook(settings).set("SA", per_hour=limit, per_day=None)
    assert budget.limits() == {"per-hour": limit}


async def settled_spend(client: SelectionClient, want: float) -> SummaryReply | None:
    """The workers' own count of SA's spend, once it has every published task."""

    async def ask() -> SummaryReply | None:
        try:
            return await client.summary("SA", 1.0, deadline_ms=3000)
        except SelectionTimeout:
            return None

    return await eventually(
        ask, lambda r: r is not None and r.total_cost == pytest.approx(want), timeout_s=30
    )


def assert_within_one_task(
    flood: Flood, limit: float, reply: SummaryReply | None, stranded: float = 0.0
) -> None:
    """Never over the limit (each task costs what it was expected to), and the flood used the
    budget: what is left is less than one task, once `stranded` is counted (reservations of
    replies no client received, held until their timeout: budget unused, never overspent)."""
    spent = sum(flood.chosen)
    print(
        f"spent ${spent:.4f} of ${limit} in {len(flood.chosen)} tasks; {flood.budget_refusals} refused; "
        f"${stranded:.4f} stranded"
    )
    assert reply is not None and reply.total_cost == pytest.approx(spent), "the tables count what was spent"
    assert flood.budget_refusals > 0, "the flood was meant to outrun the budget"
    assert spent <= limit + 1e-9, f"spent ${spent:.4f} of ${limit}: {len(flood.chosen)} tasks"
    assert spent + stranded > limit - MAX_TASK_COST, f"spent only ${spent:.4f} of ${limit}"


async def command(settings: Settings, *args: str) -> str:
    def call() -> str:
        return subprocess.run(
            [sys.executable, "-m", "modelrouter.cli", *args],
            env={**os.environ, **settings.to_env()},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout

    return await asyncio.to_thread(call)


@pytest.mark.parametrize("selection_process", [False, True], ids=["in-worker", "selection-process"])
async def test_a_flood_ends_within_one_task_of_the_limit(
    kafka_settings, worker_factory, selection_process
) -> None:
    settings, limit = budget_settings(kafka_settings), 3.0
    settings = settings.model_copy(update={"selection_process": selection_process})
    await prepare(settings, limit)
    worker = worker_factory(settings)
    worker.start()
    flood = Flood(settings, agents=8, work_s=(0.05, 0.4))
    async with SelectionClient(settings) as client, EventPublisher(settings) as publisher:
        await wait_until_answering(client, worker, 60, base=BASE)
        running = asyncio.create_task(flood.run(client, publisher))
        await asyncio.sleep(8.0)  # the budget lasts about 2 s of this flood; then refusals
        flood.stop.set()
        await running
        reply = await settled_spend(client, sum(flood.chosen))
        # The command line shows the same spend against the limit.
        [shown] = json.loads(await command(settings, "budget", "show", "SA", "--json"))
        table = await command(settings, "summary", "--agent-type", "SA", "--window-hours", "1")
    assert_within_one_task(flood, limit, reply)
    assert flood.other_fallbacks == 0
    assert (shown["agent_type"], shown["per_hour"], shown["per_day"]) == ("SA", limit, None)
    assert shown["spent_per_hour"] == pytest.approx(sum(flood.chosen))
    assert "budgets: spend against limit" in table
    assert re.search(r"SA\s+.\s+per-hour\s+.\s+\$3\s+.\s+\$2\.9\d", table), table


async def test_the_limit_holds_across_a_worker_sigkill(kafka_settings, worker_factory) -> None:
    settings, limit = budget_settings(kafka_settings), 5.0
    settings = settings.model_copy(update={"metrics_port": free_port()})
    await prepare(settings, limit)
    worker = worker_factory(settings)
    worker.start()
    flood = Flood(settings, agents=4, work_s=(0.3, 0.7))
    async with SelectionClient(settings) as client, EventPublisher(settings) as publisher:
        await wait_until_answering(client, worker, 60, base=BASE)
        running = asyncio.create_task(flood.run(client, publisher))
        await asyncio.sleep(2.5)  # about half the budget spent or reserved, tasks in flight
        worker.kill(signal.SIGKILL)
        before, refused = len(flood.chosen), flood.budget_refusals
        assert 0 < sum(flood.chosen) < limit, "the kill was meant to land mid-flood"
        worker.start()  # the same state folder: it restores its tables, reads the reservations
        await until(lambda: len(flood.chosen) > before or flood.budget_refusals > refused, timeout_s=45)
        await asyncio.sleep(6.0)
        flood.stop.set()
        await running
        reply = await settled_spend(client, sum(flood.chosen))
        # Requests queued while no worker answered, answered after the restart within their
        # deadline's clock allowance: their clients had fallen back, their reservations wait.
        samples = await scrape(settings.metrics_port or 0)
    stranded = value(samples, "modelrouter_budget_reserved_usd", agent_type="SA", window="per-hour")
    assert stranded <= 10 * MAX_TASK_COST  # a few requests' worth, not the flood's
    assert_within_one_task(flood, limit, reply, stranded)
    assert flood.other_fallbacks > 0  # requests sent while no worker answered


async def test_the_limit_holds_fleet_wide_with_two_workers(kafka_settings, worker_factory, tmp_path) -> None:
    settings, limit = budget_settings(kafka_settings), 3.0
    await prepare(settings, limit)
    workers: list[WorkerProcess] = []
    ports = [free_port(), free_port()]
    for i in range(2):
        w = worker_factory(
            settings.model_copy(update={"data_dir": tmp_path / f"state-{i}", "metrics_port": ports[i]})
        )
        w.start()
        workers.append(w)
    flood = Flood(settings, agents=8, work_s=(0.05, 0.4))
    async with SelectionClient(settings) as client, EventPublisher(settings) as publisher:
        for w in workers:
            await until(lambda w=w: "selection responder ready" in w.log_text(), timeout_s=60)
        await wait_until_answering(client, workers[0], 60, base=BASE, in_a_row=10)
        running = asyncio.create_task(flood.run(client, publisher))
        await asyncio.sleep(8.0)
        flood.stop.set()
        await running
        reply = await settled_spend(client, sum(flood.chosen))
        scrapes = [await scrape(port) for port in ports]
    assert_within_one_task(flood, limit, reply)
    # Both workers answered the flood and refused for the budget: the limit held fleet-wide.
    for samples in scrapes:
        assert value(samples, "modelrouter_selection_answers_total", kind="selection") > 20
        assert value(samples, "modelrouter_budget_rejections_total") > 0
        assert value(samples, "modelrouter_budget_limit_usd", agent_type="SA", window="per-hour") == limit
        spent = value(samples, "modelrouter_budget_spent_usd", agent_type="SA", window="per-hour")
        assert spent == pytest.approx(sum(flood.chosen))
