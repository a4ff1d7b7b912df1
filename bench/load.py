"""Background fold load: successful task-completed events at a fixed rate, from a process of its
own (so the publishing does not share the measuring client's event loop), until stopped.

    .venv/bin/python bench/load.py --prefix bench.select.abc. --rate 10000 --models m1,m2

Stops on SIGTERM or SIGINT and then prints one JSON line: {"sent", "seconds", "rate"}.
bench/selection.py --fold-load starts it beside the worker it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time

from modelrouter.agents import EventPublisher
from modelrouter.schemas import Settings


async def publish(settings: Settings, models: list[str], rate: float, stop: asyncio.Event) -> int:
    """Events spread over `models` at `rate` per second, in small bursts every 5 ms."""
    sent = 0
    async with EventPublisher(settings, linger_ms=20) as pub:
        started = time.monotonic()
        while not stop.is_set():
            due = int((time.monotonic() - started) * rate)
            while sent < due:
                m = models[sent % len(models)]
                await pub.task_completed(
                    agent_type="LOAD",
                    task_id=f"load-{sent}",
                    model_id=m,
                    provider=f"provider-{m}",
                    success=True,
                    latency_ms=400.0,
                    cost=0.002,
                    input_tokens=500,
                    output_tokens=100,
                    wait=False,
                )
                sent += 1
            await asyncio.sleep(0.005)
    return sent


async def run(args: argparse.Namespace) -> dict[str, float]:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    settings = Settings(topic_prefix=args.prefix)
    started = time.monotonic()
    sent = await publish(settings, args.models.split(","), args.rate, stop)
    seconds = time.monotonic() - started
    return {"sent": sent, "seconds": round(seconds, 2), "rate": round(sent / seconds) if seconds else 0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prefix", required=True, help="topic prefix of the worker under load")
    parser.add_argument("--rate", type=float, required=True, help="events per second")
    parser.add_argument("--models", required=True, help="comma-separated model ids the events name")
    args = parser.parse_args()
    if args.rate <= 0:
        parser.error(f"--rate must be positive, got {args.rate}")
    with contextlib.suppress(KeyboardInterrupt):
        print(json.dumps(asyncio.run(run(args))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
