"""The processes the demo needs: a Kafka broker (started from the checkout's kafka/broker.py when
none answers) and a worker subprocess of its own, which it waits for and stops again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import TextIO

from modelrouter.agents.selection_client import SelectionClient
from modelrouter.schemas import APIModelError, BaseAssignment, ModelRouterError, Settings, TaskInfo

__all__ = [
    "DemoError",
    "WorkerProcess",
    "broker_reachable",
    "checkout_root",
    "ensure_broker",
    "wait_until_answering",
]

_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
DEFAULT_PORT = 9092


class DemoError(ModelRouterError):
    """The demo cannot go on; the message says what went wrong and what to do."""


def checkout_root() -> Path:
    """The source checkout this package runs from (streams/demo/ -> the root), through the
    editable install's link tree."""
    return Path(__file__).resolve().parents[2]


def _host_port(server: str) -> tuple[str, int]:
    host, _, port = server.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port or 9092)


def broker_reachable(settings: Settings, timeout_s: float = 1.0) -> bool:
    """Whether any bootstrap server accepts a TCP connection."""
    for server in settings.bootstrap_list:
        try:
            with socket.create_connection(_host_port(server), timeout=timeout_s):
                return True
        except (OSError, ValueError):
            continue
    return False


async def ensure_broker(settings: Settings, out: TextIO) -> str | None:
    """Start the checkout's local broker unless one answers. Returns the command that stops the
    broker this call started, None when one was running already."""
    if await asyncio.to_thread(broker_reachable, settings):
        return None
    servers = settings.bootstrap_list
    local = [_host_port(s) for s in servers if _host_port(s)[0] in _LOCAL_HOSTS]
    if len(servers) != 1 or not local:
        raise DemoError(
            f"cannot reach Kafka at {settings.bootstrap_servers}: start it, or unset "
            "MODELROUTER_BOOTSTRAP_SERVERS so the demo starts a local broker"
        )
    script = checkout_root() / "kafka" / "broker.py"
    if not script.is_file():
        raise DemoError(
            f"no Kafka at {settings.bootstrap_servers}, and no kafka/broker.py to start one (this is not a "
            "source checkout): start Kafka yourself, e.g. `docker compose up`"
        )
    port = local[0][1]
    argv = ["up", "--port", str(port)]
    if port != DEFAULT_PORT and "MODELROUTER_KAFKA_DATA_DIR" not in os.environ:
        # broker.py keeps one broker per data folder: another port needs a folder of its own.
        argv += ["--data-dir", str(checkout_root() / ".modelrouter" / f"kafka-{port}")]
    print(
        f"no Kafka at {settings.bootstrap_servers}: starting a local broker (kafka/broker.py up; its first "
        "run downloads Kafka's jars with Maven, which takes a minute or two)",
        file=out,
        flush=True,
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await proc.communicate()
    text = output.decode(errors="replace").strip()
    if proc.returncode != 0:
        raise DemoError(f"could not start Kafka with {script}: {text or f'exit code {proc.returncode}'}")
    if text:
        print(text, file=out, flush=True)
    return " ".join(["python", "kafka/broker.py", "down", *argv[1:]])


class WorkerProcess:
    """A `python -m modelrouter.streams.worker` subprocess in its own process group, logging to a file."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            # This interpreter and a module of this package: no shell, nothing user-built.
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "modelrouter.streams.worker", "--loglevel", "info"],
                env={**os.environ, **self.settings.to_env()},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own group: stopping it reaches faust's children too
            )

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM to the worker's process group, SIGKILL if it has not exited after `timeout_s`."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return None if proc is None else proc.returncode
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            return proc.wait(timeout=10)

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


async def wait_until_answering(
    client: SelectionClient, worker: WorkerProcess, base: BaseAssignment, timeout_s: float
) -> float:
    """Ask for selections until the worker answers one itself (not the client's fallback);
    returns the seconds it took. DemoError if the worker exits or stays silent."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    n = 0
    while True:
        if not worker.alive:
            raise DemoError(
                f"the worker exited with code {worker.returncode}; its log {worker.log_path} ends:\n"
                f"{worker.log_tail()}"
            )
        n += 1
        request = client.request("demo", TaskInfo(task_id=f"readiness-{n}"), base_assignment=base)
        with contextlib.suppress(APIModelError):  # no reply yet (SelectionTimeout) or no connection yet
            reply = await client.select(request, deadline_ms=1000, raise_on_timeout=True)
            if not reply.fallback_used:
                return loop.time() - started
        if loop.time() - started > timeout_s:
            raise DemoError(
                f"the worker did not answer a selection within {timeout_s:g} s; see {worker.log_path}"
            )
        await asyncio.sleep(0.5)
