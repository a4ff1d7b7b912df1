"""kafka/broker.py: up twice leaves one broker, down stops it, up after down works again."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.kafka

SCRIPT = Path(__file__).resolve().parents[2] / "kafka" / "broker.py"


def run(*args: str, data_dir: Path, port: int) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MODELROUTER_KAFKA_PORT": str(port),
        "MODELROUTER_KAFKA_DATA_DIR": str(data_dir),
        "MODELROUTER_KAFKA_HEAP": "256m",
    }
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def java_brokers_for(data_dir: Path) -> list[str]:
    out = subprocess.run(
        ["pgrep", "-f", f"kafka.Kafka {data_dir}/server.properties"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.split()


def test_up_is_idempotent_and_down_stops_it(tmp_path: Path, bootstrap_servers: str) -> None:
    port = 19392
    data = tmp_path / "kafka"
    try:
        first = run("up", data_dir=data, port=port)
        assert first.returncode == 0, first.stderr
        assert "Kafka started: pid" in first.stdout and f"127.0.0.1:{port}" in first.stdout
        assert str(data / "broker.log") in first.stdout
        second = run("up", data_dir=data, port=port)
        assert second.returncode == 0 and "already running" in second.stdout
        assert len(java_brokers_for(data)) == 1
        assert run("status", data_dir=data, port=port).returncode == 0

        down = run("down", data_dir=data, port=port)
        assert down.returncode == 0 and "Kafka stopped" in down.stdout
        assert java_brokers_for(data) == []
        assert run("status", data_dir=data, port=port).returncode == 1

        again = run("up", data_dir=data, port=port)
        assert again.returncode == 0 and "Kafka started" in again.stdout
        assert len(java_brokers_for(data)) == 1
    finally:
        run("down", data_dir=data, port=port)


def test_missing_java_is_explained(tmp_path: Path) -> None:
    env = {
        "PATH": str(tmp_path),
        "MODELROUTER_KAFKA_PORT": "19394",
        "MODELROUTER_KAFKA_DATA_DIR": str(tmp_path),
    }
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "up"], env=env, capture_output=True, text=True, check=False
    )
    assert out.returncode == 1
    assert "`java` was not found on PATH: install a Java 17+ runtime" in out.stderr
