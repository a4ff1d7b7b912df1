"""Shared fixtures: one real Kafka broker per test run, and per-test settings."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelrouter.schemas import Settings

ROOT = Path(__file__).resolve().parent.parent
BROKER_SCRIPT = ROOT / "kafka" / "broker.py"


@pytest.fixture(scope="session")
def bootstrap_servers() -> Iterator[str]:
    """MODELROUTER_BOOTSTRAP_SERVERS if set; else the local broker (started here if none runs)."""
    given = os.environ.get("MODELROUTER_BOOTSTRAP_SERVERS")
    if given:
        yield given
        return
    status = subprocess.run([sys.executable, str(BROKER_SCRIPT), "status"], capture_output=True, check=False)
    started_here = status.returncode != 0
    up = subprocess.run(
        [sys.executable, str(BROKER_SCRIPT), "up"], capture_output=True, text=True, check=False
    )
    if up.returncode != 0:
        pytest.fail(f"could not start the local Kafka broker:\n{up.stdout}{up.stderr}")
    yield "127.0.0.1:" + os.environ.get("MODELROUTER_KAFKA_PORT", "9092")
    if started_here and not os.environ.get("MODELROUTER_KEEP_BROKER"):
        subprocess.run([sys.executable, str(BROKER_SCRIPT), "down"], capture_output=True, check=False)


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for one test: its own topic prefix, worker group id and state folder.

    Tests that need a broker take the `kafka_settings` fixture instead.
    """
    tag = f"{request.node.name[:40]}-{uuid.uuid4().hex[:8]}".replace("[", "-").replace("]", "")
    tag = "".join(c if c.isalnum() or c in "-_" else "-" for c in tag)
    return Settings(
        topic_prefix=f"test.{tag}.",
        app_id=f"test-{tag}",
        data_dir=tmp_path / "worker",
        partitions=4,
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
def kafka_settings(settings: Settings, bootstrap_servers: str) -> Settings:
    return settings.model_copy(update={"bootstrap_servers": bootstrap_servers})


# `make test` sets MODELROUTER_REQUIRE_KAFKA_TESTS=1: a run in which no `kafka` test
# passed (all skipped or deselected) then fails, so CI cannot go green without the broker.
_kafka_passed = 0


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    global _kafka_passed
    if report.when == "call" and report.passed and "kafka" in report.keywords:
        _kafka_passed += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("MODELROUTER_REQUIRE_KAFKA_TESTS") == "1" and exitstatus == 0 and _kafka_passed == 0:
        print("\nERROR: no `kafka` integration test passed; they must run against a real broker")
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.write_line(f"kafka integration tests passed: {_kafka_passed}")
