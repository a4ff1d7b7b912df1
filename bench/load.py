"""Background fold load: successful task-completed events at a fixed rate, from a process of its
own (so the publishing does not share the measuring client's event loop), until stopped.

    .venv/bin/python bench/load.py --prefix bench.select.abc. --rate 10000 --models m1,m2

Each model's event is encoded once with the schemas' codec; each event sent is that record
with a fresh event_id, task_id and occurred_at written in (checked to decode to the event it
names), produced with librdkafka (confluent-kafka, a dev dependency), keyed by model_id and
partitioned as Kafka's Java clients and this project's SDK do (murmur2). The SDK's own
EventPublisher (aiokafka, a Python producer) reached ~5,000 events/s on a core of a 2-core
machine: as the load it took the CPU the measured worker needed, and still fell short of
10,000/s; this takes ~10% of a core at 10,000/s.

Stops on SIGTERM or SIGINT and then prints one JSON line: {"sent", "failed", "seconds", "rate"}.
bench/selection.py --fold-load starts it beside the worker it measures.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaError, Producer

from modelrouter.schemas import Settings, TaskCompleted, TopicName, decode_event, encode, encode_key

_TICK_S = 0.005  # events go out in small bursts this often


def _template(model: str) -> bytes:
    """`model`'s load event, encoded by the codec, with %-placeholders for the fields that change."""
    event = TaskCompleted(
        event_id="@event_id@",
        occurred_at=datetime(2000, 1, 1, tzinfo=UTC),
        agent_type="LOAD",
        task_id="@task_id@",
        model_id=model,
        provider=f"provider-{model}",
        success=True,
        latency_ms=400.0,
        cost=0.002,
        input_tokens=500,
        output_tokens=100,
    )
    raw = encode(event).replace(b"%", b"%%")
    for field in (b"event_id", b"task_id"):
        raw = raw.replace(b"@" + field + b"@", b"%(" + field + b")s")
    return raw.replace(b"2000-01-01T00:00:00Z", b"%(occurred_at)s")


def _wire_time(t: datetime) -> bytes:
    """`t` as the codec writes a UTC time (`Z`, microseconds)."""
    return t.isoformat().replace("+00:00", "Z").encode()


def _event(template: bytes, n: int, occurred_at: bytes) -> bytes:
    return template % {b"event_id": b"%032x" % n, b"task_id": b"load-%d" % n, b"occurred_at": occurred_at}


class _Load:
    def __init__(self, settings: Settings, models: list[str], rate: float) -> None:
        if settings.security_protocol != "PLAINTEXT":
            raise SystemExit(f"bench/load.py speaks PLAINTEXT only, not {settings.security_protocol}")
        self.producer = Producer(
            {
                "bootstrap.servers": settings.bootstrap_servers,
                "partitioner": "murmur2_random",  # Java's and aiokafka's partition for a key
                "linger.ms": 5,
                "acks": "all",
            }
        )
        self.topic = settings.topic(TopicName.TASK_COMPLETED)
        self.templates = [_template(m) for m in models]
        self.keys = [encode_key(m) for m in models]
        for model, template in zip(models, self.templates, strict=True):
            now = datetime.now(UTC)
            event = decode_event(_event(template, 7, _wire_time(now)))
            if (event.event_id, event.model_id, event.occurred_at) != (f"{7:032x}", model, now):
                raise SystemExit(f"bench/load.py: the event template of {model} does not decode to its event")
        self.rate = rate
        self.sent = self.failed = 0
        self.stopped = False

    def _delivered(self, err: KafkaError | None, _msg: Any) -> None:
        if err is not None:
            self.failed += 1

    def run(self) -> float:
        started = time.monotonic()
        models = len(self.templates)
        while not self.stopped:
            due = int((time.monotonic() - started) * self.rate)
            occurred_at = _wire_time(datetime.now(UTC))
            while self.sent < due:
                i = self.sent % models
                value = _event(self.templates[i], self.sent, occurred_at)
                try:
                    self.producer.produce(self.topic, value, self.keys[i], on_delivery=self._delivered)
                except BufferError:  # librdkafka's queue is full: let it drain, then go on
                    self.producer.poll(0.1)
                    continue
                self.sent += 1
            self.producer.poll(0)
            time.sleep(_TICK_S)
        seconds = time.monotonic() - started
        self.producer.flush(30)
        return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefix", required=True, help="topic prefix of the worker under load")
    parser.add_argument("--rate", type=float, required=True, help="events per second")
    parser.add_argument("--models", required=True, help="comma-separated model ids the events name")
    args = parser.parse_args()
    if args.rate <= 0:
        parser.error(f"--rate must be positive, got {args.rate}")
    load = _Load(Settings(topic_prefix=args.prefix), args.models.split(","), args.rate)

    def stop(*_: object) -> None:
        load.stopped = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    seconds = load.run()
    rate = round(load.sent / seconds) if seconds else 0
    print(json.dumps({"sent": load.sent, "failed": load.failed, "seconds": round(seconds, 2), "rate": rate}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
