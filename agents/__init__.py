"""The agent-side SDK: publishing events, asking for selections, failover, and the integration
guide's facade (ModelOptimizerIntegration and the pieces it is built from). The Kafka plumbing it
shares with the worker (topic creation, topic views, table reads) is `modelrouter.agents.kafka`."""

from modelrouter.schemas import APIModelError, FailoverReason, SelectionTimeout, StateNotLoaded

from .assignment import APIModelAssignment, ModelSelection, SelectionConstraints
from .budgets import BudgetBook
from .facade import EnhancedModelOptimizer, ModelOptimizerIntegration
from .failover import FailoverAttempt, FailoverManager, FailoverResult
from .failures import classify_failure, limit_kind_of, retry_after_seconds
from .health import HealthChecker, ModelHealth, RateLimiter, ScorecardBoard
from .monitoring import CostTracker, PerformanceMonitor
from .optimizer import AgentTask, AgentType, ModelAssignment, ModelOptimizer, ResourceConstraint
from .publisher import EventPublisher
from .registry import ModelRegistry, RegistryUpdate
from .selection_client import SelectionClient
from .selector import ModelSelector

__all__ = [
    "APIModelAssignment",
    "APIModelError",
    "AgentTask",
    "AgentType",
    "BudgetBook",
    "CostTracker",
    "EnhancedModelOptimizer",
    "EventPublisher",
    "FailoverAttempt",
    "FailoverManager",
    "FailoverReason",
    "FailoverResult",
    "HealthChecker",
    "ModelAssignment",
    "ModelHealth",
    "ModelOptimizer",
    "ModelOptimizerIntegration",
    "ModelRegistry",
    "ModelSelection",
    "ModelSelector",
    "PerformanceMonitor",
    "RateLimiter",
    "RegistryUpdate",
    "ResourceConstraint",
    "ScorecardBoard",
    "SelectionClient",
    "SelectionConstraints",
    "SelectionTimeout",
    "StateNotLoaded",
    "classify_failure",
    "limit_kind_of",
    "retry_after_seconds",
]
