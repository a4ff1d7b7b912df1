"""Settings: the one configuration class, read from MODELROUTER_* environment variables."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import ConfigurationError

__all__ = ["Settings"]

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
Compression = Literal["none", "gzip", "snappy", "lz4", "zstd"]
DEFAULT_TOPIC_PREFIX = "modelrouter."
DEFAULT_APP_ID = "modelrouter-worker"


class Settings(BaseSettings):
    """Built once at an entry point and passed down. Where the guide's code passes none (its
    constructors take no settings), the SDK's classes build one here from the environment
    (`Settings()`); registry_config.default_config_dir also reads MODELROUTER_CONFIG_DIR."""

    model_config = SettingsConfigDict(env_prefix="MODELROUTER_", frozen=True, extra="ignore")

    bootstrap_servers: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma separated")
    topic_prefix: str = Field(DEFAULT_TOPIC_PREFIX, pattern=r"^[A-Za-z0-9._-]*$", max_length=100)
    partitions: int = Field(4, ge=1, le=1024, description="partitions of the event topics")
    replication_factor: int = Field(1, ge=1, le=16)
    app_id: str = Field(
        DEFAULT_APP_ID, pattern=r"^[A-Za-z0-9._-]+$", description="worker group id (see worker_id)"
    )

    bucket_seconds: int = Field(60, ge=1, le=86_400)
    grace_seconds: int = Field(10, ge=0, le=86_400)
    retention_hours: float = Field(24.0, gt=0, le=24 * 90)
    dead_letter_retention_hours: float = Field(24.0 * 7, gt=0)
    request_retention_minutes: float = Field(10.0, gt=0, description="retention of the request/reply topics")

    store_url: str = Field("rocksdb://", pattern=r"^(rocksdb|memory)://", description="faust table store")
    data_dir: Path = Field(Path(".modelrouter/worker"), description="worker state (RocksDB) folder")
    # 10,000 measured better than 5,000 in a backlog (bench/ingest.py, alternating runs on a
    # fresh broker: 57-58k vs 50-54k events/s): a batch's cost is mostly one write per key.
    batch_size: int = Field(10_000, ge=1, description="events folded per batch at most")
    # 0.2 s measured best (bench/ingest.py): 0.05 s gave batches of ~70 events and 5x less throughput.
    batch_within_s: float = Field(0.2, gt=0, description="longest wait to fill a batch")
    session_timeout_s: float = Field(
        10.0, ge=6, le=300, description="how soon the group hands a dead worker's partitions on"
    )
    delivery_timeout_s: float = Field(
        30.0, gt=0, le=600, description="longest wait of a publish for the broker to confirm an event"
    )
    log_repeat_interval_s: float = Field(
        5.0, ge=0, le=3600, description="a repeated warning is logged once per this, with a count (0: all)"
    )
    web_port: int | None = Field(None, ge=1, le=65535, description="faust web port; off when unset")
    # The worker's operations page: Prometheus /metrics, the dashboard and /health.json
    # (docs/operations.md). Off unless set: two workers on one host need two ports.
    metrics_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="port of /metrics and the dashboard (0: any free one); off if unset",
    )
    metrics_host: str = Field("127.0.0.1", description="address the metrics and dashboard port listens on")

    config_dir: Path | None = Field(None, description="folder of model_registry.json and optimizer.json")
    selection_deadline_ms: int = Field(250, gt=0, le=600_000, description="default selection deadline")
    litellm_deadline_ms: int = Field(
        50, gt=0, le=600_000, description="wait for modelrouter's pick in a LiteLLM Router; then LiteLLM's"
    )
    default_cooldown_s: float = Field(60.0, ge=0, description="cooldown when a rate limit has no retry_after")
    circuit_failure_streak: int = Field(5, ge=1, description="consecutive failures that open a circuit")
    circuit_failure_rate: float = Field(0.5, gt=0, le=1, description="failure rate that opens a circuit")
    circuit_min_requests: int = Field(20, ge=1, description="calls needed before the failure rate counts")
    circuit_open_s: float = Field(30.0, gt=0, description="how long an open circuit stays open")
    scorecard_window_s: int = Field(
        300, ge=1, le=86_400, description="trailing window of the stats a scorecard carries"
    )
    # Exploration (docs/evaluation.md): an exploring request gives every eligible candidate at
    # least this probability, so the logged traffic can evaluate policies that choose otherwise.
    explore_floor: float = Field(
        0.02, ge=0, le=1, description="minimum probability of each eligible model when exploring"
    )
    explore_half_life_s: float = Field(
        3600.0, gt=0, description="age at which a scorecard's evidence counts half when exploring"
    )
    # On by default: `evaluate` and `explain` need every decision. The record is built after the
    # reply is sent, ~0.2 ms of the worker's CPU per selection with 50 candidates (~12 KB on the
    # topic); a worker near its CPU limit answers faster without it (docs/benchmarks.md).
    decisions_log: bool = Field(
        True, description="log every selection with its propensity on the decisions topic"
    )

    # Off by default: on, the worker's own metrics count the child's answers a second late.
    selection_process: bool = Field(
        False,
        description="answer selection requests in a child process of the worker's, not beside its folds",
    )

    # Budgets (docs/operations.md, Budgets): below this share of a limit left, selection weighs
    # cost more, up to the `cost` strategy's weights at nothing left.
    budget_near_fraction: float = Field(
        0.2, ge=0, le=1, description="share of a budget left below which selection prefers cheaper models"
    )
    budget_reservation_timeout_s: float = Field(
        600.0,
        gt=0,
        le=86_400,
        description="how long a selection's expected cost stays reserved without its task-completed event",
    )

    compression: Compression = Field(
        "none", description="codec of the batches this process produces (every reader decodes all five)"
    )
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    @model_validator(mode="after")
    def _check_buckets(self) -> Settings:
        if 3600 % self.bucket_seconds:
            raise ValueError(
                f"bucket_seconds={self.bucket_seconds} must divide an hour (3600) evenly, "
                "so trailing windows can merge hourly rollups: try 10, 30, 60 or 300"
            )
        return self

    @model_validator(mode="after")
    def _check_deployment(self) -> Settings:
        if self.topic_prefix == "" and self.app_id == DEFAULT_APP_ID:
            raise ValueError(
                "an empty MODELROUTER_TOPIC_PREFIX with the default MODELROUTER_APP_ID would share "
                "its worker group and tables with the default deployment: set MODELROUTER_APP_ID "
                "to a name of this deployment's own"
            )
        return self

    @model_validator(mode="after")
    def _check_security(self) -> Settings:
        if self.security_protocol.startswith("SASL") and not (
            self.sasl_mechanism and self.sasl_username and self.sasl_password
        ):
            raise ValueError(
                f"security_protocol {self.security_protocol} needs MODELROUTER_SASL_MECHANISM, "
                "MODELROUTER_SASL_USERNAME and MODELROUTER_SASL_PASSWORD"
            )
        return self

    def to_env(self) -> dict[str, str]:
        """These settings as MODELROUTER_* variables, to hand to a worker process."""
        env = {}
        for name, value in self.model_dump(exclude_none=True).items():
            text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
            env[f"MODELROUTER_{name.upper()}"] = text
        return env

    def topic(self, name: str) -> str:
        """A wire-contract topic name with this deployment's prefix."""
        return f"{self.topic_prefix}{name}"

    @property
    def worker_id(self) -> str:
        """The faust app id: the workers' group, their state folder and the stem of every
        group and internal topic they own (`<worker_id>-buckets-changelog`, `-events`, ...).

        `app_id` alone with the default prefix (the names of earlier versions), else the
        prefix and app_id: two deployments on one cluster that differ by prefix alone must
        not share a group or tables (issue 16). Wire topic names are `topic(name)`, unchanged.
        """
        if self.topic_prefix == DEFAULT_TOPIC_PREFIX:
            return self.app_id
        return f"{self.topic_prefix}{self.app_id}"

    @property
    def state_dir(self) -> Path:
        """The worker's RocksDB folder: data_dir with the default prefix (as before), else a
        folder per worker_id in it, so a deployment never opens another's local state."""
        if self.topic_prefix == DEFAULT_TOPIC_PREFIX:
            return self.data_dir
        return self.data_dir / self.worker_id

    @property
    def bootstrap_list(self) -> list[str]:
        return [s.strip() for s in self.bootstrap_servers.split(",") if s.strip()]

    @property
    def faust_broker(self) -> str:
        return ";".join(f"kafka://{s}" for s in self.bootstrap_list)

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.security_protocol.endswith("SSL"):
            return None
        try:
            ctx = ssl.create_default_context(cafile=str(self.ssl_cafile) if self.ssl_cafile else None)
            if self.ssl_certfile:
                ctx.load_cert_chain(
                    str(self.ssl_certfile), str(self.ssl_keyfile) if self.ssl_keyfile else None
                )
        except (OSError, ssl.SSLError) as exc:
            raise ConfigurationError(f"cannot load TLS files ({exc}); check MODELROUTER_SSL_*") from exc
        return ctx

    def aiokafka_kwargs(self) -> dict[str, Any]:
        """Connection and security arguments for any aiokafka client."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_list,
            "security_protocol": self.security_protocol,
        }
        if (ctx := self.ssl_context()) is not None:
            kwargs["ssl_context"] = ctx
        if self.security_protocol.startswith("SASL"):
            assert self.sasl_password is not None  # checked in _check_security
            kwargs |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.sasl_username,
                "sasl_plain_password": self.sasl_password.get_secret_value(),
            }
        return kwargs

    @property
    def compression_type(self) -> str | None:
        """`compression` as aiokafka and faust name it (None for none)."""
        return None if self.compression == "none" else self.compression

    def producer_kwargs(self) -> dict[str, Any]:
        """aiokafka_kwargs() plus what every producer takes from these settings (compression)."""
        return self.aiokafka_kwargs() | {"compression_type": self.compression_type}
