"""The broker the demo needs: started with the packaged recipe (modelrouter kafka up) when none answers.
(Its worker runs through ..worker_process, like every other worker child process.)"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from typing import TextIO

from modelrouter.schemas import ModelRouterError, Settings

__all__ = ["DemoError", "broker_reachable", "ensure_broker"]

_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
DEFAULT_PORT = 9092


class DemoError(ModelRouterError):
    """The demo cannot go on; the message says what went wrong and what to do."""


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
    from modelrouter.local_kafka import broker as recipe

    port = local[0][1]
    argv = ["up", "--port", str(port)]
    if port != DEFAULT_PORT and "MODELROUTER_KAFKA_DATA_DIR" not in os.environ:
        # The recipe keeps one broker per data folder: another port needs a folder of its own.
        argv += ["--data-dir", str(recipe.DEFAULT_DATA_DIR.with_name(f"kafka-{port}"))]
    print(
        f"no Kafka at {settings.bootstrap_servers}: starting a local broker (modelrouter kafka up; its "
        "first run downloads Kafka's jars with Maven, which takes a minute or two)",
        file=out,
        flush=True,
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "modelrouter.local_kafka.broker",
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await proc.communicate()
    text = output.decode(errors="replace").strip()
    if proc.returncode != 0:
        raise DemoError(f"could not start Kafka: {text or f'exit code {proc.returncode}'}")
    if text:
        print(text, file=out, flush=True)
    return " ".join(["modelrouter", "kafka", "down", *argv[1:]])
