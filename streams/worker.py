"""The worker process: creates the contract's topics, builds the faust app and runs it
(`modelrouter worker`)."""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
from collections.abc import Callable

import faust
from aiokafka.errors import KafkaConnectionError

from modelrouter.agents.kafka import WORKER_LOGGERS, ensure_topics, limit_repeated_logs
from modelrouter.agents.kafka.connection_check import unreachable_error
from modelrouter.schemas import Settings, TopicName, TopicSpec, topic_specs

from .app import create_app
from .assignment import ASSIGNMENT_TOPIC
from .fold_tasks import register_folds
from .folds import FAILOVER_IN, REKEYED
from .ops_server import register_ops_server
from .responder_process import register_selection_process
from .selection import register_selection

__all__ = ["build_app", "run_worker", "worker_topics"]

# The collector's default (a pass every 700 new objects) spent 12% of a worker folding a backlog
# in collections that found nothing (2.7 s of its 23 s; bench/ingest.py with a gc.callbacks
# timer): decoded events come and go by reference counting, not in cycles. A pass every 20,000
# new objects: 0.8 s. The long-lived state is frozen once the worker serves (selection.py).
_GC_NEW_OBJECTS = 20_000


class Worker(faust.Worker):
    """faust's Worker, with the root logger's level set to the chosen one.

    mode's logging setup leaves the root logger at DEBUG and filters only in the
    handler, so every library debug call still builds a LogRecord: that cost ~15% of
    a busy worker's CPU (cProfile, bench/ingest.py) before this.
    """

    def _setup_logging(self) -> None:
        super()._setup_logging()
        level = self.loglevel or logging.WARNING
        logging.getLogger().setLevel(level.upper() if isinstance(level, str) else level)


def worker_topics(settings: Settings) -> list[TopicSpec]:
    """The contract's topics, plus three internal ones: the failovers re-keyed by alternative
    model, the events forwarded to their key's partition, and the (empty) topic whose
    partitions faust assigns to the workers."""
    specs = topic_specs(settings)
    failover = specs[TopicName.FAILOVER]
    internal = [
        TopicSpec(settings.topic(name), failover.partitions, False, failover.retention_ms)
        for name in (FAILOVER_IN, REKEYED, ASSIGNMENT_TOPIC)
    ]
    return [*specs.values(), *internal]


def _libc_trim() -> Callable[[], object] | None:
    """glibc's malloc_trim, where there is one (Linux with glibc)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    return lambda: trim(0)


def build_app(settings: Settings) -> faust.App:
    app = create_app(settings)
    reader = register_folds(app, settings)
    if settings.selection_process:
        responder = register_selection_process(app, settings)
    else:
        responder = register_selection(app, settings)
    register_ops_server(app, settings, reader, responder)
    trim = _libc_trim()
    if trim is not None:

        @app.timer(30.0)  # type: ignore[untyped-decorator]  # faust's decorator is untyped
        async def return_free_memory() -> None:
            # Batches of thousands of decoded events come and go; glibc keeps what they freed
            # in its heaps unless asked to give it back (bench/restart.py measures the RSS).
            trim()

    return app


def run_worker(settings: Settings, loglevel: str = "info") -> int:
    """Create the contract's topics, then run a faust worker in this process until it stops.

    The command line (`modelrouter worker`) validates the settings and maps errors to exit codes.
    """
    logging.basicConfig(level=loglevel.upper())
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:  # the first requests to the broker: a refused login or an untrusted certificate fails here
        loop.run_until_complete(ensure_topics(settings, worker_topics(settings)))
    except KafkaConnectionError:  # said in one line by the command line (cli/failures.py)
        raise loop.run_until_complete(unreachable_error(settings)) from None
    settings.state_dir.mkdir(parents=True, exist_ok=True)  # faust makes only the last level
    gc.set_threshold(_GC_NEW_OBJECTS, 10, 10)
    app = build_app(settings)
    # After build_app: faust's and our loggers exist by then. mode reconfigures handlers, not these.
    limit_repeated_logs(settings.log_repeat_interval_s, WORKER_LOGGERS)
    worker = Worker(app, loglevel=loglevel, loop=loop)
    worker.execute_from_commandline()
    return 0
