"""Summaries are current: the buckets still open count, marked provisional, with the data's age."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from modelrouter.agents import SelectionClient
from modelrouter.schemas import SelectionTimeout, Settings, SummaryReply, TaskCompleted

from kafka_helpers import eventually, publish_all

pytestmark = pytest.mark.kafka

MODELS = ("gpt-4o", "claude-3-5-sonnet")


async def test_summary_counts_open_buckets_as_provisional(kafka_settings, worker_factory) -> None:
    # Buckets of 10 minutes: the one the events fall in stays open for the whole test.
    settings = kafka_settings.model_copy(update={"bucket_seconds": 600, "partitions": 2})
    now = datetime.now(UTC)
    newest = now - timedelta(seconds=2)
    events = [
        TaskCompleted(
            occurred_at=newest - timedelta(milliseconds=i),
            agent_type="SA",
            task_id=f"t{i}",
            model_id=MODELS[i % 2],
            provider="p",
            success=i % 5 != 0,
            latency_ms=100.0,
            cost=0.001,
            input_tokens=1,
            output_tokens=1,
        )
        for i in range(2000)
    ]
    worker = worker_factory(settings)
    worker.start()
    await publish_all(settings, events)
    async with SelectionClient(settings) as client:

        async def ask() -> SummaryReply | None:
            try:
                return await client.summary(None, 1.0, deadline_ms=5000)
            except SelectionTimeout:  # the worker is still starting
                return None

        reply = await eventually(ask, lambda r: r is not None and r.total_requests == 2000, timeout_s=90)
    assert reply is not None and reply.total_requests == 2000, worker.tail()
    assert reply.provisional_requests == 2000  # all in the open bucket, and said so
    assert reply.provisional_cost == pytest.approx(2.0)
    assert [(m.model_id, m.requests, m.provisional_requests) for m in reply.models] == [
        ("claude-3-5-sonnet", 1000, 1000),
        ("gpt-4o", 1000, 1000),
    ]
    assert reply.average_success_rate == pytest.approx(0.8)
    assert reply.data_through is not None and reply.data_age_s is not None
    assert abs((reply.data_through - newest).total_seconds()) < 0.001  # the newest event's time
    assert reply.data_age_s >= 2.0

    # The command line says the same, in JSON and in its table.
    line = json.loads(await summary_command(settings, "--json"))
    assert (line["total_requests"], line["provisional_requests"]) == (2000, 2000)
    table = await summary_command(settings)
    assert "2,000 requests, $2 in buckets still open" in table
    assert "s old)" in table


async def summary_command(settings: Settings, *args: str) -> str:
    def call() -> str:
        return subprocess.run(
            [sys.executable, "-m", "modelrouter.cli", "summary", "--window-hours", "1", *args],
            env={**os.environ, **settings.to_env()},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout

    return await asyncio.to_thread(call)
