"""`modelrouter demo`: a broker, a worker and a simulated fleet of agents on a fresh topic prefix,
through a provider outage and a rate-limit storm, then a report that sets live selection beside
a fixed assignment replayed over the same simulated traffic.

    python -m modelrouter.streams.demo --seconds 60

world.py and timeline.py are the simulated world (pure, deterministic for a seed), baseline.py
replays the fixed assignment in it, fleet.py runs the live agents against a real worker,
analysis.py and report.py measure and print, live.py draws the terminal, processes.py runs
the broker and the worker.
"""

from .command import add_arguments, build_parser, main, run_from_args
from .processes import DemoError
from .report import DemoReport
from .run import demo_settings, run_demo
from .timeline import Timeline

__all__ = [
    "DemoError",
    "DemoReport",
    "Timeline",
    "add_arguments",
    "build_parser",
    "demo_settings",
    "main",
    "run_demo",
    "run_from_args",
]
