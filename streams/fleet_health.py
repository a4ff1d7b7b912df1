"""Every model's health as selection judges it: circuit, cooldown and recent failures. Pure.

The responder answers `health` requests with it, the metrics count open circuits and
cooldowns from it, and the dashboard shows it; all from the same registry and scorecards
that selection reads, and the circuit rule of schemas/health.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from modelrouter.schemas import ModelHealthReport, ModelSpec, Scorecard
from modelrouter.schemas.health import HealthParams, circuit, in_cooldown, observed_success_rate

__all__ = ["health_reports"]


def health_reports(
    registry: Mapping[str, ModelSpec],
    scorecards: Mapping[str, Scorecard],
    now: datetime,
    params: HealthParams,
) -> tuple[ModelHealthReport, ...]:
    """One report per model of the registry or with a scorecard, sorted by model id."""
    reports = []
    for model_id in sorted(set(registry) | set(scorecards)):
        spec, card = registry.get(model_id), scorecards.get(model_id)
        state = circuit(card, now, params)
        reports.append(
            ModelHealthReport(
                model_id=model_id,
                provider=spec.provider if spec is not None else None,
                enabled=spec.enabled if spec is not None else False,
                circuit=state.state.value,
                circuit_reason=state.why or None,
                circuit_open_until=state.open_until,
                cooldown_until=card.cooldown_until if card is not None else None,
                in_cooldown=in_cooldown(card, now),
                failure_streak=card.failure_streak if card is not None else 0,
                last_failure_at=card.last_failure_at if card is not None else None,
                requests=card.requests if card is not None else 0,
                success_rate=observed_success_rate(card) if card is not None else None,
                recent_failures=dict(card.failures_by_error) if card is not None else {},
                scorecard_at=card.updated_at if card is not None else None,
            )
        )
    return tuple(reports)
