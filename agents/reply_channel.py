"""ReplyChannel: Kafka request/reply for one client — its own reply topic, one consumer on it,
any number of requests in flight, each reply handed to the request with its request_id.

The reply topic, `<prefix>replies.<client id>`, is created with the short retention of the
request/reply topics and is not deleted on close: retention empties it, and an empty topic
costs the broker only its metadata. (A client that lives for one request leaves one such topic
behind: hold one client per process, as the guide's "Initialize Once" says.)

Connecting never holds up a caller: it runs in the background on first use, and a caller waits
for it at most as long as its own deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaConnectionError

from modelrouter.schemas import (
    APIModelError,
    InvalidEventError,
    Reply,
    SelectionBrokerUnavailable,
    Settings,
    TopicName,
    TopicSpec,
    decode_reply,
    encode_key,
    topic_specs,
)

from .kafka.admin import ensure_topics
from .kafka.connection_check import unreachable_error
from .kafka.log_flood import limit_repeated_logs
from .lifecycle import AsyncResource, stop_consumer, stop_producer

__all__ = ["ReplyChannel", "describe_exception"]

log = logging.getLogger("modelrouter.agents.selection")


@dataclass(frozen=True)
class _ShortLivedTopicSpec(TopicSpec):
    """A delete-policy topic whose data really goes after `retention_ms`: Kafka deletes only
    closed segments, and a segment closes after segment.ms (7 days by default)."""

    segment_ms: int = 600_000

    def configs(self) -> dict[str, str]:
        return {**super().configs(), "segment.ms": str(self.segment_ms)}


def describe_exception(exc: BaseException) -> str:
    """`Type: message`, once (aiokafka's messages already start with their type)."""
    name, text = type(exc).__name__, str(exc).strip()
    return text if text.startswith(name) else f"{name}: {text}" if text else name


class ReplyChannel(AsyncResource):
    """Sends requests to `<prefix>selection-requests` and waits for their replies.

    `start()` (or `async with`) connects now and raises when the broker is unreachable;
    otherwise the first request connects in the background. After a failed attempt, requests
    fail at once with that error until `reconnect_after_s` has passed, then it tries again.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        reconnect_after_s: float = 2.0,
        connect_timeout_s: float = 15.0,
        close_grace_s: float = 3.0,
    ) -> None:
        self.settings = settings
        self.client_id = uuid.uuid4().hex
        self.reply_topic = settings.topic(f"replies.{self.client_id}")
        self._reconnect_after_s = reconnect_after_s
        self._connect_timeout_s = connect_timeout_s
        self._close_grace_s = close_grace_s
        self._requests_topic = settings.topic(TopicName.SELECTION_REQUESTS)
        self._pending: dict[str, asyncio.Future[Reply]] = {}
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._reader: asyncio.Task[None] | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._failed_at: float | None = None
        self._closed = False
        self.late_replies = 0  # replies that came after their request gave up
        self._taken: set[str] = set()  # requests in flight that the broker acknowledged

    # --- lifecycle -----------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._reader is not None

    async def start(self, *, timeout_s: float | None = None) -> None:
        """Connect now and wait for it; raises the connection error (or TimeoutError)."""
        await asyncio.wait_for(
            asyncio.shield(self._connection()),
            timeout_s if timeout_s is not None else self._connect_timeout_s,
        )

    async def close(self) -> None:
        self._closed = True
        connecting = self._connecting
        if connecting is not None and not connecting.done():
            # Let a connection attempt finish first: cancelling aiokafka half way through its
            # bootstrap leaks the socket it was using. One that hangs is cancelled after a grace.
            await asyncio.wait({connecting}, timeout=self._close_grace_s)
        tasks = [t for t in (self._connecting, self._reader) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._connecting = self._reader = None
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(
                    APIModelError(f"the {type(self).__name__} was closed before the reply came")
                )
                fut.exception()  # retrieved: the waiter may already be gone
        self._pending.clear()
        consumer, producer = self._consumer, self._producer
        self._consumer = self._producer = None
        if consumer is not None:
            await stop_consumer(consumer)
        if producer is not None and not await stop_producer(producer, self._close_grace_s):
            log.warning(
                "closed with requests unsent to Kafka at %s (their callers had given up)",
                self.settings.bootstrap_servers,
            )

    def _connection(self) -> asyncio.Task[None]:
        """The connecting task: started on first use, and again after a failure once
        `reconnect_after_s` has passed (until then, callers see the last failure at once)."""
        if self._closed:
            raise APIModelError(f"the {type(self).__name__} is closed")
        task = self._connecting
        loop = asyncio.get_running_loop()
        stale = (
            task is not None
            and task.done()
            and (task.cancelled() or task.exception() is not None)
            and (self._failed_at is None or loop.time() - self._failed_at >= self._reconnect_after_s)
        )
        if task is None or stale:
            task = self._connecting = asyncio.create_task(self._connect(), name=f"connect:{self.reply_topic}")
            task.add_done_callback(self._connect_done)
        return task

    def _connect_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self._failed_at = asyncio.get_running_loop().time()
            log.warning(
                "cannot reach Kafka at %s: %s", self.settings.bootstrap_servers, describe_exception(exc)
            )

    async def _connect(self) -> None:
        limit_repeated_logs(self.settings.log_repeat_interval_s)  # aiokafka's per-retry errors
        specs = topic_specs(self.settings)
        requests_spec = specs[TopicName.SELECTION_REQUESTS]
        reply_spec = _ShortLivedTopicSpec(
            name=self.reply_topic,
            partitions=1,
            compact=False,
            retention_ms=requests_spec.retention_ms,
            segment_ms=requests_spec.retention_ms or 600_000,
        )
        try:  # the first request to the broker: a refused login or an untrusted certificate fails here
            await ensure_topics(self.settings, [requests_spec, reply_spec])
        except KafkaConnectionError:
            raise await unreachable_error(self.settings) from None
        kwargs = self.settings.aiokafka_kwargs()
        producer = AIOKafkaProducer(
            **self.settings.producer_kwargs(), client_id=f"modelrouter-selection-{self.client_id[:8]}", acks=1
        )
        consumer = AIOKafkaConsumer(
            **kwargs,
            client_id=f"modelrouter-replies-{self.client_id[:8]}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=100,
        )
        try:
            await producer.start()
            await consumer.start()
            tp = TopicPartition(self.reply_topic, 0)
            # A topic just created may take a moment to show in metadata.
            for _ in range(100):
                meta = await consumer._client.fetch_all_metadata()
                if 0 in (meta.partitions_for_topic(self.reply_topic) or ()):
                    break
                await asyncio.sleep(0.05)
            consumer.assign([tp])
            # The topic is this client's own and new: everything in it is a reply to us.
            await consumer.seek_to_beginning(tp)
        except BaseException:
            await consumer.stop()
            await producer.stop()
            raise
        self._producer, self._consumer = producer, consumer
        self._reader = asyncio.create_task(self._read_replies(consumer), name=f"replies:{self.reply_topic}")

    async def _read_replies(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=1000)
            except asyncio.CancelledError:
                raise
            except Exception:  # a broker hiccup must not end the reader; aiokafka reconnects
                log.exception("reading replies from %s failed; retrying", self.reply_topic)
                await asyncio.sleep(0.5)
                continue
            for records in batches.values():
                for record in records:
                    self.deliver(record.value)

    def deliver(self, raw: bytes | None) -> None:
        """Hand one reply record to the request waiting for it (late or unknown replies are dropped)."""
        if raw is None:
            return
        try:
            reply = decode_reply(raw)
        except InvalidEventError as exc:
            log.warning("skipping an invalid reply in %s: %s", self.reply_topic, exc)
            return
        fut = self._pending.get(reply.request_id)
        if fut is None or fut.done():
            self.late_replies += 1
            log.debug("reply %s came after its deadline; dropped", reply.request_id)
            return
        fut.set_result(reply)

    # --- requests ------------------------------------------------------------------

    async def _ask(self, request_id: str, value: bytes) -> Reply:
        await asyncio.shield(self._connection())
        producer = self._producer
        if producer is None:  # closed meanwhile
            raise APIModelError(f"the {type(self).__name__} was closed")
        fut: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = fut
        try:
            delivery: asyncio.Future[Any] = await producer.send(
                self._requests_topic, value=value, key=encode_key(request_id)
            )
            delivery.add_done_callback(lambda d: self._delivered(request_id, d))
            return await fut
        finally:
            self._pending.pop(request_id, None)

    def _delivered(self, request_id: str, delivery: asyncio.Future[Any]) -> None:
        if delivery.cancelled():
            return
        exc = delivery.exception()
        fut = self._pending.get(request_id)
        if exc is None:
            self._taken.add(request_id)
        elif fut is not None and not fut.done():
            fut.set_exception(exc)

    async def _round_trip(self, request_id: str, value: bytes, deadline_ms: int, kind: str) -> Reply:
        """The reply; SelectionBrokerUnavailable when the broker did not take the request in
        time, TimeoutError when it did and no worker replied, or the broker's error."""
        try:
            return await asyncio.wait_for(self._ask(request_id, value), timeout=deadline_ms / 1000.0)
        except TimeoutError:
            if request_id in self._taken or self._broker_connected():
                raise  # the broker took it (or may yet: a short deadline): no worker answered
            servers = self.settings.bootstrap_servers
            detail = (
                f"still connecting to Kafka at {servers}"
                if not self.connected
                else f"the broker at {servers} is unreachable (no connection; the request was not delivered)"
            )
            raise SelectionBrokerUnavailable(
                f"no {kind} reply within {deadline_ms} ms (deadline): {detail}", servers
            ) from None
        finally:
            self._taken.discard(request_id)

    def _broker_connected(self) -> bool:
        """Whether the producer holds a live connection to some broker (a broker that went
        away closes them; aiokafka has no public way to ask)."""
        producer = self._producer
        if producer is None:
            return False
        conns: dict[Any, Any] = getattr(producer.client, "_conns", {})
        return any(conn.connected() for conn in conns.values())
