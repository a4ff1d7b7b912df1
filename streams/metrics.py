"""The worker's Prometheus metrics, every name defined here: read at each scrape off the
folds' counters, the event reader's positions, the responder's stats and views, and faust's
monitor and recovery (no second set of counters to keep in step).

docs/operations.md lists the names. A scrape runs on the worker's event loop (ops_server.py),
so it reads the same state the folds and the responder write, between their steps.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import faust
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from .durable_table import DurableTable
from .event_reader import EventReader
from .selection import SelectionResponder

__all__ = ["WorkerMetrics", "metrics_registry"]


class WorkerMetrics(Collector):
    """A prometheus_client collector over one worker's parts."""

    def __init__(self, app: faust.App, reader: EventReader, responder: SelectionResponder) -> None:
        self._app = app
        self._reader = reader
        self._responder = responder

    def collect(self) -> Iterator[Metric]:
        yield from self._folds()
        yield from self._lag()
        yield from self._selection()
        yield from self._models()
        yield from self._budgets()
        yield from self._faust()

    def _folds(self) -> Iterator[Metric]:
        c, tally = self._reader.folds.counters, self._reader.folds.tally
        folded = CounterMetricFamily(
            "modelrouter_events_folded",
            "Valid events read from each event topic (those of another partition's model are "
            "forwarded to it and folded there)",
            labels=["topic"],
        )
        for topic, n in sorted(c.valid_by_topic.items()):
            folded.add_metric([topic], n)
        yield folded
        yield CounterMetricFamily(
            "modelrouter_events_forwarded", "Events forwarded to their model's partition", value=c.rekeyed
        )
        yield CounterMetricFamily(
            "modelrouter_events_expired",
            "Events past retention, skipped",
            value=c.expired,
        )
        yield CounterMetricFamily(
            "modelrouter_events_replayed",
            "Events skipped because their offset was folded before (a replay after a crash)",
            value=tally.duplicates,
        )
        yield CounterMetricFamily("modelrouter_fold_batches", "Batches folded", value=c.batches)
        dead = CounterMetricFamily(
            "modelrouter_dead_lettered",
            "Records sent to the dead-letter topic, by where they came from and why",
            labels=["source", "reason"],
        )
        for reason, n in sorted(c.dead_lettered_by_reason.items()):
            dead.add_metric(["events", reason], n)
        dead.add_metric(["requests", "unanswerable"], self._responder.stats.dead_lettered)
        yield dead

    def _lag(self) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            "modelrouter_consumer_lag_records",
            "Records left to fold per input topic partition this worker reads",
            labels=["topic", "partition"],
        )
        for tp, n in sorted(self._reader.lag().items()):
            lag.add_metric([tp.topic, str(tp.partition)], n)
        yield lag
        stream = GaugeMetricFamily(
            "modelrouter_stream_time_lag_seconds",
            "Wall-clock time less the partition's stream time (the latest event time folded)",
            labels=["partition"],
        )
        now = time.time()
        for partition, clock in sorted(self._reader.stored.index.clocks.items()):
            if clock.stream_time is not None:
                stream.add_metric([str(partition)], max(0.0, now - clock.stream_time))
        yield stream

    def _selection(self) -> Iterator[Metric]:
        s = self._responder.stats
        yield CounterMetricFamily(
            "modelrouter_selection_requests",
            "Requests handled, valid or not",
            value=s.requests,
        )
        answers = CounterMetricFamily(
            "modelrouter_selection_answers", "Replies sent, by kind", labels=["kind"]
        )
        for kind, n in (
            ("selection", s.selections),
            ("summary", s.summaries),
            ("health", s.health_queries),
            ("error", s.error_replies),
        ):
            answers.add_metric([kind], n)
        yield answers
        yield CounterMetricFamily(
            "modelrouter_selection_fallbacks",
            "Selections answered with the base assignment's fallback (fallback_used)",
            value=s.fallbacks,
        )
        yield CounterMetricFamily(
            "modelrouter_selection_errors",
            "Requests answered with an ErrorReply (invalid request, no candidate, internal error)",
            value=s.error_replies,
        )
        yield CounterMetricFamily(
            "modelrouter_selection_failed_sends",
            "Replies that could not be sent",
            value=s.failed_sends,
        )
        records = CounterMetricFamily(
            "modelrouter_decision_records",
            "Decisions for the decisions log, by outcome (dropped: more than 10,000 waited to be built)",
            labels=["outcome"],
        )
        for outcome, n in (
            ("published", s.decisions.published),
            ("dropped", s.decisions.dropped),
            ("failed", s.decisions.failed),
        ):
            records.add_metric([outcome], n)
        yield records
        h = s.latency
        yield HistogramMetricFamily(
            "modelrouter_request_latency_seconds",
            "From a request's record timestamp to its reply handed to the producer",
            buckets=h.cumulative(),
            sum_value=h.total_s,
        )

    def _models(self) -> Iterator[Metric]:
        now = datetime.now(UTC)
        reports = self._responder.health(now)
        circuit = GaugeMetricFamily(
            "modelrouter_model_circuit_open",
            "1 while the model's circuit is open, 0.5 half-open (probed), 0 closed",
            labels=["model"],
        )
        cooldown = GaugeMetricFamily(
            "modelrouter_model_cooldown_seconds",
            "Seconds left of the model's rate-limit cooldown (0: none)",
            labels=["model"],
        )
        for r in reports:
            circuit.add_metric([r.model_id], {"open": 1.0, "half_open": 0.5}.get(r.circuit, 0.0))
            left = (r.cooldown_until - now).total_seconds() if r.in_cooldown and r.cooldown_until else 0.0
            cooldown.add_metric([r.model_id], left)
        yield circuit
        yield cooldown
        yield GaugeMetricFamily(
            "modelrouter_open_circuits",
            "Models whose circuit is open",
            value=sum(r.circuit == "open" for r in reports),
        )
        yield GaugeMetricFamily(
            "modelrouter_active_cooldowns",
            "Models in a rate-limit cooldown",
            value=sum(r.in_cooldown for r in reports),
        )

    def _budgets(self) -> Iterator[Metric]:
        s = self._responder.stats
        labels = ["agent_type", "window"]
        limit = GaugeMetricFamily("modelrouter_budget_limit_usd", "A budget's limit", labels=labels)
        spent = GaugeMetricFamily(
            "modelrouter_budget_spent_usd",
            "Spend over the budget's window in the cost tables (open buckets included)",
            labels=labels,
        )
        reserved = GaugeMetricFamily(
            "modelrouter_budget_reserved_usd",
            "Expected cost of selections whose tasks are not in the cost tables yet",
            labels=labels,
        )
        for b in self._responder.budget_standings(datetime.now(UTC)):
            limit.add_metric([b.agent_type, b.window], b.limit)
            spent.add_metric([b.agent_type, b.window], b.spent)
            reserved.add_metric([b.agent_type, b.window], b.reserved)
        yield limit
        yield spent
        yield reserved
        yield CounterMetricFamily(
            "modelrouter_budget_rejections",
            "Candidates rejected because their expected cost did not fit a budget",
            value=s.budget_rejections,
        )
        yield CounterMetricFamily(
            "modelrouter_budget_reservations_failed",
            "Reservations that could not be shared with the other workers",
            value=s.reservations_failed,
        )
        yield CounterMetricFamily(
            "modelrouter_budget_reservations_withdrawn",
            "Reservations withdrawn because another worker's came first in the log (decided again)",
            value=s.reservations_withdrawn,
        )

    def _faust(self) -> Iterator[Metric]:
        sent = CounterMetricFamily(
            "modelrouter_changelog_records_sent",
            "Table changelog records sent by this worker, per changelog topic",
            labels=["topic"],
        )
        tables = [t for t in self._app.tables.values() if isinstance(t, DurableTable)]
        for table in sorted(tables, key=lambda t: t.changelog_topic.get_topic_name()):
            sent.add_metric([table.changelog_topic.get_topic_name()], table.changelog_records_sent)
        yield sent
        recovery = self._app.tables.recovery  # type: ignore[attr-defined]  # the TableManager has it
        remaining = GaugeMetricFamily(
            "modelrouter_table_recovery_remaining_records",
            "Changelog records left to restore into this worker's tables",
            labels=["kind"],
        )
        remaining.add_metric(["active"], recovery.active_remaining_total())
        remaining.add_metric(["standby"], recovery.standby_remaining_total())
        yield remaining
        yield GaugeMetricFamily(
            "modelrouter_table_recovery_in_progress",
            "1 while the worker restores its tables from their changelogs",
            value=1.0 if recovery.in_recovery else 0.0,
        )


def metrics_registry(app: faust.App, reader: EventReader, responder: SelectionResponder) -> CollectorRegistry:
    """A registry of this worker's metrics only (not prometheus_client's process-wide default)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WorkerMetrics(app, reader, responder))
    return registry
