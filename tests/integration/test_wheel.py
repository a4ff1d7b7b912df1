"""The built wheel runs anywhere (issue 14, point 5): in a fresh virtual environment and an empty
folder, with no source checkout in sight, `modelrouter kafka up`, `registry load`, `demo` and
`kafka down` work, the broker's jars and data going to the per-user folders (XDG)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from kafka_helpers import free_port_pair

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str | Path], *, timeout: float, **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )
    assert done.returncode == 0, (
        f"{args} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done


def test_the_wheel_installs_and_runs_the_demo_outside_the_checkout(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dist, ROOT], timeout=300)
    (wheel,) = dist.glob("modelrouter-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in (
        "modelrouter/config/model_registry.json",
        "modelrouter/config/optimizer.json",
        "modelrouter/local_kafka/broker.py",
        "modelrouter/local_kafka/pom.xml",
        "modelrouter/local_kafka/log4j2.properties",
        "modelrouter/local_kafka/Acls.java",
    ):
        assert shipped in names
    assert not any(n.startswith("modelrouter/local_kafka/lib/") for n in names)  # no jars in the wheel

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv], timeout=120)
    run([venv / "bin" / "pip", "install", "-q", wheel], timeout=600)
    cli = venv / "bin" / "modelrouter"
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELROUTER_", "PYTHON", "VIRTUAL_ENV"))}
    env |= {"XDG_CACHE_HOME": str(tmp_path / "cache"), "XDG_DATA_HOME": str(tmp_path / "data")}
    port = free_port_pair()
    up = run([cli, "kafka", "up", "--port", port], timeout=600, cwd=empty, env=env)
    assert "Kafka started" in up.stdout
    try:
        assert any((tmp_path / "cache" / "modelrouter" / "kafka-lib").glob("kafka_2.13-*.jar"))
        assert (tmp_path / "data" / "modelrouter" / "kafka" / "broker.pid").is_file()
        env["MODELROUTER_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{port}"
        loaded = run([cli, "registry", "load"], timeout=120, cwd=empty, env=env)
        assert "published" in loaded.stdout and "site-packages/modelrouter/config" in loaded.stdout
        demo = run([cli, "demo", "--seconds", "12", "--view", "plain"], timeout=600, cwd=empty, env=env)
        assert "Same tasks, same simulated world" in demo.stdout
        assert "success rate" in demo.stdout
    finally:
        down = subprocess.run(
            [str(cli), "kafka", "down", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=empty,
            env=env,
        )
    assert down.returncode == 0, down.stdout + down.stderr
