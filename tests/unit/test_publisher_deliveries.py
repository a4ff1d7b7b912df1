"""EventPublisher's delivery futures: bounded by the delivery timeout, failures reported once,
nothing left pending when a waiter gives up first. No broker: the producer's futures are faked."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaTimeoutError

from modelrouter.agents import EventPublisher
from modelrouter.schemas import EventNotDelivered, Settings, TaskCompleted

EVENT = TaskCompleted(
    agent_type="SA", task_id="t", model_id="m", provider="p", success=True,
    latency_ms=1.0, cost=0.0, input_tokens=0, output_tokens=0,
)  # fmt: skip


def publisher(settings: Settings) -> EventPublisher:
    return EventPublisher(settings.model_copy(update={"delivery_timeout_s": 0.05}))


async def test_an_unconfirmed_delivery_fails_after_the_timeout_naming_broker_and_event(
    settings: Settings,
) -> None:
    pub = publisher(settings)
    queued: asyncio.Future[Any] = asyncio.get_running_loop().create_future()  # never confirmed
    delivery = pub._track(EVENT, queued, report_at_close=True)
    with pytest.raises(EventNotDelivered) as failed:
        await asyncio.wait_for(delivery, 1.0)
    assert (failed.value.event_id, failed.value.bootstrap_servers) == (
        EVENT.event_id,
        settings.bootstrap_servers,
    )
    assert f"event {EVENT.event_id} (task_completed) was not confirmed" in str(failed.value)
    assert [e.event_id for e in pub._undelivered] == [EVENT.event_id]  # close() reports it
    assert pub._pending == {}


async def test_a_failed_delivery_is_reported_and_a_confirmed_one_is_not(settings: Settings) -> None:
    pub = publisher(settings)
    loop = asyncio.get_running_loop()
    failing, confirmed = loop.create_future(), loop.create_future()
    bad = pub._track(EVENT, failing, report_at_close=False)  # a wait=True caller hears it itself
    good = pub._track(EVENT, confirmed, report_at_close=True)
    failing.set_exception(KafkaTimeoutError())
    confirmed.set_result("metadata")
    with pytest.raises(EventNotDelivered, match="KafkaTimeoutError"):
        await bad
    assert await good == "metadata"
    assert pub._undelivered == [] and pub._pending == {}


async def test_a_waiter_that_gives_up_first_leaves_nothing_pending(settings: Settings) -> None:
    pub = publisher(settings)
    queued: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    delivery = pub._track(EVENT, queued, report_at_close=True)
    delivery.cancel()
    await asyncio.sleep(0.1)  # past the delivery timeout: the expiry finds it cancelled
    queued.set_exception(KafkaTimeoutError())
    await asyncio.sleep(0)
    assert pub._pending == {} and pub._undelivered == []
