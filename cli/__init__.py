"""The `modelrouter` command line: one module per subcommand group, `main` the entry point.

Each module registers its subcommands on the parser (`register`) and runs them from the
parsed arguments; main.py turns the errors a user can cause or fix into one line and an
exit code (0 ok, 1 failure, 2 bad input).
"""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
