"""The public surface of each package is exactly its __all__ (as httpx's test_exported_members)."""

from __future__ import annotations
import __future__

import importlib
import types

import pytest

PACKAGES = [
    "modelrouter.schemas",
    "modelrouter.agents",
    "modelrouter.agents.kafka",
    "modelrouter.streams",
    "modelrouter.cli",
    "modelrouter.cli.demo",
]


def public_names(module: types.ModuleType) -> list[str]:
    """The names a user can reach on `module`, less its submodules and `from __future__` features."""
    return sorted(
        (
            name
            for name, value in vars(module).items()
            if not name.startswith("_")
            and not isinstance(value, types.ModuleType)
            and not isinstance(value, __future__._Feature)
        ),
        key=str.casefold,
    )


@pytest.mark.parametrize("package", PACKAGES)
def test_the_public_surface_is_exactly_all(package: str) -> None:
    module = importlib.import_module(package)
    assert len(set(module.__all__)) == len(module.__all__), "a name is listed twice"
    assert sorted(module.__all__, key=str.casefold) == public_names(module)


def test_schemas_surface() -> None:
    import modelrouter.schemas

    assert {
        "TaskCompleted",
        "RateLimited",
        "Failover",
        "Event",
        "Settings",
        "encode",
        "decode_event",
        "InvalidEventError",
        "ModelRouterError",
        "APIModelError",
    } <= set(modelrouter.schemas.__all__)


def test_budget_surface() -> None:
    import modelrouter.agents
    import modelrouter.schemas

    assert {"Budget", "BudgetReservation", "BudgetWindow", "BUDGET_WINDOWS"} <= set(
        modelrouter.schemas.__all__
    )
    assert "BudgetBook" in modelrouter.agents.__all__
