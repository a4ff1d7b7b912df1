"""The dependency direction of docs/design.md, read from every module's imports (also those
inside functions): the `modelrouter.*` mapping hides them from tools that read folders."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "schemas": "modelrouter.schemas",
    "agents": "modelrouter.agents",
    "streams": "modelrouter.streams",
}
PACKAGES["cli"] = "modelrouter.cli"


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = [PACKAGES[rel.parts[0]], *rel.parts[1:]]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for folder in PACKAGES for p in sorted((ROOT / folder).rglob("*.py"))}


MODULES = modules()


def imports_of(name: str, path: Path) -> set[str]:
    """Every module `name` imports, absolute; `from pkg import sub` counts as importing pkg.sub."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            found.update(
                f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in MODULES
            )
    return found


GRAPH = {name: imports_of(name, path) for name, path in MODULES.items()}


def ours(name: str) -> set[str]:
    return {m for m in GRAPH[name] if m.startswith("modelrouter.")}


def in_package(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_the_graph_reads_every_package() -> None:
    assert {"modelrouter.streams.folds", "modelrouter.cli.main", "modelrouter.agents.kafka.admin"} <= set(
        MODULES
    )


@pytest.mark.parametrize("name", [m for m in MODULES if in_package(m, "modelrouter.schemas")])
def test_schemas_imports_nothing_of_ours(name: str) -> None:
    assert {m for m in ours(name) if not in_package(m, "modelrouter.schemas")} == set()


@pytest.mark.parametrize("name", [m for m in MODULES if in_package(m, "modelrouter.agents")])
def test_agents_never_imports_streams_cli_or_faust(name: str) -> None:
    bad = {
        m
        for m in GRAPH[name]
        if in_package(m, "modelrouter.streams")
        or in_package(m, "modelrouter.cli")
        or in_package(m, "faust")
        or in_package(m, "mode")
    }
    assert bad == set()


@pytest.mark.parametrize("name", [m for m in MODULES if in_package(m, "modelrouter.streams")])
def test_streams_imports_of_agents_only_its_kafka_plumbing(name: str) -> None:
    bad = {
        m
        for m in ours(name)
        if (in_package(m, "modelrouter.agents") and not in_package(m, "modelrouter.agents.kafka"))
        or in_package(m, "modelrouter.cli")
    }
    assert bad == set()


def test_no_import_circle() -> None:
    """No module reaches itself through the imports of our modules (packages' __init__ included)."""
    edges = {name: {m for m in ours(name) if m in MODULES and m != name} for name in MODULES}
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                circles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for name in sorted(MODULES):
        if name not in state:
            visit(name, [name])
    # A package's __init__ importing its own submodules, which import the package's siblings
    # through it, is how Python packages are made; a circle between two modules is not.
    real = [c for c in circles if not any(MODULES[m].name == "__init__.py" for m in c)]
    assert real == []


def test_only_the_modelrouter_namespace_is_importable() -> None:
    for bare in ("schemas", "agents", "streams", "cli"):
        assert importlib.util.find_spec(bare) is None, f"`import {bare}` must not work"
