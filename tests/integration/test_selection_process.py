"""MODELROUTER_SELECTION_PROCESS: a real worker answers selections from a child process of its
own, counts the child's answers in its metrics, and leaves no child behind when it is killed."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from modelrouter.agents import SelectionClient
from modelrouter.agents.kafka import ensure_topics
from modelrouter.cli.worker_process import wait_until_answering
from modelrouter.schemas import Settings, TaskInfo, encode

from kafka_helpers import eventually
from ops_helpers import BASE, REGISTRY, free_port, publish_raw, scrape, value

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]

_CHILD = "modelrouter.streams.responder_process"


def children(pid: int) -> list[int]:
    """The processes `pid` started (Linux /proc), whatever they run."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                found.append(int(entry.name))
    return found


def command_line(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


async def test_a_worker_answers_from_its_selection_process_and_counts_its_answers(
    kafka_settings: Settings, worker_factory
) -> None:
    port = free_port()
    settings = kafka_settings.model_copy(update={"metrics_port": port, "selection_process": True})
    await ensure_topics(settings)
    await publish_raw(settings, "registry", ((m.model_id.encode(), encode(m)) for m in REGISTRY))
    worker = worker_factory(settings)
    worker.start()
    async with SelectionClient(settings) as client:
        await wait_until_answering(client, worker, 120, base=BASE, in_a_row=3)
        assert worker.pid is not None
        answering = [p for p in children(worker.pid) if _CHILD in command_line(p)]
        assert len(answering) == 1, (children(worker.pid), worker.log_tail())
        child = answering[0]

        # The readiness answers, once the child's next snapshots have carried them all.
        await eventually(
            lambda: scrape(port),
            lambda s: value(s, "modelrouter_selection_answers_total", kind="selection") >= 3,
            timeout_s=15,
        )
        await asyncio.sleep(2.5)
        before = await scrape(port)
        replies = [
            await client.select(client.request("SA", TaskInfo(task_id=f"p{i}"), base_assignment=BASE))
            for i in range(12)
        ]
        assert {r.selected_model_id for r in replies} == {"steady"}
        assert not any(r.fallback_used for r in replies)

        # The child's stats reach the worker's /metrics within its one-second snapshot.
        def counted(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> bool:
            return (
                value(samples, "modelrouter_selection_answers_total", kind="selection")
                - value(before, "modelrouter_selection_answers_total", kind="selection")
                >= 12
            )

        after = await eventually(lambda: scrape(port), counted, timeout_s=15)
        assert (
            value(after, "modelrouter_selection_answers_total", kind="selection")
            - value(before, "modelrouter_selection_answers_total", kind="selection")
            == 12
        )
        assert value(after, "modelrouter_request_latency_seconds_count") >= 15  # 3 readiness + 12
        # The worker's own views still serve health: the registry's models are there.
        assert value(after, "modelrouter_model_circuit_open", model="steady") == 0.0

    # SIGKILL to the worker alone (not its group): the child sees its stdin close and ends.
    os.kill(worker.pid, signal.SIGKILL)
    await asyncio.to_thread(worker.proc.wait, 30)  # type: ignore[union-attr]
    gone = await eventually(lambda: asyncio.sleep(0.2, result=alive(child)), lambda a: not a, timeout_s=30)
    assert gone is False
