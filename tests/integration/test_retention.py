"""Events older than retention are counted, not folded; stored buckets past retention are
deleted, also when they were restored after a restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from modelrouter.agents import EventPublisher
from modelrouter.schemas import Settings

from kafka_helpers import bucket_totals, eventually

pytestmark = pytest.mark.kafka


@pytest.mark.timeout(300)
async def test_retention_drops_old_events_and_expires_restored_buckets(
    kafka_settings: Settings, worker_factory
) -> None:
    # 36 s of retention and 10 s buckets: a whole lifecycle in about a minute.
    settings = kafka_settings.model_copy(
        update={"retention_hours": 0.01, "bucket_seconds": 10, "grace_seconds": 1}
    )
    worker = worker_factory(settings)
    worker.start()
    now = datetime.now(UTC)
    async with EventPublisher(settings) as pub:
        for i in range(30):
            for model, at in (("old-model", now - timedelta(seconds=300)), ("fresh-model", now)):
                await pub.task_completed(
                    agent_type="SA",
                    task_id=f"{model}-{i}",
                    model_id=model,
                    provider="p",
                    success=True,
                    latency_ms=10.0,
                    cost=0.001,
                    input_tokens=1,
                    output_tokens=1,
                    occurred_at=at,
                    wait=False,
                )

    got = await eventually(lambda: bucket_totals(settings), lambda t: "fresh-model" in t, timeout_s=60)
    assert got["fresh-model"]["requests"] == 30
    assert "old-model" not in got  # older than retention: counted, not folded

    # Restart: the fresh buckets now come back from the worker's state, and must still expire.
    worker.stop()
    worker.start()
    gone = await eventually(
        lambda: bucket_totals(settings), lambda t: "fresh-model" not in t, timeout_s=120, every_s=2
    )
    assert "fresh-model" not in gone, worker.log_text()[-2000:]
    assert "expired" in worker.log_text()
