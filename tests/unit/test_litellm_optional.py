"""The core never imports litellm: it is an optional extra (modelrouter[litellm])."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_packages_does_not_import_litellm() -> None:
    code = (
        "import sys, modelrouter.schemas, modelrouter.agents, modelrouter.streams\n"
        "print(sorted(m for m in sys.modules if m == 'litellm' or m.startswith('litellm.')))"
    )
    run = [sys.executable, "-c", code]
    out = subprocess.run(run, capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]"
