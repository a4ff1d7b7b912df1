"""A secured broker (`kafka/broker.py up --secure`: SASL_SSL, SCRAM-SHA-512, ACLs): the worker,
the SDK and the CLI work with their principals' credentials; bad credentials, none, or an
untrusted certificate fail fast with one clear line; the agent cannot read the tables."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError

from modelrouter.agents import BudgetBook, EventPublisher, SelectionClient
from modelrouter.agents.kafka import ensure_topics
from modelrouter.schemas import (
    DecisionRecord,
    ModelSpec,
    SelectionRequest,
    Settings,
    TaskInfo,
    TopicSpec,
    WindowSummary,
    decode,
    encode,
)
from modelrouter.streams.unreadable import _RawFetcher

from kafka_helpers import eventually, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]
PORT = 19592  # (19092+ is for brokers tests start; this one is unusual enough not to collide)
PREFIX = "sec."
APP = "sec-worker"


def broker(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "kafka" / "broker.py"),
            *args,
            "--port",
            str(PORT),
            "--data-dir",
            str(data),
        ],
        env={**os.environ, "MODELROUTER_KAFKA_HEAP": "384m"},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture(scope="module")
def secure_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    data = tmp_path_factory.mktemp("secure-kafka")
    up = broker("up", "--secure", "--topic-prefix", PREFIX, "--app-id", APP, data=data)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "secured (SASL_SSL, SCRAM-SHA-512)" in up.stdout
        yield data / "secure"
    finally:
        broker("down", data=data)


def passwords(secure_dir: Path) -> list[str]:
    return list(json.loads((secure_dir / "passwords.json").read_text()).values())


def env_of(secure_dir: Path, user: str) -> dict[str, str]:
    lines = (secure_dir / f"{user}.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines)


def as_user(secure_dir: Path, user: str, tmp_path: Path, **changes: object) -> Settings:
    fields: dict[str, object] = {
        k.removeprefix("MODELROUTER_").lower(): v for k, v in env_of(secure_dir, user).items()
    }
    fields |= {"topic_prefix": PREFIX, "app_id": APP, "partitions": 2, "data_dir": tmp_path / "worker"}
    return Settings(_env_file=None, **(fields | changes))  # type: ignore[arg-type]


def event_fields(i: int) -> dict[str, object]:
    return {
        "agent_type": "SA",
        "task_id": f"t{i}",
        "model_id": "gpt-4o",
        "provider": "openai",
        "success": True,
        "latency_ms": 100.0,
        "cost": 0.001,
        "input_tokens": 10,
        "output_tokens": 5,
    }


async def test_worker_sdk_and_cli_work_with_their_credentials(
    secure_dir: Path, tmp_path: Path, worker_factory
) -> None:
    worker_s = as_user(secure_dir, "worker", tmp_path, decisions_log=True)
    agent_s = as_user(secure_dir, "agent", tmp_path)
    reader_s = as_user(secure_dir, "reader", tmp_path)
    await ensure_topics(worker_s)
    spec = ModelSpec(
        model_id="gpt-4o",
        provider="openai",
        capabilities=("chat",),
        tier="premium",
        context_window=128_000,
        input_cost_per_1k=0.0025,
        output_cost_per_1k=0.01,
    )
    producer = AIOKafkaProducer(**worker_s.aiokafka_kwargs())
    await producer.start()
    try:
        await producer.send_and_wait(worker_s.topic("registry"), encode(spec), key=b"gpt-4o")
    finally:
        await producer.stop()
    # Budgets: admin writes them, the reader reads them, the agent may not write them.
    admin_s = as_user(secure_dir, "admin", tmp_path)
    await BudgetBook(admin_s).set("SA", per_hour=100.0, per_day=None)
    assert {a: b.per_hour for a, b in (await BudgetBook(reader_s).read()).items()} == {"SA": 100.0}
    # Refused at the topic check (ensure_topics: Kafka error 29, topic authorization failed).
    with pytest.raises((TopicAuthorizationFailedError, RuntimeError), match=r"budgets|Authorization"):
        await BudgetBook(agent_s).set("SA", per_hour=1.0, per_day=None, timeout_s=10)
    worker = worker_factory(worker_s)
    worker.start()

    async with EventPublisher(agent_s) as publisher:
        for i in range(40):
            await publisher.task_completed(**event_fields(i), wait=False)
    publish = ["publish", "task-completed", "--agent-type", "SA", "--task-id", "cli", "--model-id", "gpt-4o"]
    publish += ["--provider", "openai", "--latency-ms", "100", "--cost", "0.001"]
    publish += ["--input-tokens", "1", "--output-tokens", "1"]
    cli = subprocess.run(
        [sys.executable, "-m", "modelrouter.cli", "--topic-prefix", PREFIX, *publish],
        env={**os.environ, **env_of(secure_dir, "agent")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr

    async def requests() -> int:  # read as the reader principal, from the summaries topic
        latest: dict[bytes, WindowSummary] = {}
        for key, value in await read_topic(reader_s, reader_s.topic("summaries")):
            if key is not None and value is not None:
                s = decode(WindowSummary, value)
                if s.window == "bucket" and s.agent_type is None:
                    latest[key] = s
        return sum(s.requests for s in latest.values())

    assert await eventually(requests, lambda n: n == 41, timeout_s=90) == 41, worker.log_text()[-3000:]

    async with SelectionClient(agent_s) as client:
        request = SelectionRequest(
            request_id="secure-1", reply_to=client.reply_topic, agent_type="SA", task=TaskInfo(task_id="t")
        )
        reply = await client.select(request, deadline_ms=10_000, raise_on_timeout=True)
    assert (reply.selected_model_id, reply.fallback_used) == ("gpt-4o", False)
    assert "budget: $" in reply.reasoning  # SA's budget was read, and the reservation shared

    async def logged() -> list[DecisionRecord]:  # what `modelrouter evaluate` and `explain` read, as reader
        values = [v for _, v in await read_topic(reader_s, reader_s.topic("decisions")) if v is not None]
        return [r for r in (decode(DecisionRecord, v) for v in values) if r.request_id == "secure-1"]

    records = await eventually(logged, lambda found: len(found) == 1, timeout_s=30)
    assert [(r.chosen_model_id, r.propensity) for r in records] == [("gpt-4o", 1.0)]

    for text in (worker.log_text(), (secure_dir.parent / "broker.log").read_text(), cli.stdout + cli.stderr):
        assert not [p for p in passwords(secure_dir) if p in text]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("wrong password", "the broker refused the SCRAM-SHA-512 login of user 'agent'"),
        ("no credentials", "the broker closed the connection: it may expect TLS and SASL"),
        ("untrusted certificate", "the broker's TLS certificate is not trusted"),
    ],
)
async def test_refused_fast_with_one_clear_line(
    secure_dir: Path, tmp_path: Path, case: str, expected: str
) -> None:
    changes: dict[str, object] = {
        "wrong password": {"sasl_password": "not-the-password"},
        "no credentials": {
            "security_protocol": "PLAINTEXT",
            "sasl_mechanism": None,
            "sasl_username": None,
            "sasl_password": None,
            "ssl_cafile": None,
        },
        "untrusted certificate": {"ssl_cafile": None},  # the system CAs do not know this broker's CA
    }[case]
    settings = as_user(secure_dir, "agent", tmp_path, **changes)
    started = time.monotonic()
    with pytest.raises(KafkaConnectionError) as caught:
        await asyncio.wait_for(EventPublisher(settings).start(), 30)
    took = time.monotonic() - started
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message
    assert not [p for p in passwords(secure_dir) if p in message]
    assert took < 15, took  # a bound against a hang, not a timing measurement

    # The CLI says the same in one line on stderr.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELROUTER_")}
    env |= settings.to_env()
    cli = subprocess.run(
        [sys.executable, "-m", "modelrouter.cli", "publish", "--json"],
        input=json.dumps({"type": "task_completed", **event_fields(0)}),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert cli.returncode == 1
    assert cli.stderr.count("\n") == 1 and expected in cli.stderr, cli.stderr


async def test_agent_cannot_read_the_tables_and_reader_cannot_publish(
    secure_dir: Path, tmp_path: Path
) -> None:
    worker_s = as_user(secure_dir, "worker", tmp_path)
    changelog = f"{PREFIX}{APP}-acl-buckets-changelog"  # under the worker id (Settings.worker_id)
    await ensure_topics(worker_s, [TopicSpec(changelog, 1, True, None)])
    producer = AIOKafkaProducer(**worker_s.aiokafka_kwargs())
    await producer.start()
    try:
        await producer.send_and_wait(changelog, b"state", key=b"k")
    finally:
        await producer.stop()

    # The worker reads its record back; the agent is refused the very same fetch.
    agent_s = as_user(secure_dir, "agent", tmp_path)
    async with _RawFetcher(worker_s, 2**20) as fetcher:
        raw, highwater = await fetcher.fetch(TopicPartition(changelog, 0), 0)
    assert highwater == 1 and b"state" in raw
    async with _RawFetcher(agent_s, 2**20) as fetcher:
        with pytest.raises(TopicAuthorizationFailedError):
            await fetcher.fetch(TopicPartition(changelog, 0), 0)
    agent = AIOKafkaConsumer(**agent_s.aiokafka_kwargs(), enable_auto_commit=False)
    await agent.start()
    try:
        assert changelog not in await agent.topics()  # not even listed
    finally:
        await agent.stop()

    reader_s = as_user(secure_dir, "reader", tmp_path)
    reader = AIOKafkaProducer(**reader_s.aiokafka_kwargs(), request_timeout_ms=5000)
    await reader.start()
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await reader.send_and_wait(reader_s.topic("task-completed"), b"{}", key=b"gpt-4o")
    finally:
        await reader.stop()
