"""The README's Python snippets run as written against the real broker."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from modelrouter.schemas import Settings, decode_event

from kafka_helpers import read_topic

pytestmark = pytest.mark.kafka

README = Path(__file__).resolve().parents[2] / "README.md"


def python_snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_the_readme_has_snippets() -> None:
    assert len(python_snippets()) >= 1


@pytest.mark.parametrize("index", range(len(python_snippets())))
async def test_readme_snippet_runs(index: int, kafka_settings: Settings) -> None:
    env = {**os.environ, **kafka_settings.to_env()}
    out = subprocess.run(
        [sys.executable, "-c", python_snippets()[index]],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    if "EventPublisher" in python_snippets()[index]:
        records = await read_topic(kafka_settings, kafka_settings.topic("task-completed"))
        assert [decode_event(v).type for _, v in records if v] == ["task_completed"]
