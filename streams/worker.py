"""`modelrouter-worker`: creates the contract's topics, then runs the faust worker."""

from __future__ import annotations

import argparse
import asyncio
import logging

import faust
from pydantic import ValidationError

from modelrouter.agents.admin import ensure_topics
from modelrouter.schemas import Settings

from .app import create_app
from .ingest import register_ingest

__all__ = ["build_app", "main"]


def build_app(settings: Settings) -> faust.App:
    app = create_app(settings)
    register_ingest(app, settings)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="modelrouter-worker",
        description="Run a modelrouter stream worker. Configure it with MODELROUTER_* variables.",
    )
    parser.add_argument("--loglevel", default="info", choices=["debug", "info", "warning", "error"])
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        parser.exit(2, f"modelrouter-worker: invalid settings: {exc}\n")
    logging.basicConfig(level=args.loglevel.upper())
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(ensure_topics(settings))
    app = build_app(settings)
    worker = faust.Worker(app, loglevel=args.loglevel, loop=loop)
    worker.execute_from_commandline()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
