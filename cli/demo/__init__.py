"""`modelrouter demo`: a broker, a worker and a simulated fleet of agents on a fresh topic prefix,
through a provider outage and a rate-limit storm, then a report that sets live selection beside
a fixed assignment replayed over the same simulated traffic.

command.py is the subcommand; world.py and timeline.py are the simulated world (pure,
deterministic for a seed), baseline.py replays the fixed assignment in it, fleet.py runs the
live agents against a real worker, analysis.py and report.py measure and print, live.py draws
the terminal, run.py puts them together. Importing this package imports none of them.
"""

__all__: list[str] = []
