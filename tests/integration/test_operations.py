"""The operations port of a real worker: Prometheus /metrics moves while events flow, and the
health query (on the requests topic, `modelrouter health`, /health.json) shows circuits and cooldowns."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import aiohttp
import orjson
import pytest

from modelrouter.agents import SelectionClient
from modelrouter.agents.kafka import ensure_topics
from modelrouter.cli.worker_process import wait_until_answering
from modelrouter.schemas import (
    Constraints,
    RateLimited,
    Settings,
    TaskInfo,
    encode,
)

from kafka_helpers import eventually, publish_all
from ops_helpers import BASE, REGISTRY, Samples, free_port, publish_raw, scrape, tasks, total, value

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]


async def test_metrics_move_and_health_shows_circuits_and_cooldowns(
    kafka_settings: Settings, worker_factory
) -> None:
    port = free_port()
    settings = kafka_settings.model_copy(update={"metrics_port": port, "partitions": 2})
    await ensure_topics(settings)
    await publish_raw(settings, "registry", ((m.model_id.encode(), encode(m)) for m in REGISTRY))
    worker = worker_factory(settings)
    worker.start()
    async with SelectionClient(settings) as client:
        await wait_until_answering(client, worker, 120, base=BASE, in_a_row=3)
        before = await scrape(port)

        # Events flow: 400 successes, 6 failures in a row of `broken`, a long rate limit on
        # `limited`, and 5 records that are not JSON.
        rate_limit = RateLimited(occurred_at=datetime.now(UTC), agent_type="SA", model_id="limited",
                                 provider="anthropic", retry_after_s=900)  # fmt: skip
        await publish_all(
            settings, [*tasks("steady", 400, ok=True), *tasks("broken", 6, ok=False), rate_limit]
        )
        await publish_raw(settings, "task-completed", [(b"steady", b"{not json")] * 5)
        for i in range(10):
            await client.select(client.request("SA", TaskInfo(task_id=f"s{i}"), base_assignment=BASE))
        nothing_fits = Constraints(excluded_models=("steady", "limited", "broken"))
        fallback = await client.select(
            client.request("SA", TaskInfo(task_id="none"), base_assignment=BASE, constraints=nothing_fits)
        )
        assert fallback.fallback_used

        def moved(s: Samples) -> bool:
            return (
                value(s, "modelrouter_events_folded_total", topic="task-completed") >= 406
                and value(s, "modelrouter_open_circuits") == 1
                and value(s, "modelrouter_active_cooldowns") == 1
                # The bad records follow `steady`'s 400 on their partition: counted a moment later.
                and value(s, "modelrouter_dead_lettered_total", source="events", reason="json_invalid") >= 5
                # The decisions log (on by default): the 11 answers above, and the readiness probes'.
                and value(s, "modelrouter_decision_records_total", outcome="published") >= 11
            )

        after = await eventually(lambda: scrape(port), moved, timeout_s=60)
        assert value(after, "modelrouter_events_folded_total", topic="task-completed") == 406, (
            worker.log_tail()
        )
        assert value(after, "modelrouter_events_folded_total", topic="rate-limited") == 1
        assert value(after, "modelrouter_dead_lettered_total", source="events", reason="json_invalid") == 5
        assert value(after, "modelrouter_decision_records_total", outcome="dropped") == 0
        assert value(after, "modelrouter_decision_records_total", outcome="failed") == 0
        assert value(after, "modelrouter_model_circuit_open", model="broken") == 1.0
        assert value(after, "modelrouter_model_circuit_open", model="steady") == 0.0
        assert 800 < value(after, "modelrouter_model_cooldown_seconds", model="limited") <= 900
        assert (
            value(after, "modelrouter_selection_fallbacks_total")
            - value(before, "modelrouter_selection_fallbacks_total")
            == 1
        )
        answered = value(after, "modelrouter_selection_answers_total", kind="selection")
        assert answered - value(before, "modelrouter_selection_answers_total", kind="selection") == 11
        assert value(after, "modelrouter_selection_requests_total") >= answered
        latency_count = value(after, "modelrouter_request_latency_seconds_count")
        assert (
            latency_count == value(after, "modelrouter_request_latency_seconds_bucket", le="+Inf") >= answered
        )
        assert value(after, "modelrouter_request_latency_seconds_sum") > 0
        assert total(after, "modelrouter_changelog_records_sent_total") > total(
            before, "modelrouter_changelog_records_sent_total"
        )
        lag = {labels: v for (n, labels), v in after.items() if n == "modelrouter_consumer_lag_records"}
        topics = {dict(labels)["topic"] for labels in lag}
        assert settings.topic("task-completed") in topics and len({dict(k)["partition"] for k in lag}) == 2
        assert all(v >= 0 for v in lag.values())
        stream_lag = [v for (n, _), v in after.items() if n == "modelrouter_stream_time_lag_seconds"]
        assert stream_lag and all(0 <= v < 120 for v in stream_lag)
        assert value(after, "modelrouter_table_recovery_in_progress") == 0.0

        # More events: the counter moves on by exactly as many.
        await publish_all(settings, tasks("steady", 250, ok=True, start=400))
        later = await eventually(
            lambda: scrape(port),
            lambda s: value(s, "modelrouter_events_folded_total", topic="task-completed") >= 656,
            timeout_s=60,
        )
        assert value(later, "modelrouter_events_folded_total", topic="task-completed") == 656

        # The health query on the requests topic: why each model is avoided (once the
        # scorecards, sent on the worker's 1 s timer, carry the last events).
        health = await eventually(
            client.health, lambda h: any(r.requests == 650 for r in h.models), timeout_s=30
        )
    by_model = {r.model_id: r for r in health.models}
    assert sorted(by_model) == ["broken", "limited", "steady"]
    broken, limited, steady = by_model["broken"], by_model["limited"], by_model["steady"]
    assert (broken.circuit, broken.circuit_reason) == ("open", "after 6 consecutive failures")
    assert broken.recent_failures == {"timeout": 6} and broken.failure_streak == 6
    assert broken.circuit_open_until is not None and broken.circuit_open_until > health.as_of
    assert limited.in_cooldown and limited.cooldown_until == rate_limit.occurred_at + timedelta(seconds=900)
    assert (steady.circuit, steady.in_cooldown, steady.provider, steady.requests) == (
        "closed",
        False,
        "openai",
        650,
    )

    # The same from the command line, and from the operations port.
    env = {**os.environ, **settings.to_env()}
    out = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "modelrouter.cli", "health"], env=env,
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert "open after 6 consecutive failures" in out.stdout
    assert "timeout x6" in out.stdout and "2 of 3 models avoided or probed now" in out.stdout
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/health.json") as resp:
        served = orjson.loads(await resp.read())
    assert {m["model_id"]: m["circuit"] for m in served["models"]} == {
        "broken": "open", "limited": "closed", "steady": "closed",
    }  # fmt: skip
