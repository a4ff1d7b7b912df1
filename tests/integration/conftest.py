"""Integration fixtures: workers run as real processes against the real broker."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modelrouter.cli.worker_process import WorkerProcess
from modelrouter.schemas import Settings

pytestmark = pytest.mark.kafka


@pytest.fixture
def worker_factory(tmp_path: Path) -> Iterator[Callable[[Settings], WorkerProcess]]:
    workers: list[WorkerProcess] = []

    def make(settings: Settings) -> WorkerProcess:
        w = WorkerProcess(settings, tmp_path / f"worker-{len(workers)}.log")
        workers.append(w)
        return w

    yield make
    for w in workers:
        w.stop()
