"""The fixed assignment, replayed offline: every task calls the ModelOptimizer's model for its agent
type (and, for "fixed + fallback", the assignment's other model once when that fails), in the
same simulated world and at the same moments as the live run. No Kafka, no selection.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from modelrouter.agents.optimizer import AgentTask, ModelOptimizer

from .world import SimTask, TaskResult, World

__all__ = ["FixedPlan", "agent_task", "fixed_plan", "replay_fixed"]

# (model to call first, the model to fall back on)
FixedPlan = Callable[[SimTask], tuple[str, str]]


def agent_task(task: SimTask) -> AgentTask:
    """The task as the ModelOptimizer and the facade see it."""
    return AgentTask(
        id=task.task_id,
        type=task.task_type,
        estimated_input_tokens=task.input_tokens,
        estimated_output_tokens=task.output_tokens,
    )


def fixed_plan(optimizer: ModelOptimizer) -> FixedPlan:
    """The hierarchy's choice for each task: select_model_for_agent's model (the primary unless
    the task does not fit its context window), and the assignment's other model as fallback."""

    def plan(task: SimTask) -> tuple[str, str]:
        model, assignment = optimizer.select_model_for_agent(task.agent_type, agent_task(task))
        other = assignment.fallback_model if model == assignment.primary_model else assignment.primary_model
        return model, other

    return plan


def replay_fixed(
    world: World, tasks: Sequence[SimTask], plan: FixedPlan, *, with_fallback: bool
) -> list[TaskResult]:
    """Each task's outcome under the fixed policy. The primary is called when the task starts;
    the fallback, when there is one, as soon as the primary's failure came back."""
    results = []
    for task in tasks:
        primary, fallback = plan(task)
        first = world.call(primary, task, task.at_s)
        attempts = [first]
        if with_fallback and not first.ok:
            attempts.append(world.call(fallback, task, task.at_s + first.latency_ms / 1000.0))
        results.append(TaskResult(task.index, task.at_s, task.agent_type, tuple(attempts)))
    return results
