"""bench/decisions.py keeps working: a few seconds of the demo's world through modelrouter (a real
worker), two LiteLLM Router strategies and the fixed assignment. Figures are not asserted: the
comparison is a benchmark (docs/benchmarks.md), this only checks its shape."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from modelrouter.schemas import Settings

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(300)]

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "decisions.py"
FIELDS = {
    "success_rate", "mean_quality", "cost_per_success", "p95_latency_ms", "outage_success_rate",
    "storm_success_rate", "total_cost", "calls", "tasks",
}  # fmt: skip


def test_a_short_run_prints_every_policy_as_json(kafka_settings: Settings) -> None:
    env = {**os.environ, **kafka_settings.to_env()}
    args = [
        "--seed",
        "3",
        "--seconds",
        "6",
        "--rate",
        "4",
        "--strategies",
        "simple-shuffle,cost-based-routing",
    ]
    run = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = orjson.loads(run.stdout.strip().splitlines()[-1])
    assert result["seed"] == 3
    policies = result["policies"]
    assert list(policies) == [
        "modelrouter", "litellm:simple-shuffle", "litellm:cost-based-routing", "fixed", "fixed+fallback",
    ]  # fmt: skip
    tasks = {p["tasks"] for p in policies.values()}
    assert len(tasks) == 1 and tasks.pop() > 5  # the same tasks for every policy
    for name, p in policies.items():
        assert set(p) == FIELDS, name
        assert 0.0 <= p["success_rate"] <= 1.0, name
        assert p["calls"] >= p["tasks"] * p["success_rate"], name
        if p["success_rate"] > 0:
            assert 0.0 < p["mean_quality"] <= 1.0, name
            assert p["cost_per_success"] > 0, name
    # Fixed (no failover) calls each model once: as many calls as tasks.
    assert policies["fixed"]["calls"] == policies["fixed"]["tasks"]
