#!/usr/bin/env python3
"""Run a local single-node Apache Kafka 4.x broker (KRaft) from Maven Central jars.

No Docker needed: Maven fetches the broker jars once (kafka/pom.xml), Java 17+
runs them. Standard library only, so it works before the project is installed.

    python kafka/broker.py up        # start (or reuse) a broker, wait until it serves
    python kafka/broker.py status    # say whether it runs, where, and its log file
    python kafka/broker.py down      # stop the broker this script started (by its pid)

Port, controller port and data folder come from flags or from the environment
(MODELROUTER_KAFKA_PORT, MODELROUTER_KAFKA_CONTROLLER_PORT, MODELROUTER_KAFKA_DATA_DIR).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LIB = HERE / "lib"
POM = HERE / "pom.xml"
LOG4J_CONFIG = HERE / "log4j2.properties"
READY_LINE = "Kafka Server started"
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0


class BrokerError(Exception):
    """A broker operation failed; the message says what to do."""


@dataclass(frozen=True)
class BrokerConfig:
    port: int
    controller_port: int
    data_dir: Path
    heap: str

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "broker.log"

    @property
    def log_dirs(self) -> Path:
        return self.data_dir / "logs"

    @property
    def properties_file(self) -> Path:
        return self.data_dir / "server.properties"


def server_properties(cfg: BrokerConfig) -> str:
    """One combined broker+controller node; replication factor 1 for internal topics."""
    lines = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{cfg.controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{cfg.port},CONTROLLER://127.0.0.1:{cfg.controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{cfg.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(cfg.log_dirs),
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "4",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # Consumer groups start at once: tests and workers do not wait 3 s per join.
        "group.initial.rebalance.delay.ms": "0",
        # Topics are created with the contract's partitions and policies, never implicitly.
        "auto.create.topics.enable": "false",
        "log.retention.hours": "24",
    }
    return "".join(f"{k}={v}\n" for k, v in lines.items())


def require_tool(name: str, what: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BrokerError(f"`{name}` was not found on PATH: install {what} and run this again.")
    return path


def java_major(java: str) -> int:
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    # e.g. openjdk version "17.0.15" 2025-04-15
    for token in out.split():
        token = token.strip('"')
        if token[:1].isdigit():
            return int(token.split(".")[0])
    raise BrokerError(f"could not read the Java version from: {out!r}")


def ensure_jars() -> None:
    """Fetch the broker jars with Maven unless kafka/lib already holds them."""
    if LIB.is_dir() and any(LIB.glob("kafka_2.13-*.jar")) and LIB.stat().st_mtime >= POM.stat().st_mtime:
        return
    mvn = require_tool("mvn", "Apache Maven (Debian: apt-get install maven)")
    print(f"fetching Kafka jars with Maven into {LIB} (first run only) ...", flush=True)
    shutil.rmtree(LIB, ignore_errors=True)
    proc = subprocess.run([mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies"], check=False)
    if proc.returncode != 0:
        raise BrokerError(
            f"Maven could not fetch the Kafka jars (exit {proc.returncode}); see its output above."
        )
    LIB.touch()


def read_pid(cfg: BrokerConfig) -> int | None:
    try:
        pid = int(cfg.pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    # A recycled pid must belong to a java process started for this data folder.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return pid
    return pid if str(cfg.properties_file) in cmdline else None


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def log_says_ready(cfg: BrokerConfig, since: int) -> bool:
    try:
        with cfg.log_file.open("rb") as f:
            f.seek(since)
            return READY_LINE.encode() in f.read()
    except FileNotFoundError:
        return False


def format_storage(java: str, cfg: BrokerConfig) -> None:
    if (cfg.log_dirs / "meta.properties").exists():
        return
    cp = f"{LIB}/*"
    cluster_id = subprocess.run(
        [java, "-cp", cp, "kafka.tools.StorageTool", "random-uuid"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    proc = subprocess.run(
        [
            java,
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            "-cp",
            cp,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster_id,
            "-c",
            str(cfg.properties_file),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise BrokerError(f"formatting {cfg.log_dirs} failed: {proc.stdout}{proc.stderr}")


def up(cfg: BrokerConfig) -> int:
    pid = read_pid(cfg)
    if pid is not None:
        print(f"Kafka already running: pid {pid}, address {cfg.address}, log {cfg.log_file}")
        return 0
    if port_open(cfg.port):
        raise BrokerError(
            f"port {cfg.port} is taken by another process: stop it, or choose another port with --port"
        )
    java = require_tool("java", "a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)")
    if java_major(java) < 17:
        raise BrokerError("Kafka 4.x needs Java 17 or newer: install it and put it first on PATH.")
    ensure_jars()
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    cfg.properties_file.write_text(server_properties(cfg))
    format_storage(java, cfg)
    since = cfg.log_file.stat().st_size if cfg.log_file.exists() else 0
    with cfg.log_file.open("ab") as log:
        proc = subprocess.Popen(
            [
                java,
                f"-Xmx{cfg.heap}",
                f"-Xms{cfg.heap}",
                "-XX:+UseG1GC",
                f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
                "-cp",
                f"{LIB}/*",
                "kafka.Kafka",
                str(cfg.properties_file),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=cfg.data_dir,
        )
    cfg.pid_file.write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            cfg.pid_file.unlink(missing_ok=True)
            raise BrokerError(f"the broker exited with code {proc.returncode}; see {cfg.log_file}")
        if port_open(cfg.port) and log_says_ready(cfg, since):
            print(f"Kafka started: pid {proc.pid}, address {cfg.address}, log {cfg.log_file}")
            return 0
        time.sleep(0.25)
    raise BrokerError(f"the broker did not serve within {START_TIMEOUT_S:.0f} s; see {cfg.log_file}")


def down(cfg: BrokerConfig) -> int:
    pid = read_pid(cfg)
    if pid is None:
        cfg.pid_file.unlink(missing_ok=True)
        print(f"Kafka is not running (no live pid in {cfg.pid_file})")
        return 0
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline and read_pid(cfg) is not None:
        time.sleep(0.2)
    if read_pid(cfg) is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        print(f"Kafka did not stop within {STOP_TIMEOUT_S:.0f} s: killed pid {pid}")
    else:
        print(f"Kafka stopped: pid {pid}")
    cfg.pid_file.unlink(missing_ok=True)
    return 0


def status(cfg: BrokerConfig) -> int:
    pid = read_pid(cfg)
    if pid is None:
        print(f"Kafka is not running (data {cfg.data_dir})")
        return 1
    state = "serving" if port_open(cfg.port) else "starting"
    print(f"Kafka running ({state}): pid {pid}, address {cfg.address}, log {cfg.log_file}")
    return 0


def parse_args(argv: list[str]) -> tuple[str, BrokerConfig]:
    env = os.environ
    parser = argparse.ArgumentParser(prog="kafka/broker.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument(
        "--port",
        type=int,
        default=int(env.get("MODELROUTER_KAFKA_PORT", "9092")),
        help="client port on 127.0.0.1 (default 9092)",
    )
    parser.add_argument(
        "--controller-port",
        type=int,
        default=int(env.get("MODELROUTER_KAFKA_CONTROLLER_PORT", "0")) or None,
        help="KRaft controller port (default: client port + 1)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(env.get("MODELROUTER_KAFKA_DATA_DIR", ROOT / ".modelrouter" / "kafka")),
        help="folder for logs, pid and data (default .modelrouter/kafka)",
    )
    parser.add_argument(
        "--heap", default=env.get("MODELROUTER_KAFKA_HEAP", "768m"), help="JVM heap size (default 768m)"
    )
    args = parser.parse_args(argv)
    cfg = BrokerConfig(
        port=args.port,
        controller_port=args.controller_port or args.port + 1,
        data_dir=args.data_dir.resolve(),
        heap=args.heap,
    )
    return args.command, cfg


def main(argv: list[str] | None = None) -> int:
    command, cfg = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return {"up": up, "down": down, "status": status}[command](cfg)
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
