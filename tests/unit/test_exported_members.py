"""The public surface of each package is exactly its __all__."""

from __future__ import annotations

import modelrouter.agents
import modelrouter.schemas
import modelrouter.streams


def test_every_exported_name_exists() -> None:
    for module in (modelrouter.schemas, modelrouter.agents, modelrouter.streams):
        missing = [name for name in module.__all__ if not hasattr(module, name)]
        assert missing == [], module.__name__
        assert sorted(module.__all__, key=str.lower) == sorted(set(module.__all__), key=str.lower)


def test_schemas_surface() -> None:
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
