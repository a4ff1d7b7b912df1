"""`modelrouter kafka up|down|status`: the local broker, run by the packaged recipe
(`modelrouter.local_kafka.broker`, kafka/broker.py in a checkout)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .options import add_command

__all__ = ["register"]


def run(args: argparse.Namespace) -> int:
    from modelrouter.local_kafka import broker as recipe

    argv = [args.action]
    for flag, value in (("--port", args.port), ("--data-dir", args.data_dir), ("--heap", args.heap)):
        if value is not None:
            argv += [flag, str(value)]
    if args.secure:
        argv.append("--secure")
    if args.brokers is not None:
        argv += ["--brokers", str(args.brokers)]
    # The recipe runs before the project is installed too (python kafka/broker.py), so it
    # turns its own errors into one line and exit code 1.
    return recipe.main(argv)


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "kafka",
        summary="Start, stop or check the local Kafka broker (Kafka 4.x from Maven jars, needs Java 17).",
        details="`up` reuses a broker that already runs; `status` exits 1 when none runs. In a source "
        "checkout the jars and data stay in kafka/lib and .modelrouter/kafka; installed from a wheel, in "
        "~/.cache/modelrouter/kafka-lib and ~/.local/share/modelrouter/kafka (XDG_CACHE_HOME, "
        "XDG_DATA_HOME; MODELROUTER_KAFKA_LIB_DIR and MODELROUTER_KAFKA_DATA_DIR override them). "
        "With Docker instead: docker compose up.",
        examples=[
            "modelrouter kafka up",
            "modelrouter kafka status",
            "modelrouter kafka up --port 19092 --data-dir /tmp/kafka-19092",
            "modelrouter kafka up --secure --port 19093 --data-dir /tmp/kafka-secure",
            "modelrouter kafka down",
        ],
        kafka=False,
        handler=run,
    )
    parser.add_argument("action", choices=["up", "down", "status"], help="what to do")
    parser.add_argument("--port", type=int, help="client port on 127.0.0.1 (default 9092)")
    parser.add_argument("--data-dir", type=Path, help="folder for the broker's data, log and pid")
    parser.add_argument("--heap", help="JVM heap size (default 768m)")
    parser.add_argument("--brokers", type=int, help="nodes of a local KRaft cluster on 127.0.0.1 (default 1)")
    parser.add_argument(
        "--secure",
        action="store_true",
        help="SASL_SSL with SCRAM-SHA-512 and ACLs; client settings in <data-dir>/secure/<user>.env",
    )
