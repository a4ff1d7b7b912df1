"""A broker that goes away (issue 16), on a throwaway broker of this module's own:

- the publisher never waits without bound: publish gives up after the delivery timeout with
  an error naming the broker and the event, and every event it reported sent is in the topic
  once the broker is back;
- errors name the part that failed: no worker answering, the worker's error reply, the broker;
- during the outage the worker and a client log one line per cause every few seconds."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelrouter.agents import EventPublisher, SelectionClient
from modelrouter.schemas import (
    BaseAssignment,
    EventNotDelivered,
    SelectionBrokerUnavailable,
    SelectionTimeout,
    Settings,
    TaskCompleted,
    TaskInfo,
    WorkerErrorReply,
    decode_event,
)

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


async def test_errors_name_the_failing_part_and_an_outage_logs_one_line_per_cause(
    kafka_settings: Settings, broker: ThrowawayBroker, worker_factory, caplog: pytest.LogCaptureFixture
) -> None:
    settings = kafka_settings.model_copy(update={"bootstrap_servers": broker.address})
    base = BaseAssignment(role_type="architect", model_tier="premium", primary_model="a", fallback_model="b")
    async with SelectionClient(settings) as client:
        request = client.request("SA", TaskInfo(task_id="t1"), base_assignment=base)
        # The broker takes the request; no worker runs yet.
        with pytest.raises(SelectionTimeout, match=r"no worker answered") as no_worker:
            await client.select(request, deadline_ms=1000, raise_on_timeout=True)
        assert not isinstance(no_worker.value, SelectionBrokerUnavailable)
        with pytest.raises(SelectionTimeout, match=r"no worker answered"):
            await client.summary(None, deadline_ms=1000)

        worker = worker_factory(settings)
        worker.start()

        # No registry yet: a running worker answers a request with no fallback with an error.
        bare = client.request("SA", TaskInfo(task_id="t2"))
        outcome: object = None
        for _ in range(60):
            try:
                outcome = await client.select(bare, deadline_ms=2000, raise_on_timeout=True)
            except WorkerErrorReply as exc:
                outcome = exc
            except SelectionTimeout:
                continue
            break
        assert isinstance(outcome, WorkerErrorReply), (outcome, worker.log_text()[-2000:])
        assert outcome.code == "no_candidate" and "the worker answered with an error" in str(outcome)

        lines_before = len(worker.log_text().splitlines())
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="aiokafka"):
            broker.down()
            reply = await client.select(request, deadline_ms=250)
            assert reply.fallback_used and reply.reasoning.startswith(
                f"no selection reply within 250 ms (deadline): the broker at {broker.address} is "
                "unreachable (no connection; the request was not delivered)"
            )
            with pytest.raises(
                SelectionBrokerUnavailable,
                match=r"no summary reply .* the broker at 127.0.0.1:19492 is unreachable",
            ):
                await client.summary(None, deadline_ms=500)
            await asyncio.sleep(12)  # an outage long enough for aiokafka to retry a few hundred times
            client_lines = [r for r in caplog.records if r.name.startswith("aiokafka")]
        outage_log = worker.log_text().splitlines()[lines_before:]
        assert worker.alive
    # One line per cause every 5 s (log_repeat_interval_s), tracebacks included: a few dozen
    # lines, where each retry logged its own (~330 lines a second from a worker, issue 16).
    kinds = {(r.name, r.msg) for r in client_lines}
    assert len(client_lines) <= 4 * len(kinds), [r.getMessage() for r in client_lines]
    worker_errors = [line for line in outage_log if "[ERROR]" in line or "[WARNING]" in line]
    assert len(worker_errors) < 120, "\n".join(outage_log[-200:])
