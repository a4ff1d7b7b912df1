"""`modelrouter schemas export`: the wire contract as JSON Schema files, for agents in other languages."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from modelrouter.schemas.export import DEFAULT_DIR, write_schema_files

from .failures import EXIT_OK
from .options import add_command

__all__ = ["register"]


def run(args: argparse.Namespace) -> int:
    count = write_schema_files(args.out_dir)
    print(f"wrote {count} JSON Schema files to {args.out_dir}")
    return EXIT_OK


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "schemas",
        summary="Write the wire contract's JSON Schema files (one per record type).",
        kafka=False,
        examples=["modelrouter schemas export", "modelrouter schemas export /tmp/schemas"],
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = add_command(
        actions,
        "export",
        summary="Write every JSON Schema file into a folder, removing stale ones.",
        kafka=False,
        handler=run,
    )
    export.add_argument(
        "out_dir",
        nargs="?",
        type=Path,
        default=DEFAULT_DIR,
        help="folder to write into (default: docs/schemas of the checkout)",
    )
