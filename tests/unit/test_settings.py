"""Settings come from MODELROUTER_* variables and give every client the same security options."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from modelrouter.schemas import Settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("MODELROUTER_"):
            monkeypatch.delenv(name)
    s = Settings()
    assert s.bootstrap_servers == "127.0.0.1:9092"
    assert s.topic("task-completed") == "modelrouter.task-completed"
    assert (s.bucket_seconds, s.grace_seconds, s.retention_hours) == (60, 10, 24.0)
    assert s.aiokafka_kwargs() == {"bootstrap_servers": ["127.0.0.1:9092"], "security_protocol": "PLAINTEXT"}


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELROUTER_BOOTSTRAP_SERVERS", "a:1, b:2")
    monkeypatch.setenv("MODELROUTER_TOPIC_PREFIX", "acme.")
    monkeypatch.setenv("MODELROUTER_BUCKET_SECONDS", "30")
    s = Settings()
    assert s.bootstrap_list == ["a:1", "b:2"]
    assert s.faust_broker == "kafka://a:1;kafka://b:2"
    assert s.topic("summaries") == "acme.summaries"
    assert s.bucket_seconds == 30
    with pytest.raises(ValidationError, match="frozen"):
        s.bucket_seconds = 10  # type: ignore[misc]


def test_sasl_needs_credentials_and_passes_them_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELROUTER_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    with pytest.raises(ValidationError, match="MODELROUTER_SASL_USERNAME"):
        Settings()
    monkeypatch.setenv("MODELROUTER_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("MODELROUTER_SASL_USERNAME", "svc")
    monkeypatch.setenv("MODELROUTER_SASL_PASSWORD", "s3cret")
    s = Settings()
    assert "s3cret" not in repr(s)
    kwargs = s.aiokafka_kwargs()
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert kwargs["sasl_plain_password"] == "s3cret"
    assert s.to_env()["MODELROUTER_SASL_PASSWORD"] == "s3cret"


def test_bad_values_are_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELROUTER_PARTITIONS", "0")
    with pytest.raises(ValidationError, match="partitions"):
        Settings()


def test_to_env_round_trips(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    s = Settings(topic_prefix="x.", data_dir=tmp_path, partitions=3, _env_file=None)  # type: ignore[call-arg]
    for key, value in s.to_env().items():
        monkeypatch.setenv(key, value)
    assert Settings() == s


def test_compression_reaches_every_producer(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(_env_file=None).producer_kwargs()["compression_type"] is None  # type: ignore[call-arg]
    monkeypatch.setenv("MODELROUTER_COMPRESSION", "zstd")
    s = Settings()
    assert s.compression_type == "zstd"
    assert s.producer_kwargs() == s.aiokafka_kwargs() | {"compression_type": "zstd"}
    monkeypatch.setenv("MODELROUTER_COMPRESSION", "brotli")
    with pytest.raises(ValidationError, match="compression"):
        Settings()


def test_worker_id_derives_from_prefix_and_app_id() -> None:
    # The default deployment keeps its earlier group and changelog names.
    assert Settings(_env_file=None).worker_id == "modelrouter-worker"  # type: ignore[call-arg]
    assert Settings(app_id="fleet", _env_file=None).worker_id == "fleet"  # type: ignore[call-arg]
    # Another prefix is another deployment, even with the default app id.
    assert Settings(topic_prefix="acme.", _env_file=None).worker_id == "acme.modelrouter-worker"  # type: ignore[call-arg]
    assert Settings(topic_prefix="acme.", app_id="w", _env_file=None).worker_id == "acme.w"  # type: ignore[call-arg]
    assert Settings(topic_prefix="", app_id="w", _env_file=None).worker_id == "w"  # type: ignore[call-arg]
    here = Settings(data_dir=Path("d"), _env_file=None)  # type: ignore[call-arg]
    assert here.state_dir == Path("d")
    there = here.model_copy(update={"topic_prefix": "acme."})
    assert there.state_dir == Path("d") / "acme.modelrouter-worker"


def test_an_empty_prefix_with_the_default_app_id_is_refused() -> None:
    with pytest.raises(ValidationError, match="set MODELROUTER_APP_ID"):
        Settings(topic_prefix="", _env_file=None)  # type: ignore[call-arg]
