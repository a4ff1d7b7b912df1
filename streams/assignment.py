"""Which partitions faust gave this worker, and whether their tables are ready to fold.

faust assigns partitions of the internal `assignment` topic (no records flow through it),
co-partitioned with the tables; the event reader reads the same partitions of the event
topics. AssignmentReadiness is the one readiness check: the reader and the timers use it.
"""

from __future__ import annotations

from typing import Any

import faust

from modelrouter.schemas import Settings

__all__ = ["ASSIGNMENT_TOPIC", "AssignmentReadiness", "assigned_partitions"]

ASSIGNMENT_TOPIC = "assignment"


def assigned_partitions(app: faust.App, settings: Settings) -> set[int]:
    """The partitions of the `assignment` topic (and so of the tables) this worker owns."""
    topic = settings.topic(ASSIGNMENT_TOPIC)
    return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}


class AssignmentReadiness:
    """Whether the tables of the current assignment are restored, so folding may start.

    faust's `recovery.completed` stays set from the previous assignment, and `in_recovery`
    is set only once recovery has started, so a fold started in between wrote into
    partitions that recovery then rewound (a SIGKILL test lost failovers that way). So the
    completion is remembered per consumer generation, from faust's rebalance-complete signal.
    """

    def __init__(self, app: faust.App) -> None:
        self._app = app
        self._recovered_for: int | None = None  # the generation whose table recovery completed
        app.on_rebalance_complete.connect(self._on_recovered)

    @property
    def _recovery(self) -> Any:
        return self._app.tables.recovery  # type: ignore[attr-defined]  # on TableManager, not its interface

    async def _on_recovered(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        """faust sends this when the tables of the current assignment are restored. It runs in
        faust's recovery task: a newer rebalance's recovery is still pending (its start signal
        set) if this completion belongs to an older assignment."""
        if not self._recovery.signal_recovery_start.is_set():
            self._recovered_for = self._app.consumer_generation_id

    def revoked(self) -> None:
        """Partitions are being taken away: not ready until the next recovery completes."""
        self._recovered_for = None

    def ready(self) -> bool:
        recovery = self._recovery
        generation = self._app.consumer_generation_id
        return (
            generation is not None
            and self._recovered_for == generation
            and not self._app.rebalancing
            and not recovery.in_recovery
            and not recovery.signal_recovery_start.is_set()
        )
