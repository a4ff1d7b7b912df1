"""Synthetic agent events with known totals: for benchmarks, crash tests and demos.

A realistic mix (about 90% task-completed, 5% rate-limited, 5% failover) over a fleet
of models and agent types, deterministic for a seed, with the ground truth a correct
fold must reproduce.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from modelrouter.schemas import Event, Failover, FailoverReason, LimitKind, RateLimited, TaskCompleted

__all__ = ["Totals", "Workload", "model_ids", "totals"]

AGENT_TYPES = ("SA", "PM", "BA", "DEV", "QA", "OPS", "RESEARCH", "JUDGE")
PROVIDERS = ("openai", "anthropic", "google", "mistral", "ollama")
REASONS = tuple(FailoverReason)


def model_ids(n: int) -> list[str]:
    return [f"{PROVIDERS[i % len(PROVIDERS)]}-model-{i:02d}" for i in range(n)]


@dataclass
class Totals:
    """Per-model ground truth, in the same fixed-point units the bucket folds use."""

    requests: int = 0
    successes: int = 0
    cost_pico: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    rate_limited: int = 0
    failovers_out: int = 0
    failovers_in: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class Workload:
    models: int = 50
    agent_types: int = 8
    seed: int = 1
    start: datetime = field(default_factory=lambda: datetime.now(UTC) - timedelta(minutes=30))
    span_s: float = 1800.0  # event times spread evenly over this span from `start`

    def events(self, n: int) -> Iterator[Event]:
        rng = random.Random(self.seed)  # noqa: S311 - simulated traffic, not security
        models = model_ids(self.models)
        agents = AGENT_TYPES[: self.agent_types]
        # Each model has its own quality of service, so selection has something to learn.
        profile = {
            m: (rng.uniform(0.8, 0.995), rng.uniform(200, 3000), rng.uniform(0.0002, 0.03)) for m in models
        }
        step = self.span_s / max(n, 1)
        for i in range(n):
            model = rng.choice(models)
            agent = rng.choice(agents)
            at = self.start + timedelta(seconds=i * step)
            ok_rate, latency, cost = profile[model]
            provider = model.split("-", 1)[0]
            roll = rng.random()
            if roll < 0.90:
                ok = rng.random() < ok_rate
                yield TaskCompleted(
                    event_id=f"e{self.seed}-{i}",
                    occurred_at=at,
                    agent_type=agent,
                    task_id=f"t{i}",
                    model_id=model,
                    provider=provider,
                    success=ok,
                    latency_ms=round(rng.lognormvariate(0, 0.4) * latency, 3),
                    quality_score=round(rng.uniform(0.5, 1.0), 4) if ok and rng.random() < 0.8 else None,
                    cost=round(cost * rng.uniform(0.5, 1.5), 8),
                    input_tokens=rng.randint(100, 8000),
                    output_tokens=rng.randint(10, 2000),
                    error_type=None if ok else rng.choice(("timeout", "server_error", "invalid_response")),
                )
            elif roll < 0.95:
                yield RateLimited(
                    event_id=f"e{self.seed}-{i}",
                    occurred_at=at,
                    agent_type=agent,
                    model_id=model,
                    provider=provider,
                    task_id=f"t{i}",
                    retry_after_s=rng.choice((None, 1.0, 5.0, 30.0)),
                    limit_kind=rng.choice(tuple(LimitKind)),
                )
            else:
                yield Failover(
                    event_id=f"e{self.seed}-{i}",
                    occurred_at=at,
                    agent_type=agent,
                    task_id=f"t{i}",
                    original_model=model,
                    alternative_model=rng.choice(models),
                    reason=rng.choice(REASONS),
                )


def totals(events: list[Event]) -> dict[str, Totals]:
    """The per-model ground truth of `events`."""
    out: dict[str, Totals] = {}
    for ev in events:
        if isinstance(ev, TaskCompleted):
            t = out.setdefault(ev.model_id, Totals())
            t.requests += 1
            t.successes += ev.success
            t.cost_pico += round(ev.cost * 1_000_000_000_000)
            t.input_tokens += ev.input_tokens
            t.output_tokens += ev.output_tokens
        elif isinstance(ev, RateLimited):
            out.setdefault(ev.model_id, Totals()).rate_limited += 1
        elif isinstance(ev, Failover):
            out.setdefault(ev.original_model, Totals()).failovers_out += 1
            out.setdefault(ev.alternative_model, Totals()).failovers_in += 1
    return out
