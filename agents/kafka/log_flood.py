"""RepeatedLogFilter: one log line per cause every few seconds, with a count, not one per retry.

During a broker outage aiokafka logs each failed reconnect (a worker wrote ~330 ERROR lines a
second, an idle client ~300: issue 16). The filter lets the first warning or error of a kind
through, drops the same kind for `interval_s`, and the next one after that says how many it
stood for. A kind is the logger and the message template, digits left out (ports, node ids
and offsets vary between retries of one cause). Debug and info lines pass untouched.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable

__all__ = ["CLIENT_LOGGERS", "WORKER_LOGGERS", "RepeatedLogFilter", "limit_repeated_logs"]

# Filters on a logger do not apply to records of its children, so the filter goes on every
# logger under these names that exists. Clients limit the library whose retries flood; a
# worker (its own process) also faust's, mode's and its own, which repeat per retry too.
CLIENT_LOGGERS = ("aiokafka",)
WORKER_LOGGERS = ("aiokafka", "faust", "mode", "modelrouter")
_MAX_KINDS = 1000  # a flood of distinct messages must not grow the table without end
_DIGITS = re.compile(r"\d+")


class RepeatedLogFilter(logging.Filter):
    """Drops a warning or error like one let through less than `interval_s` ago."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._clock = clock
        self._kinds: dict[tuple[str, int, str], list[float]] = {}  # kind -> [let through at, dropped]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        kind = (record.name, record.levelno, _DIGITS.sub("#", str(record.msg))[:300])
        now = self._clock()
        seen = self._kinds.get(kind)
        if seen is not None and now - seen[0] < self.interval_s:
            seen[1] += 1
            return False
        if seen is not None and seen[1]:
            record.msg = f"{record.msg} [and {int(seen[1])} more like it in the last {now - seen[0]:.0f} s]"
        if len(self._kinds) >= _MAX_KINDS:
            self._kinds.clear()
        self._kinds[kind] = [now, 0]
        return True


def limit_repeated_logs(interval_s: float, names: Iterable[str] = CLIENT_LOGGERS) -> RepeatedLogFilter | None:
    """Install one RepeatedLogFilter on the loggers under `names` (and on the ones that exist
    by then beneath them); again is a no-op. 0 turns it off. Returns the filter in use."""
    if interval_s <= 0:
        return None
    names = tuple(names)
    existing = logging.Logger.manager.loggerDict
    loggers = [logging.getLogger(n) for n in names]
    loggers += [
        logger
        for name, logger in list(existing.items())
        if isinstance(logger, logging.Logger) and any(name.startswith(f"{n}.") for n in names)
    ]
    installed = next(
        (f for logger in loggers for f in logger.filters if isinstance(f, RepeatedLogFilter)), None
    )
    shared = installed or RepeatedLogFilter(interval_s)
    for logger in loggers:
        if shared not in logger.filters:
            logger.addFilter(shared)
    return shared
