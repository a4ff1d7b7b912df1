"""The one way to run a worker as a child process (`python -m modelrouter.cli worker`), and the one
wait until it answers selections: used by the demo, the benchmarks and the integration tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from modelrouter.agents.selection_client import SelectionClient
from modelrouter.schemas import APIModelError, BaseAssignment, ModelRouterError, Settings, TaskInfo

__all__ = ["WorkerExited", "WorkerProcess", "WorkerSilent", "wait_until_answering"]


class WorkerExited(ModelRouterError):
    """The worker process ended while it was waited for; the message quotes its log."""


class WorkerSilent(ModelRouterError):
    """The worker runs but answered no selection in time."""


class WorkerProcess:
    """A worker subprocess in its own process group (stopping it reaches faust's children too),
    configured by `settings` through MODELROUTER_* variables and logging to `log_path`."""

    def __init__(
        self,
        settings: Settings,
        log_path: Path,
        *,
        loglevel: str = "info",
        python_options: Sequence[str] = (),
    ) -> None:
        self.settings = settings
        self.log_path = log_path
        self.loglevel = loglevel
        # e.g. ("-m", "cProfile", "-o", "out.prof") to profile the worker (bench/ingest.py)
        self.python_options = tuple(python_options)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def command(self) -> list[str]:
        return [
            sys.executable,
            *self.python_options,
            "-m",
            "modelrouter.cli",
            "worker",
            "--loglevel",
            self.loglevel,
        ]

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            # This interpreter and a module of this package: no shell, nothing user-built.
            self.proc = subprocess.Popen(  # noqa: S603
                self.command,
                env={**os.environ, **self.settings.to_env()},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def returncode(self) -> int | None:
        return self.proc.poll() if self.proc is not None else None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig: int = signal.SIGKILL, timeout_s: float = 60.0) -> None:
        """Send `sig` to the worker's process group and wait for it to exit."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=timeout_s)

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM to the worker's process group, SIGKILL if it has not exited after `timeout_s`;
        the exit code (None if it never started)."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return None if proc is None else proc.returncode
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill(signal.SIGKILL, timeout_s=10)
            return proc.returncode

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


async def wait_until_answering(
    client: SelectionClient,
    worker: WorkerProcess | None,
    timeout_s: float,
    *,
    base: BaseAssignment | None = None,
    agent_type: str = "readiness",
    in_a_row: int = 1,
) -> float:
    """Ask for selections until the worker has answered `in_a_row` in a row with a model of the
    registry (not a fallback; a worker that just started may still be rebalancing); the seconds
    it took. WorkerExited if `worker` exits, WorkerSilent past `timeout_s`."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    n = streak = 0
    while True:
        if worker is not None and not worker.alive:
            raise WorkerExited(
                f"the worker exited with code {worker.returncode}; its log {worker.log_path} ends:\n"
                f"{worker.log_tail()}"
            )
        n += 1
        request = client.request(agent_type, TaskInfo(task_id=f"readiness-{n}"), base_assignment=base)
        answered = False
        with contextlib.suppress(APIModelError):  # no reply yet (SelectionTimeout) or no connection yet
            reply = await client.select(request, deadline_ms=1000, raise_on_timeout=True)
            answered = not reply.fallback_used
        streak = streak + 1 if answered else 0
        if streak >= in_a_row:
            return loop.time() - started
        if loop.time() - started > timeout_s:
            where = f"; see {worker.log_path}" if worker is not None else ""
            raise WorkerSilent(f"no worker answered a selection within {timeout_s:g} s{where}")
        await asyncio.sleep(0.2 if answered else 0.5)
