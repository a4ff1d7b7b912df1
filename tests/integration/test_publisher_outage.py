"""The publisher never waits without bound (issue 16): with its broker gone, publish gives up
after the delivery timeout with an error naming the broker and the event, and every event
it reported sent is in the topic once the broker is back. Runs its own throwaway broker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelrouter.agents import EventPublisher
from modelrouter.schemas import EventNotDelivered, Settings, TaskCompleted, decode_event

from kafka_helpers import read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]

SCRIPT = Path(__file__).resolve().parents[2] / "kafka" / "broker.py"
PORT = 19492


class ThrowawayBroker:
    """A broker of this test's own (port 19492, its own data folder), stopped by the test."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.address = f"127.0.0.1:{PORT}"

    def _run(self, command: str) -> None:
        env = {**os.environ, "MODELROUTER_KAFKA_HEAP": "256m"}
        args = [sys.executable, str(SCRIPT), command, "--port", str(PORT), "--data-dir", str(self.data_dir)]
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=180, check=False)
        assert done.returncode == 0, done.stdout + done.stderr

    def up(self) -> None:
        self._run("up")

    def down(self) -> None:
        self._run("down")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[ThrowawayBroker]:
    b = ThrowawayBroker(tmp_path / "kafka")
    b.up()
    try:
        yield b
    finally:
        b.down()


def event(i: int) -> TaskCompleted:
    return TaskCompleted(
        agent_type="SA", task_id=f"t-{i}", model_id="gpt-4o", provider="openai", success=True,
        latency_ms=100.0, cost=0.01, input_tokens=10, output_tokens=5,
    )  # fmt: skip


async def fill_buffer(publisher: EventPublisher) -> None:
    for i in range(200_000):
        await asyncio.wait_for(publisher.publish(event(1000 + i), wait=False), 10)


async def test_publish_gives_up_after_the_delivery_timeout_naming_broker_and_event(
    kafka_settings: Settings, broker: ThrowawayBroker
) -> None:
    settings = kafka_settings.model_copy(
        update={"bootstrap_servers": broker.address, "delivery_timeout_s": 3.0}
    )
    publisher = EventPublisher(settings)
    await publisher.start()
    confirmed = [event(i) for i in range(20)]
    for ev in confirmed:
        await publisher.publish(ev)
    queued_ok = [event(i) for i in range(20, 40)]
    futures = [await publisher.publish(ev, wait=False) for ev in queued_ok]
    await asyncio.gather(*futures)  # type: ignore[arg-type]
    confirmed += queued_ok

    broker.down()
    lost = event(99)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(EventNotDelivered) as waited:
        await publisher.publish(lost)
    assert loop.time() - started < 3.0 + 2.0
    assert (waited.value.event_id, waited.value.bootstrap_servers) == (lost.event_id, broker.address)
    assert f"event {lost.event_id}" in str(waited.value) and broker.address in str(waited.value)

    # wait=False: the future fails the same way; one nobody awaited is reported by close().
    unawaited = event(100)
    later = await publisher.publish(unawaited, wait=False)
    assert later is not None
    with pytest.raises(EventNotDelivered, match=broker.address):
        await asyncio.wait_for(later, 10)
    # A full send buffer does not block for ever either: it raises the same error.
    with pytest.raises(EventNotDelivered, match=r"could not be queued|was not confirmed"):
        await fill_buffer(publisher)
    with pytest.raises(EventNotDelivered, match=r"published with wait=False were not confirmed"):
        await asyncio.wait_for(publisher.close(), 30)

    # Nothing reported as sent is missing.
    broker.up()
    records = await read_topic(settings, settings.topic("task-completed"), timeout_s=60)
    ids = {decode_event(v).event_id for _, v in records if v is not None}
    assert {ev.event_id for ev in confirmed} <= ids
