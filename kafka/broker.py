#!/usr/bin/env python3
"""Run a local single-node Apache Kafka 4.x broker (KRaft) from Maven Central jars.

No Docker needed: Maven fetches the broker jars once (kafka/pom.xml), Java 17+
runs them. Standard library only, so it works before the project is installed.

    python kafka/broker.py up        # start (or reuse) a broker, wait until it serves
    python kafka/broker.py status    # say whether it runs, where, and its log file
    python kafka/broker.py down      # stop the broker this script started (by its pid)
    python kafka/broker.py up --secure   # SASL_SSL (SCRAM-SHA-512), its own CA, ACLs
    python kafka/broker.py up --brokers 3   # a 3-node KRaft cluster on 127.0.0.1

A secured broker listens with SASL_SSL only. At its first start it makes a CA and a broker
certificate (with `openssl`), SCRAM users admin, worker, agent and reader with random
passwords, and grants the ACLs of docs/operations.md (kafka/Acls.java). Each user's client
settings are written to <data-dir>/secure/<user>.env as MODELROUTER_* lines (mode 0600):
`set -a; . .modelrouter/kafka/secure/worker.env; set +a`. No password is printed.

Port, controller port and data folder come from flags or from the environment
(MODELROUTER_KAFKA_PORT, MODELROUTER_KAFKA_CONTROLLER_PORT, MODELROUTER_KAFKA_DATA_DIR).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# A source checkout keeps the broker's jars and data beside the code (kafka/lib, .modelrouter/kafka);
# an installed package (a wheel: this file is modelrouter/local_kafka/broker.py) keeps them in the
# user's folders, $XDG_CACHE_HOME/modelrouter/kafka-lib and $XDG_DATA_HOME/modelrouter/kafka.
IN_CHECKOUT = (ROOT / "pyproject.toml").is_file()


def _user_folder(variable: str, fallback: str, name: str) -> Path:
    base = os.environ.get(variable) or str(Path.home() / fallback)
    return Path(base) / "modelrouter" / name


LIB = Path(
    os.environ.get("MODELROUTER_KAFKA_LIB_DIR")
    or (HERE / "lib" if IN_CHECKOUT else _user_folder("XDG_CACHE_HOME", ".cache", "kafka-lib"))
)
DEFAULT_DATA_DIR = (
    ROOT / ".modelrouter" / "kafka" if IN_CHECKOUT else _user_folder("XDG_DATA_HOME", ".local/share", "kafka")
)
POM = HERE / "pom.xml"
LOG4J_CONFIG = HERE / "log4j2.properties"
READY_LINE = "Kafka Server started"
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
ACLS_PROGRAM = HERE / "Acls.java"
USERS = ("admin", "worker", "agent", "reader")
SCRAM = "SCRAM-SHA-512"


class BrokerError(Exception):
    """A broker operation failed; the message says what to do."""


@dataclass(frozen=True)
class BrokerConfig:
    port: int
    controller_port: int
    data_dir: Path
    heap: str
    secure: bool = False
    # The names the ACLs of a secured broker are granted on (Settings.topic_prefix, app_id).
    topic_prefix: str = "modelrouter."
    app_id: str = "modelrouter-worker"
    node_id: int = 1
    voters: str = ""  # controller.quorum.voters of a cluster; "" for one node alone
    cluster_size: int = 1

    @property
    def worker_id(self) -> str:
        """The stem of the workers' groups and internal topics: Settings.worker_id's rule
        (app_id alone with the default prefix, else prefix + app_id)."""
        return self.app_id if self.topic_prefix == "modelrouter." else f"{self.topic_prefix}{self.app_id}"

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

    @property
    def secure_dir(self) -> Path:
        return self.data_dir / "secure"

    @property
    def listener(self) -> str:
        return "SASL_SSL" if self.secure else "PLAINTEXT"


def cluster_nodes(cfg: BrokerConfig, brokers: int) -> list[BrokerConfig]:
    """The nodes of a cluster on 127.0.0.1, each broker and controller (a quorum of all):
    node i listens on port + 2(i-1), its controller on the next port, data in node-i/."""
    if brokers == 1:
        return [cfg]
    nodes = [
        replace(
            cfg,
            node_id=i,
            port=cfg.port + 2 * (i - 1),
            controller_port=cfg.port + 2 * (i - 1) + 1,
            data_dir=cfg.data_dir / f"node-{i}",
            cluster_size=brokers,
        )
        for i in range(1, brokers + 1)
    ]
    voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in nodes)
    return [replace(n, voters=voters) for n in nodes]


def private_file(path: Path, text: str) -> None:
    """Write a file only its owner can read (passwords, keys)."""
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text)


def make_certificates(cfg: BrokerConfig) -> None:
    """A CA and a broker certificate for 127.0.0.1 signed by it (PEM files, in secure/)."""
    d = cfg.secure_dir
    if (d / "broker-keystore.pem").exists():
        return
    openssl = require_tool("openssl", "OpenSSL (Debian: apt-get install openssl)")

    def run(*args: str) -> None:
        proc = subprocess.run([openssl, *args], cwd=d, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BrokerError(f"openssl {args[0]} failed: {proc.stderr.strip()}")

    ca_ext = [
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "365", "-subj", "/CN=modelrouter local CA", *ca_ext)  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out", "broker.csr",
        "-subj", "/CN=127.0.0.1")  # fmt: skip
    (d / "broker.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "broker.crt", "-days", "365", "-extfile", "broker.ext")  # fmt: skip
    key, crt = (d / "broker.key").read_text(), (d / "broker.crt").read_text()
    private_file(d / "broker-keystore.pem", key + crt)
    for name in ("ca.key", "broker.key"):
        (d / name).chmod(0o600)


def passwords(cfg: BrokerConfig) -> dict[str, str]:
    """The SCRAM users' passwords, made at the first start and kept in secure/ (mode 0600)."""
    path = cfg.secure_dir / "passwords.json"
    if path.exists():
        return dict(json.loads(path.read_text()))
    made = {user: secrets.token_urlsafe(18) for user in USERS}
    private_file(path, json.dumps(made))
    return made


def write_client_files(cfg: BrokerConfig, pw: dict[str, str]) -> None:
    """<user>.env (MODELROUTER_* lines) per user, and admin.properties for Acls.java."""
    ca = cfg.secure_dir / "ca.pem"
    for user in USERS:
        lines = {
            "MODELROUTER_BOOTSTRAP_SERVERS": cfg.address,
            "MODELROUTER_SECURITY_PROTOCOL": "SASL_SSL",
            "MODELROUTER_SASL_MECHANISM": SCRAM,
            "MODELROUTER_SASL_USERNAME": user,
            "MODELROUTER_SASL_PASSWORD": pw[user],
            "MODELROUTER_SSL_CAFILE": str(ca),
        }
        private_file(cfg.secure_dir / f"{user}.env", "".join(f"{k}={v}\n" for k, v in lines.items()))
    private_file(
        cfg.secure_dir / "admin.properties",
        f"bootstrap.servers={cfg.address}\nsecurity.protocol=SASL_SSL\nsasl.mechanism={SCRAM}\n"
        f"sasl.jaas.config={jaas('admin', pw['admin'])}\n"
        f"ssl.truststore.type=PEM\nssl.truststore.location={ca}\n",
    )


def jaas(user: str, password: str) -> str:
    return (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{user}" password="{password}";'
    )


def secure_properties(cfg: BrokerConfig, pw: dict[str, str]) -> dict[str, str]:
    d = cfg.secure_dir
    return {
        "sasl.enabled.mechanisms": SCRAM,
        "sasl.mechanism.inter.broker.protocol": SCRAM,
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": jaas("admin", pw["admin"]),
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(d / "broker-keystore.pem"),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(d / "ca.pem"),
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        # admin: the broker itself and the ACL grants. ANONYMOUS: the node's own requests on
        # the PLAINTEXT controller listener (127.0.0.1 only; KRaft controllers take no SCRAM).
        "super.users": "User:admin;User:ANONYMOUS",
        "allow.everyone.if.no.acl.found": "false",
    }


def server_properties(cfg: BrokerConfig, pw: dict[str, str] | None = None) -> str:
    """One combined broker+controller node; replication factor 1 for internal topics."""
    lst = cfg.listener
    # A cluster of 3 or more keeps every record on 3 nodes and acknowledges a write once 2
    # have it: one node may die with nothing lost (min.insync.replicas).
    replicas = str(min(3, cfg.cluster_size))
    min_isr = "2" if cfg.cluster_size >= 3 else "1"
    lines = {
        "process.roles": "broker,controller",
        "node.id": str(cfg.node_id),
        "controller.quorum.voters": cfg.voters or f"1@127.0.0.1:{cfg.controller_port}",
        "listeners": f"{lst}://127.0.0.1:{cfg.port},CONTROLLER://127.0.0.1:{cfg.controller_port}",
        "advertised.listeners": f"{lst}://127.0.0.1:{cfg.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": lst,
        "listener.security.protocol.map": f"{lst}:{lst},CONTROLLER:PLAINTEXT",
        "log.dirs": str(cfg.log_dirs),
        "num.partitions": "1",
        "default.replication.factor": replicas,
        "min.insync.replicas": min_isr,
        "offsets.topic.replication.factor": replicas,
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": replicas,
        "transaction.state.log.min.isr": min_isr,
        "transaction.state.log.num.partitions": "4",
        "share.coordinator.state.topic.replication.factor": replicas,
        "share.coordinator.state.topic.min.isr": min_isr,
        # Consumer groups start at once: tests and workers do not wait 3 s per join.
        "group.initial.rebalance.delay.ms": "0",
        # Topics are created with the contract's partitions and policies, never implicitly.
        "auto.create.topics.enable": "false",
        "log.retention.hours": "24",
    }
    if cfg.cluster_size > 1:
        # A node that dies without a word (SIGKILL, power) loses its partitions' leadership
        # only once the controller fences it, after this long without a heartbeat: 9 s by
        # default: the test of a killed node (tests/integration/test_cluster.py) then measured
        # 12-13 s without a selection answer, and 3.6-7.4 s with 3 s.
        lines |= {"broker.session.timeout.ms": "3000", "broker.heartbeat.interval.ms": "1000"}
    if cfg.secure:
        assert pw is not None
        lines |= secure_properties(cfg, pw)
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
    # The jars go to LIB (a property of pom.xml), wherever this recipe is installed.
    command = [mvn, "-q", "-B", "-f", str(POM), f"-Dmodelrouter.lib={LIB}", "dependency:copy-dependencies"]
    proc = subprocess.run(command, check=False)
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


def cluster_id_of(java: str, nodes: list[BrokerConfig]) -> str:
    """The id the nodes were formatted with, or a new one when none was."""
    for node in nodes:
        meta = node.log_dirs / "meta.properties"
        if meta.exists():
            for line in meta.read_text().splitlines():
                if line.startswith("cluster.id="):
                    return line.split("=", 1)[1].strip()
    return subprocess.run(
        [java, "-cp", f"{LIB}/*", "kafka.tools.StorageTool", "random-uuid"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def format_storage(java: str, cfg: BrokerConfig, cluster_id: str, pw: dict[str, str] | None = None) -> None:
    if (cfg.log_dirs / "meta.properties").exists():
        return
    cp = f"{LIB}/*"
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
            # SCRAM users written with the first metadata (KIP-900): the broker starts with them.
            *(
                arg
                for u, p in (pw or {}).items()
                for arg in ("--add-scram", f"{SCRAM}=[name={u},password={p}]")
            ),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise BrokerError(f"formatting {cfg.log_dirs} failed: {redact(proc.stdout + proc.stderr, pw)}")


def redact(text: str, pw: dict[str, str] | None) -> str:
    for password in (pw or {}).values():
        text = text.replace(password, "***")
    return text


def grant_acls(java: str, cfg: BrokerConfig, pw: dict[str, str]) -> None:
    """The ACLs of worker, agent and reader (kafka/Acls.java), once per data folder and again
    when Acls.java changes (granting an ACL that exists already is a no-op)."""
    done = cfg.secure_dir / "acls-granted"
    granted = f"{cfg.topic_prefix} {cfg.worker_id} {hashlib.sha256(ACLS_PROGRAM.read_bytes()).hexdigest()}\n"
    if done.exists() and done.read_text() == granted:
        return
    proc = subprocess.run(
        [
            java,
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            "-cp",
            f"{LIB}/*",
            str(ACLS_PROGRAM),
            str(cfg.secure_dir / "admin.properties"),
            cfg.topic_prefix,
            cfg.worker_id,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if proc.returncode != 0:
        raise BrokerError(f"granting the ACLs failed: {redact(proc.stdout + proc.stderr, pw)[-2000:]}")
    done.write_text(granted)


def up(nodes: list[BrokerConfig]) -> int:
    """Start every node that does not run yet, then wait until each serves."""
    idle = []
    for cfg in nodes:
        pid = read_pid(cfg)
        if pid is not None:
            print(f"Kafka already running: pid {pid}, address {cfg.address}, log {cfg.log_file}")
        elif port_open(cfg.port):
            raise BrokerError(
                f"port {cfg.port} is taken by another process: stop it, or choose another port with --port"
            )
        else:
            idle.append(cfg)
    if not idle:
        return 0
    java = require_tool("java", "a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)")
    if java_major(java) < 17:
        raise BrokerError("Kafka 4.x needs Java 17 or newer: install it and put it first on PATH.")
    ensure_jars()
    cluster_id = cluster_id_of(java, nodes)
    # All nodes start before any is waited for: a controller quorum needs a majority up.
    started = [(cfg, *start_node(java, cfg, cluster_id)) for cfg in idle]
    for cfg, proc, since, pw in started:
        wait_until_serving(cfg, proc, since)
        if pw is not None:
            grant_acls(java, cfg, pw)
            print(f"secured (SASL_SSL, {SCRAM}): client settings in {cfg.secure_dir}/<user>.env")
        print(f"Kafka started: pid {proc.pid}, address {cfg.address}, log {cfg.log_file}")
    return 0


def start_node(
    java: str, cfg: BrokerConfig, cluster_id: str
) -> tuple[subprocess.Popen[bytes], int, dict[str, str] | None]:
    """(the node's process, where its log stood before it started, the secured users' passwords)."""
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    pw = None
    if cfg.secure:
        cfg.secure_dir.mkdir(mode=0o700, exist_ok=True)
        make_certificates(cfg)
        pw = passwords(cfg)
        write_client_files(cfg, pw)
        private_file(cfg.properties_file, server_properties(cfg, pw))
    else:
        cfg.properties_file.write_text(server_properties(cfg))
    format_storage(java, cfg, cluster_id, pw)
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
    return proc, since, pw


def wait_until_serving(cfg: BrokerConfig, proc: subprocess.Popen[bytes], since: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            cfg.pid_file.unlink(missing_ok=True)
            raise BrokerError(f"the broker exited with code {proc.returncode}; see {cfg.log_file}")
        if port_open(cfg.port) and log_says_ready(cfg, since):
            return
        time.sleep(0.25)
    raise BrokerError(f"the broker did not serve within {START_TIMEOUT_S:.0f} s; see {cfg.log_file}")


def down(nodes: list[BrokerConfig]) -> int:
    """Stop every node this script started (by its pid); SIGKILL what outlives the timeout."""
    stopping = []
    for cfg in nodes:
        pid = read_pid(cfg)
        if pid is None:
            cfg.pid_file.unlink(missing_ok=True)
            print(f"Kafka is not running (no live pid in {cfg.pid_file})")
            continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        stopping.append((cfg, pid))
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline and any(read_pid(cfg) is not None for cfg, _ in stopping):
        time.sleep(0.2)
    for cfg, pid in stopping:
        if read_pid(cfg) is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            print(f"Kafka did not stop within {STOP_TIMEOUT_S:.0f} s: killed pid {pid}")
        else:
            print(f"Kafka stopped: pid {pid}")
        cfg.pid_file.unlink(missing_ok=True)
    return 0


def status(nodes: list[BrokerConfig]) -> int:
    """0 when every node runs, else 1."""
    code = 0
    for cfg in nodes:
        pid = read_pid(cfg)
        if pid is None:
            print(f"Kafka is not running (data {cfg.data_dir})")
            code = 1
            continue
        state = "serving" if port_open(cfg.port) else "starting"
        print(f"Kafka running ({state}): pid {pid}, address {cfg.address}, log {cfg.log_file}")
    return code


def parse_args(argv: list[str]) -> tuple[str, list[BrokerConfig]]:
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
        default=Path(env.get("MODELROUTER_KAFKA_DATA_DIR", DEFAULT_DATA_DIR)),
        help=f"folder for logs, pid and data (default {DEFAULT_DATA_DIR})",
    )
    parser.add_argument(
        "--heap", default=env.get("MODELROUTER_KAFKA_HEAP", "768m"), help="JVM heap size (default 768m)"
    )
    parser.add_argument(
        "--secure",
        action="store_true",
        help="SASL_SSL with SCRAM-SHA-512, a CA made at the first start, ACLs (see the docstring)",
    )
    parser.add_argument(
        "--topic-prefix",
        default=env.get("MODELROUTER_TOPIC_PREFIX", "modelrouter."),
        help="topic prefix the ACLs of --secure are granted on",
    )
    parser.add_argument(
        "--app-id", default=env.get("MODELROUTER_APP_ID", "modelrouter-worker"), help="worker group id (ACLs)"
    )
    parser.add_argument(
        "--brokers",
        type=int,
        default=None,
        help="nodes of a local cluster (default 1, or as many as the data folder holds): "
        "node i on --port + 2(i-1); topics of 3 or more nodes take 3 replicas, 2 in sync",
    )
    args = parser.parse_args(argv)
    data_dir = args.data_dir.resolve()
    brokers = args.brokers or max(1, len(list(data_dir.glob("node-*"))))
    if brokers > 1 and args.secure:
        parser.error("--secure runs one node; a secured cluster is not part of this recipe")
    cfg = BrokerConfig(
        port=args.port,
        controller_port=args.controller_port or args.port + 1,
        data_dir=data_dir,
        heap=args.heap,
        secure=args.secure,
        topic_prefix=args.topic_prefix,
        app_id=args.app_id,
    )
    return args.command, cluster_nodes(cfg, brokers)


def main(argv: list[str] | None = None) -> int:
    command, nodes = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return {"up": up, "down": down, "status": status}[command](nodes)
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
