"""`modelrouter registry load|show`: the model registry file and the compacted `registry` topic."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.table import Table

from modelrouter.agents import ModelRegistry
from modelrouter.agents.registry_config import CONFIG_DIR_ENV
from modelrouter.schemas import ModelSpec, Settings, dumps

from .connection import CONNECT_TIMEOUT_S, connect
from .failures import EXIT_FAILURE, EXIT_OK
from .options import add_command, settings_from
from .output import DASH, console, usd

__all__ = ["model_table", "register"]


def model_table(models: Mapping[str, ModelSpec], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for name, justify in (
        ("model", "left"),
        ("provider", "left"),
        ("tier", "left"),
        ("context", "right"),
        ("in /1k", "right"),
        ("out /1k", "right"),
        ("rpm", "right"),
        ("enabled", "left"),
        ("capabilities", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for m in sorted(models.values(), key=lambda s: (s.provider, s.model_id)):
        table.add_row(
            m.model_id,
            m.provider,
            m.tier,
            f"{m.context_window:,}",
            usd(m.input_cost_per_1k),
            usd(m.output_cost_per_1k),
            f"{m.rpm_limit:,}" if m.rpm_limit is not None else DASH,
            "yes" if m.enabled else "no",
            ", ".join(m.capabilities),
        )
    return table


async def load(settings: Settings, file: Path | None) -> int:
    registry = ModelRegistry(file, settings)  # reads and validates the file before any connection
    update = await connect(settings, registry.publish(timeout_s=CONNECT_TIMEOUT_S), CONNECT_TIMEOUT_S * 2)
    print(
        f"{registry.topic}: {len(update.published)} published, {len(update.unchanged)} unchanged, "
        f"{len(update.removed)} removed (from {registry.config_path})"
    )
    for model_id in update.published:
        print(f"  published {model_id}")
    for model_id in update.removed:
        print(f"  removed   {model_id}")
    return EXIT_OK


async def show(settings: Settings, as_json: bool) -> int:
    registry = ModelRegistry(settings=settings, models={})
    models = await connect(settings, registry.load_from_topic(timeout_s=CONNECT_TIMEOUT_S))
    if as_json:
        print(dumps([models[m].model_dump(mode="json") for m in sorted(models)]).decode())
        return EXIT_OK
    if not models:
        console(stderr=True).print(f"{registry.topic} holds no models: run `modelrouter registry load`")
        return EXIT_FAILURE
    enabled = sum(m.enabled for m in models.values())
    console().print(model_table(models, f"{registry.topic}: {len(models)} models, {enabled} enabled"))
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    if args.action == "load":
        return asyncio.run(load(settings, args.file))
    return asyncio.run(show(settings, args.json))


def register(subparsers: Any) -> None:
    parser = add_command(
        subparsers,
        "registry",
        summary="Publish the model registry file to the registry topic, or show what the topic holds.",
        examples=["modelrouter registry load", "modelrouter registry load --file my_models.json"],
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    load_parser = add_command(
        actions,
        "load",
        summary="Publish a registry file: new and changed models are written, dropped ones tombstoned.",
        details="Every entry is validated first; an invalid file changes nothing.",
        examples=[
            "modelrouter registry load",
            "modelrouter registry load --file config/model_registry.json",
            "modelrouter registry load --topic-prefix staging.",
        ],
        handler=run,
    )
    load_parser.add_argument(
        "--file",
        type=Path,
        metavar="PATH",
        help=f"registry file (default: model_registry.json in ${CONFIG_DIR_ENV}, else the shipped sample)",
    )
    show_parser = add_command(
        actions,
        "show",
        summary="Print the models now in the registry topic (exit 1 when it holds none).",
        examples=["modelrouter registry show", "modelrouter registry show --json | jq '.[].model_id'"],
        handler=run,
    )
    show_parser.add_argument("--json", action="store_true", help="print the models as a JSON list")
