"""Builds the faust App from Settings: broker, store, security and consumer/producer tuning."""

from __future__ import annotations

import faust

from modelrouter.schemas import Settings

from .durable_table import DurableTable

__all__ = ["create_app"]


def _credentials(settings: Settings) -> faust.SASLCredentials | faust.SSLCredentials | None:
    ctx = settings.ssl_context()
    if settings.security_protocol.startswith("SASL"):
        assert settings.sasl_password is not None  # Settings validates this
        return faust.SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password.get_secret_value(),
            mechanism=settings.sasl_mechanism,
            ssl_context=ctx,
        )
    if ctx is not None:
        return faust.SSLCredentials(ctx)
    return None


def create_app(settings: Settings) -> faust.App:
    """A faust App for these settings; agents are attached by the domain modules."""
    return faust.App(
        settings.worker_id,
        broker=settings.faust_broker,
        broker_credentials=_credentials(settings),
        store=settings.store_url,
        datadir=str(settings.state_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        # Values are raw bytes, decoded once by the schemas codec (one codec for everything).
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
        producer_acks=-1,
        producer_compression_type=settings.compression_type,
        # Changelog and summary records of one batch go out in a few requests, not one each:
        # with linger 0 a busy worker spent a third of its CPU on single-record produce calls.
        producer_linger_ms=5,
        web_enabled=settings.web_port is not None,
        web_port=settings.web_port or 6066,
        # Tables whose changelog sends the folds await before acking (streams/durable_table.py).
        Table=DurableTable,
    )
