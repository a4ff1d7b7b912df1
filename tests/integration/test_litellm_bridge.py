"""The LiteLLM bridge against the real litellm package (no network: a registered CustomLLM
provider answers) and the real broker: events on the topics, quality after the fact, a 429 that
the next modelrouter-routed Router call avoids, and calls that succeed with the broker down."""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no cost-map download at import

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import litellm
import pytest
from litellm import CustomLLM, Router

from modelrouter.agents import ModelRegistry
from modelrouter.agents.litellm_bridge import LiteLLMBridge, ModelRouterLogger, install
from modelrouter.agents.litellm_routing import SELECTION_KEY, ModelRouterRouting
from modelrouter.cli.worker_process import wait_until_answering
from modelrouter.schemas import (
    Failover,
    ModelSpec,
    QualityReported,
    RateLimited,
    Settings,
    TaskCompleted,
    TopicName,
    WindowSummary,
    decode,
    decode_event,
)

from kafka_helpers import eventually, read_topic

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]

MESSAGES = [{"role": "user", "content": "hello"}]
REQUEST = httpx.Request("POST", "http://sim.invalid/v1/chat/completions")


class SimProvider(CustomLLM):  # type: ignore[misc]
    """Answers as the model named after "sim/": `failing` maps a model to the error it raises."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.failing: dict[str, Callable[[str], Exception]] = {}

    async def acompletion(self, model: str, messages: list[Any], *args: Any, **kwargs: Any) -> Any:
        self.calls.append(model)
        if model in self.failing:
            raise self.failing[model](model)
        return litellm.ModelResponse(
            model=model,
            choices=[{"message": {"role": "assistant", "content": f"from {model}"}}],
            usage={"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500},
        )


def rate_limit(retry_after_s: int) -> Callable[[str], Exception]:
    def make(model: str) -> Exception:
        response = httpx.Response(429, headers={"retry-after": str(retry_after_s)}, request=REQUEST)
        return litellm.RateLimitError(message="slow down", llm_provider="sim", model=model, response=response)

    return make


def unavailable(model: str) -> Exception:
    response = httpx.Response(503, request=REQUEST)
    return litellm.ServiceUnavailableError(message="down", llm_provider="sim", model=model, response=response)


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> SimProvider:
    provider = SimProvider()
    # litellm's registries are module globals: each test gets its own, restored after it.
    monkeypatch.setattr(litellm, "custom_provider_map", [{"provider": "sim", "custom_handler": provider}])
    for name in ("callbacks", "success_callback", "failure_callback", "_async_success_callback"):
        monkeypatch.setattr(litellm, name, [])
    monkeypatch.setattr(litellm, "_async_failure_callback", [])
    return provider


async def events_on(settings: Settings, topic: TopicName) -> list[Any]:
    return [decode_event(v) for _, v in await read_topic(settings, settings.topic(topic)) if v is not None]


def priced(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": f"sim/{model}", "input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6, **extra}


async def test_calls_publish_task_completed_rate_limited_failover_and_quality(
    kafka_settings: Settings, sim: SimProvider
) -> None:
    logger = ModelRouterLogger(kafka_settings)
    litellm.callbacks.append(logger)
    sim.failing["busy"] = rate_limit(7)
    sim.failing["down"] = unavailable
    try:
        ok = await litellm.acompletion(
            model="sim/gpt-4o",
            messages=MESSAGES,
            metadata={"agent_type": "SA", "task_id": "task-ok"},
            input_cost_per_token=1e-6,
            output_cost_per_token=2e-6,
        )
        assert ok.choices[0].message.content == "from gpt-4o"
        for model in ("busy", "down"):
            with pytest.raises((litellm.RateLimitError, litellm.ServiceUnavailableError)):
                await litellm.acompletion(
                    model=f"sim/{model}",
                    messages=MESSAGES,
                    metadata={"agent_type": "SA", "task_id": f"t-{model}"},
                )
        router = Router(
            model_list=[
                {"model_name": "primary", "litellm_params": priced("busy"), "model_info": {"id": "d1"}},
                {"model_name": "backup", "litellm_params": priced("mini"), "model_info": {"id": "d2"}},
            ],
            fallbacks=[{"primary": ["backup"]}],
            num_retries=0,
        )
        fell_back = await router.acompletion(
            model="primary", messages=MESSAGES, metadata={"agent_type": "PM", "task_id": "task-fb"}
        )
        assert fell_back.choices[0].message.content == "from mini"
        assert await logger.flush(timeout_s=30)
        quality = logger.report_quality("task-ok", 0.8)
        assert (quality.model_id, quality.agent_type) == ("gpt-4o", "SA")
        assert await logger.flush(timeout_s=30)
    finally:
        await logger.close()
    assert logger.dropped == 0

    on_tc = await events_on(kafka_settings, TopicName.TASK_COMPLETED)
    done = {e.task_id: e for e in on_tc if isinstance(e, TaskCompleted) and e.success}
    assert set(done) == {"task-ok", "task-fb"}
    first = done["task-ok"]
    assert (first.agent_type, first.model_id, first.provider) == ("SA", "gpt-4o", "sim")
    assert (first.input_tokens, first.output_tokens) == (1000, 500)
    assert first.cost == pytest.approx(1000 * 1e-6 + 500 * 2e-6)
    assert first.latency_ms > 0
    assert (done["task-fb"].model_id, done["task-fb"].agent_type) == ("mini", "PM")
    failed = {
        (e.task_id, e.model_id, e.error_type) for e in on_tc if isinstance(e, TaskCompleted) and not e.success
    }
    assert failed == {
        ("t-busy", "busy", "rate_limited"),
        ("t-down", "down", "unavailable"),
        ("task-fb", "busy", "rate_limited"),
    }
    [reported] = [e for e in on_tc if isinstance(e, QualityReported)]
    assert (reported.task_id, reported.model_id, reported.quality_score) == ("task-ok", "gpt-4o", 0.8)

    limited = await events_on(kafka_settings, TopicName.RATE_LIMITED)
    assert sorted(
        (e.task_id, e.model_id, e.retry_after_s) for e in limited if isinstance(e, RateLimited)
    ) == [
        ("t-busy", "busy", 7.0),
        ("task-fb", "busy", 7.0),
    ]
    [failover] = await events_on(kafka_settings, TopicName.FAILOVER)
    assert isinstance(failover, Failover)
    assert (failover.task_id, failover.original_model, failover.alternative_model) == (
        "task-fb",
        "busy",
        "mini",
    )
    assert (failover.agent_type, failover.reason.value) == ("PM", "rate_limited")


REGISTRY = {
    "cheap-model": ModelSpec(
        model_id="cheap-model", provider="sim", capabilities=("chat",), tier="economy",
        context_window=100_000, input_cost_per_1k=0.0001, output_cost_per_1k=0.0002,
    ),
    "dear-model": ModelSpec(
        model_id="dear-model", provider="sim", capabilities=("chat",), tier="premium",
        context_window=100_000, input_cost_per_1k=0.01, output_cost_per_1k=0.03,
    ),
}  # fmt: skip


@pytest.fixture
async def routed(
    kafka_settings: Settings, worker_factory: Any, sim: SimProvider
) -> AsyncIterator[tuple[Router, LiteLLMBridge]]:
    settings = kafka_settings.model_copy(update={"bucket_seconds": 5, "grace_seconds": 1})
    update = await ModelRegistry(settings=settings, models=REGISTRY).publish()
    assert len(update.published) == 2
    worker = worker_factory(settings)
    worker.start()
    router = Router(
        model_list=[
            {"model_name": "chat", "litellm_params": {"model": f"sim/{m}"}, "model_info": {"id": f"d-{m}"}}
            for m in REGISTRY
        ],
        num_retries=0,
        disable_cooldowns=True,  # so that only modelrouter's cooldown can keep a deployment out
    )
    bridge = install(settings, router=router, agent_type="SA")
    assert bridge.routing is not None
    bridge.routing.strategy = "cost"
    await wait_until_answering(bridge.routing.client, worker, 90.0)
    try:
        yield router, bridge
    finally:
        await bridge.close()


async def call(router: Router, task_id: str) -> Any:
    return await router.acompletion(
        model="chat", messages=MESSAGES, metadata={"agent_type": "SA", "task_id": task_id}
    )


async def test_router_follows_modelrouter_and_a_429_cools_the_deployment_down(
    routed: tuple[Router, LiteLLMBridge], sim: SimProvider
) -> None:
    router, bridge = routed
    routing = bridge.routing
    assert isinstance(routing, ModelRouterRouting)
    routing.deadline_ms = 2000  # a loaded test machine; the 50 ms default is the benchmark's business
    # modelrouter ranks by cost: every call goes to the cheap deployment (LiteLLM's shuffle would split).
    picks = [await call(router, f"t{i}") for i in range(6)]
    assert [r.model for r in picks] == ["cheap-model"] * 6
    selection = picks[0]._hidden_params[SELECTION_KEY]
    assert (selection["model_id"], selection["deployment_id"], selection["chosen_by"]) == (
        "cheap-model",
        "d-cheap-model",
        "modelrouter",
    )
    assert "cheap-model" in selection["reasoning"]
    assert routing.followed == 6

    # A 429 with retry-after 600 s: the logger publishes it, the worker folds the cooldown.
    sim.failing["cheap-model"] = rate_limit(600)
    with pytest.raises(litellm.RateLimitError):
        await call(router, "t-limited")
    await bridge.logger.flush(timeout_s=30)

    async def routed_to() -> str:
        try:
            return str((await call(router, "t-probe")).model)
        except litellm.RateLimitError:  # routed to it again: the worker has not folded the 429 yet
            return "cheap-model"

    after = await eventually(routed_to, lambda m: m == "dear-model", timeout_s=60, every_s=0.5)
    assert after == "dear-model"
    # Still cooling down: the next calls keep away from it too.
    assert [(await call(router, f"u{i}")).model for i in range(3)] == ["dear-model"] * 3

    # Quality known later reaches the worker's stats: its trailing 1 h window over all agents.
    reported = bridge.report_quality("t0", 0.9)
    assert (reported.model_id, reported.agent_type) == ("cheap-model", "SA")
    await bridge.logger.flush(timeout_s=30)

    async def quality_of_cheap() -> float | None:
        settings = routing.settings
        rows = [
            decode(WindowSummary, v)
            for _, v in await read_topic(settings, settings.topic(TopicName.SUMMARIES))
            if v
        ]
        hour = [r for r in rows if r.model_id == "cheap-model" and r.window == "1h" and r.agent_type is None]
        return hour[-1].quality_mean if hour else None

    q = await eventually(quality_of_cheap, lambda q: q is not None, timeout_s=60)
    assert q == pytest.approx(0.9)


async def test_broker_down_calls_succeed_and_drops_are_counted(
    settings: Settings, sim: SimProvider, caplog: pytest.LogCaptureFixture
) -> None:
    nowhere = settings.model_copy(update={"bootstrap_servers": "127.0.0.1:9"})
    logger = ModelRouterLogger(nowhere, max_queued=3)
    litellm.callbacks.append(logger)
    router = Router(
        model_list=[
            {"model_name": "chat", "litellm_params": {"model": f"sim/{m}"}, "model_info": {"id": m}}
            for m in ("m1", "m2")
        ],
        num_retries=0,
    )
    routing = ModelRouterRouting(router, nowhere)
    routing.register()
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        for i in range(8):
            response = await router.acompletion(
                model="chat", messages=MESSAGES, metadata={"task_id": f"t{i}"}
            )
            assert response.model in {"m1", "m2"}
            assert response._hidden_params[SELECTION_KEY]["chosen_by"] == "litellm"
        assert loop.time() - started < 8 * 2.0  # each call waited at most the deadline (50 ms) and change

        async def dropped() -> int:
            return logger.dropped

        n = await eventually(dropped, lambda n: n >= 5, timeout_s=10, every_s=0.05)
        assert n >= 5, (logger.events.queued, logger.events.sent, litellm.callbacks)
        assert logger.events.queued <= 3
        assert routing.litellm_picks == 8
        assert any(
            "modelrouter events" in r.getMessage() and "dropped" in r.getMessage() for r in caplog.records
        )
    finally:
        await logger.close(timeout_s=0.5)
        await routing.close()
