"""SelectionClient without a broker: replies correlated by request_id, deadlines, fallbacks, errors.

The client's connection is replaced by a scripted one: sent requests are recorded, and the
test (or a responder function) delivers replies through `client.deliver`, as the reply
consumer would.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

from modelrouter.agents.selection_client import SelectionClient, fallback_reply
from modelrouter.schemas import (
    APIModelError,
    BaseAssignment,
    ErrorDetail,
    ErrorReply,
    ModelSpec,
    Reply,
    Request,
    SelectionBrokerUnavailable,
    SelectionReply,
    SelectionRequest,
    SelectionTimeout,
    Settings,
    SummaryReply,
    TaskInfo,
    WorkerErrorReply,
    decode_request,
    encode,
)

BASE = BaseAssignment(
    role_type="architect", model_tier="premium", primary_model="claude-3-opus", fallback_model="gpt-4-turbo"
)
SPECS = {
    "gpt-4-turbo": ModelSpec(
        model_id="gpt-4-turbo",
        provider="openai",
        endpoint="https://api.openai.com/v1/chat/completions",
        tier="premium",
        context_window=128000,
        input_cost_per_1k=0.01,
        output_cost_per_1k=0.03,
    )
}

Responder = Callable[[Request], Reply | None]


class _Delivery(asyncio.Future[Any]):
    pass


class ScriptedProducer:
    def __init__(self, client: ScriptedClient) -> None:
        self.client = client

    async def send(self, topic: str, value: bytes, key: bytes) -> asyncio.Future[Any]:
        request = decode_request(value)
        assert key == request.request_id.encode()
        assert topic == self.client.settings.topic("selection-requests")
        self.client.sent.append(request)
        delivery: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.client.delivery_error is not None:
            delivery.set_exception(self.client.delivery_error)
        else:
            delivery.set_result(None)
        if self.client.responder is not None:
            reply = self.client.responder(request)
            if reply is not None:
                asyncio.get_running_loop().call_later(
                    self.client.reply_delay_s, self.client.deliver, encode(reply)
                )
        return delivery

    async def flush(self) -> None:
        pass

    async def stop(self) -> None:
        pass


class ScriptedClient(SelectionClient):
    def __init__(
        self,
        settings: Settings,
        *,
        connect: Callable[[], Awaitable[None]] | None = None,
        responder: Responder | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(settings, lookup=SPECS.get, **kwargs)
        self.sent: list[Request] = []
        self.responder = responder
        self.reply_delay_s = 0.0
        self.delivery_error: BaseException | None = None
        self.connects = 0
        self._connect_hook = connect

    async def _connect(self) -> None:
        self.connects += 1
        if self._connect_hook is not None:
            await self._connect_hook()
        self._producer = ScriptedProducer(self)  # type: ignore[assignment]
        self._reader = asyncio.create_task(asyncio.Event().wait())


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition never held")


def answer(request: Request, model: str = "claude-3.5-sonnet") -> SelectionReply:
    assert isinstance(request, SelectionRequest)
    return SelectionReply(
        request_id=request.request_id,
        selected_model_id=model,
        provider="anthropic",
        score=0.8,
        reasoning=f"best for {request.task.task_id}",
    )


def make_request(
    client: SelectionClient, task_id: str = "t1", *, base: BaseAssignment | None = BASE
) -> SelectionRequest:
    return client.request("SA", TaskInfo(task_id=task_id), base_assignment=base)


async def test_many_requests_in_flight_get_their_own_replies_whatever_the_order(settings: Settings) -> None:
    client = ScriptedClient(settings)
    try:
        requests = [make_request(client, f"t{i}") for i in range(20)]
        waiting = [asyncio.create_task(client.select(r, deadline_ms=2000)) for r in requests]
        await until(lambda: len(client.sent) == 20)
        for request in reversed(client.sent):  # answered in reverse order
            client.deliver(encode(answer(request, model=f"m-{request.task.task_id}")))
        replies = await asyncio.gather(*waiting)
        assert [r.selected_model_id for r in replies] == [f"m-t{i}" for i in range(20)]
        assert [r.request_id for r in replies] == [r.request_id for r in requests]
        assert client.answered == 20 and client.fallbacks == 0
        assert client.connects == 1
        assert all(r.reply_to == client.reply_topic for r in client.sent)
    finally:
        await client.close()


async def test_reply_topic_is_per_client_under_the_prefix(settings: Settings) -> None:
    a, b = SelectionClient(settings), SelectionClient(settings)
    assert a.reply_topic.startswith(f"{settings.topic_prefix}replies.")
    assert a.reply_topic != b.reply_topic


async def test_the_request_carries_the_deadline_and_this_clients_reply_topic(settings: Settings) -> None:
    client = ScriptedClient(settings, responder=answer)
    try:
        foreign = make_request(client).model_copy(update={"reply_to": "someone.else"})
        await client.select(foreign, deadline_ms=1234)
        assert client.sent[0].reply_to == client.reply_topic
        assert isinstance(client.sent[0], SelectionRequest)
        assert client.sent[0].deadline_ms == 1234
        await client.select(make_request(client))
        assert client.sent[1].deadline_ms == settings.selection_deadline_ms == 250  # type: ignore[union-attr]
    finally:
        await client.close()


async def test_past_the_deadline_the_base_fallback_is_returned_with_the_reason(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    client = ScriptedClient(settings)  # nobody answers
    try:
        request = make_request(client)
        started = time.perf_counter()
        with caplog.at_level(logging.WARNING, logger="modelrouter.agents.selection"):
            reply = await client.select(request, deadline_ms=100)
        elapsed = time.perf_counter() - started
        assert 0.09 <= elapsed < 0.5
        assert reply.request_id == request.request_id
        assert reply.selected_model_id == "gpt-4-turbo"
        assert reply.fallback_used is True
        assert reply.provider == "openai"  # looked up in the registry
        assert reply.endpoint == "https://api.openai.com/v1/chat/completions"
        assert reply.reasoning == (
            "no selection reply within 100 ms (deadline): no worker answered (the broker at "
            f"{settings.bootstrap_servers} is connected); "
            "using the base assignment's fallback model gpt-4-turbo"
        )
        assert [a.model_id for a in reply.alternatives] == ["claude-3-opus"]
        assert client.fallbacks == 1
        assert "fell back to gpt-4-turbo" in caplog.text
        # the late reply is dropped and counted, not delivered to anyone
        client.deliver(encode(answer(client.sent[0])))
        assert client.late_replies == 1
    finally:
        await client.close()


async def test_raise_on_timeout_or_no_base_assignment_raises_selection_timeout(settings: Settings) -> None:
    client = ScriptedClient(settings)
    try:
        with pytest.raises(SelectionTimeout, match=r"no selection reply within 50 ms"):
            await client.select(make_request(client), deadline_ms=50, raise_on_timeout=True)
        with pytest.raises(SelectionTimeout, match=r"no base assignment to fall back on"):
            await client.select(make_request(client, base=None), deadline_ms=50)
        assert client.fallbacks == 0
    finally:
        await client.close()


async def test_an_error_reply_raises_api_model_error_with_its_message(settings: Settings) -> None:
    def refuse(request: Request) -> Reply:
        return ErrorReply(
            request_id=request.request_id,
            error=ErrorDetail(code="no_registry", message="the registry topic is empty"),
        )

    client = ScriptedClient(settings, responder=refuse)
    try:
        with pytest.raises(
            WorkerErrorReply,
            match=r"the worker answered with an error: no_registry: the registry topic is empty",
        ) as raised:
            await client.select(make_request(client))
        assert raised.value.code == "no_registry"
        assert isinstance(raised.value, APIModelError)
    finally:
        await client.close()


async def test_broker_unreachable_falls_back_at_once_and_reconnects_later(settings: Settings) -> None:
    async def refuse() -> None:
        raise KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 1)]")

    client = ScriptedClient(settings, connect=refuse, reconnect_after_s=0.2)
    try:
        started = time.perf_counter()
        reply = await client.select(make_request(client), deadline_ms=5000)
        assert time.perf_counter() - started < 0.5  # not the 5 s deadline: the error is known
        assert reply.fallback_used and reply.selected_model_id == "gpt-4-turbo"
        assert reply.reasoning.startswith(
            f"broker unreachable: cannot reach Kafka at {settings.bootstrap_servers} (KafkaConnectionError: "
        )
        await client.select(make_request(client))
        assert client.connects == 1  # within reconnect_after_s: the known failure, no new attempt
        await asyncio.sleep(0.25)
        with pytest.raises(
            SelectionBrokerUnavailable,
            match=r"unreachable.*check that the broker runs and MODELROUTER_BOOTSTRAP_SERVERS",
        ):
            await client.select(make_request(client), raise_on_timeout=True)
        assert client.connects == 2
    finally:
        await client.close()


async def test_a_hanging_connection_does_not_hold_up_the_deadline(settings: Settings) -> None:
    gate = asyncio.Event()

    async def hang() -> None:
        await gate.wait()

    client = ScriptedClient(settings, connect=hang, responder=answer)
    try:
        started = time.perf_counter()
        reply = await client.select(make_request(client))  # default deadline: 250 ms
        assert 0.24 <= time.perf_counter() - started < 0.6
        assert reply.fallback_used
        assert reply.reasoning.startswith(
            "no selection reply within 250 ms (deadline): "
            f"still connecting to Kafka at {settings.bootstrap_servers}"
        )
        gate.set()  # the connection completes in the background; the next request is answered
        reply = await client.select(make_request(client, "t2"), deadline_ms=1000)
        assert not reply.fallback_used and reply.reasoning == "best for t2"
        assert client.connects == 1
    finally:
        await client.close()


async def test_a_failed_delivery_falls_back_with_the_error(settings: Settings) -> None:
    client = ScriptedClient(settings)
    client.delivery_error = KafkaConnectionError("broker went away")
    try:
        reply = await client.select(make_request(client), deadline_ms=2000)
        assert reply.fallback_used
        assert "broker went away" in reply.reasoning
    finally:
        await client.close()


async def test_summary_returns_the_reply_or_raises_on_timeout(settings: Settings) -> None:
    def totals(request: Request) -> Reply:
        return SummaryReply(
            request_id=request.request_id,
            total_requests=3,
            total_cost=0.5,
            average_success_rate=2 / 3,
            cost_by_model={"gpt-4o": 0.5},
            requests_by_model={"gpt-4o": 3},
        )

    client = ScriptedClient(settings, responder=totals)
    try:
        reply = await client.summary("SA", 24)
        assert (reply.total_requests, reply.cost_by_model) == (3, {"gpt-4o": 0.5})
        sent = client.sent[-1]
        assert sent.kind == "summary" and sent.agent_type == "SA" and sent.window_hours == 24.0
        client.responder = None
        with pytest.raises(SelectionTimeout, match=r"no summary reply within 50 ms"):
            await client.summary(None, 1, deadline_ms=50)
    finally:
        await client.close()


async def test_invalid_reply_records_are_skipped(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    client = ScriptedClient(settings)
    with caplog.at_level(logging.WARNING):
        client.deliver(b'{"kind": "selection"}')
        client.deliver(None)
    assert "skipping an invalid reply" in caplog.text


async def test_close_fails_waiting_requests_and_refuses_new_ones(settings: Settings) -> None:
    client = ScriptedClient(settings)
    waiting = asyncio.create_task(
        client.select(make_request(client), deadline_ms=5000, raise_on_timeout=True)
    )
    await until(lambda: bool(client.sent))
    await client.close()
    with pytest.raises(APIModelError, match=r"closed"):
        await waiting
    with pytest.raises(APIModelError, match=r"closed"):
        await client.select(make_request(client))


def test_fallback_reply_for_an_unknown_model_says_unknown_provider() -> None:
    base = BaseAssignment(role_type="r", model_tier="t", primary_model="x", fallback_model="x")
    reply = fallback_reply("rid", base, "why")
    assert (reply.provider, reply.endpoint, reply.alternatives) == ("unknown", None, ())
    assert reply.reasoning == "why; using the base assignment's fallback model x"
