"""Two deployments on one cluster, told apart by their topic prefix alone, share nothing
(issue 16): each worker folds and keeps only its own deployment's events."""

from __future__ import annotations

import pytest

from modelrouter.agents import EventPublisher
from modelrouter.schemas import Settings, TaskCompleted
from modelrouter.schemas.settings import DEFAULT_APP_ID

from kafka_helpers import bucket_totals, eventually

pytestmark = pytest.mark.kafka


def event(model: str, i: int) -> TaskCompleted:
    return TaskCompleted(
        agent_type="SA", task_id=f"t-{i}", model_id=model, provider="openai", success=True,
        latency_ms=100.0, cost=0.25, input_tokens=10, output_tokens=5,
    )  # fmt: skip


async def test_two_prefixes_with_the_default_app_id_see_only_their_own_events(
    kafka_settings: Settings, worker_factory
) -> None:
    # Same app id and same state folder: only the prefixes differ.
    first, second = (
        kafka_settings.model_copy(
            update={"topic_prefix": f"{kafka_settings.topic_prefix}{name}.", "app_id": DEFAULT_APP_ID}
        )
        for name in ("one", "two")
    )
    assert first.worker_id != second.worker_id
    workers = [worker_factory(first), worker_factory(second)]
    for w in workers:
        w.start()
    for settings, model, n in ((first, "model-one", 3), (second, "model-two", 5)):
        async with EventPublisher(settings) as publisher:
            for i in range(n):
                await publisher.publish(event(model, i))

    async def totals(settings: Settings) -> dict[str, tuple[int, int]]:
        return {m: (t["requests"], t["cost_pico"]) for m, t in (await bucket_totals(settings)).items()}

    one = await eventually(
        lambda: totals(first), lambda t: t == {"model-one": (3, 750_000_000_000)}, timeout_s=90
    )
    two = await eventually(
        lambda: totals(second), lambda t: t == {"model-two": (5, 1_250_000_000_000)}, timeout_s=90
    )
    assert one == {"model-one": (3, 750_000_000_000)}, workers[0].log_text()[-2000:]
    assert two == {"model-two": (5, 1_250_000_000_000)}, workers[1].log_text()[-2000:]
    assert all(w.alive for w in workers)
