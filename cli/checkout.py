"""Scripts of the source checkout (kafka/broker.py, bench/*.py), found from this package's real path."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from .failures import EXIT_USAGE, CommandError

__all__ = ["checkout_root", "run_script", "script_path"]


def checkout_root() -> Path:
    """The repository folder this package runs from (cli/ -> the root), through the
    editable install's link tree; inside a wheel it is site-packages/modelrouter, without scripts."""
    return Path(__file__).resolve().parents[1]


def script_path(relative: str, missing_hint: str, root: Path | None = None) -> Path:
    """The checkout's script, or a usage error saying what to do without a checkout."""
    path = (root if root is not None else checkout_root()) / relative
    if not path.is_file():
        raise CommandError(
            f"{relative} not found: this needs a source checkout of modelrouter "
            f"(git clone, then `pip install -e .`); {missing_hint}",
            EXIT_USAGE,
        )
    return path


def run_script(path: Path, argv: Sequence[str], env: Mapping[str, str] | None = None) -> int:
    """Run a checkout script with this interpreter (so it imports this install); its exit code."""
    full_env = {**os.environ, **(env or {})}
    try:
        # A fixed interpreter and a script of our own checkout: no shell, no user-built command.
        return subprocess.call([sys.executable, str(path), *argv], env=full_env)  # noqa: S603
    except KeyboardInterrupt:
        return 130
