"""docs/schemas holds the JSON Schemas of the current contract (regenerate: make schemas)."""

from __future__ import annotations

from pathlib import Path

from modelrouter.schemas.export import schema_files

DOCS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def test_json_schema_files_are_current() -> None:
    expected = schema_files()
    on_disk = {p.name: p.read_bytes() for p in DOCS.glob("*.json")}
    stale = sorted(n for n in expected if on_disk.get(n) != expected[n])
    extra = sorted(set(on_disk) - set(expected))
    assert (stale, extra) == ([], []), "docs/schemas is stale: run `make schemas` and commit the result"
