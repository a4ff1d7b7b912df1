"""The bare echo baseline of bench/selection.py: a plain aiokafka consumer that answers each
request with a fixed reply on the request's reply topic, and does nothing else.

It runs as its own process, as a worker does, with the selection responder's consumer and
producer settings, so selection's latency can be set beside Kafka's own round trip on the same
machine in the same run (`bench/selection.py` starts it; it is not meant to be run by hand).

    python bench/echo.py --bootstrap-servers 127.0.0.1:9092 --topic T --group G
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

# What the selection responder uses (streams/selection.py): acks=1, its linger, 100 ms fetch waits.
REPLY_ACKS = 1
FETCH_MAX_WAIT_MS = 100
FIXED_REPLY = orjson.dumps({"kind": "echo", "selected_model_id": "echo"})


async def serve(bootstrap_servers: str, topic: str, group: str, linger_ms: int) -> None:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        group_id=group,
        enable_auto_commit=True,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks=REPLY_ACKS, linger_ms=linger_ms)
    await consumer.start()
    await producer.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print("echo: serving", flush=True)
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=100)
            for records in batches.values():
                for record in records:
                    reply_to = orjson.loads(record.value or b"{}").get("reply_to")
                    if isinstance(reply_to, str):
                        await producer.send(reply_to, FIXED_REPLY, key=record.key)
    finally:
        await producer.stop()
        await consumer.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap-servers", required=True)
    parser.add_argument("--topic", required=True, help="the requests topic to answer")
    parser.add_argument("--group", required=True)
    parser.add_argument("--linger-ms", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(serve(args.bootstrap_servers, args.topic, args.group, args.linger_ms))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
