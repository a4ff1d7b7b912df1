"""The selection responder: answers `select`, `summary` and `health` requests on each request's `reply_to`.

Every worker holds the registry, the scorecards and the summaries in full (TopicView), so
any worker answers any request; the requests topic is partitioned over the workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import faust
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from pydantic import TypeAdapter, ValidationError

from modelrouter.agents.kafka import TopicView
from modelrouter.schemas import (
    ID_MAX,
    TEXT_MAX,
    APIModelError,
    Budget,
    BudgetReservation,
    ErrorDetail,
    ErrorReply,
    HealthReply,
    HealthRequest,
    InvalidEventError,
    ModelHealthReport,
    ModelSpec,
    Scorecard,
    SelectionReply,
    SelectionRequest,
    Settings,
    SummaryReply,
    TopicName,
    WindowSummary,
    decode_request,
    decoder,
    encode,
    encode_key,
    loads,
    utc_now,
)
from modelrouter.schemas.selection import TopicStr

from .budgets import (
    BudgetCheck,
    BudgetStanding,
    Completion,
    Reservations,
    active_budgets,
    budget_standing,
    completion_of,
    tightest,
    withdrawal,
)
from .dead_letters import bounded_dead_letter
from .decision_publisher import DecisionCounts, DecisionPublisher, PendingDecision
from .fleet_health import health_reports
from .histogram import LatencyHistogram
from .scoring import Decision, ScoringParams, decide
from .summary_queries import BucketIndex

__all__ = [
    "Answer",
    "ResponderStats",
    "SelectionResponder",
    "register_selection",
    "report_stats",
    "scoring_params",
]

log = logging.getLogger("modelrouter.streams.selection")

_TOPIC = TypeAdapter[str](TopicStr)
# Replies to a topic the producer has no metadata for yet (a client's first request) are sent
# from a task, so the wait for metadata, or for a topic that does not exist, stalls no one.
_MAX_SLOW_SENDS = 1000
# Budgeted selections (_settle): decisions made again after a withdrawn reservation, and how long
# to wait for the reservations view to read a reservation back.
_SETTLE_TRIES = 3
_SETTLE_WAIT_S = 2.0
# A reply is built in ~0.2 ms; the producer should not hold it back to fill a batch.
_REPLY_LINGER_MS = 0
_COMMIT_EVERY_S = 0.5
# A budgeted selection answered this long past its deadline reserves nothing (see _select).
_CLOCK_ALLOWANCE = timedelta(seconds=1)


def scoring_params(settings: Settings) -> ScoringParams:
    """Selection's tuning from the worker's settings (the circuit_* fields)."""
    return ScoringParams.from_settings(settings)


AnyReply = SelectionReply | SummaryReply | HealthReply | ErrorReply


@dataclass(frozen=True, slots=True)
class Answer:
    """Where a request's reply goes; `reply` is None when the request cannot be answered
    (no request_id or reply_to could be read from it) and `error` says why. A selection's
    reply is its Decision, whose reply is written from plain data (Decision.encoded_reply)."""

    reply_to: str | None
    reply: AnyReply | Decision | None
    error: str = ""
    decision: PendingDecision | None = None  # to log on the decisions topic once replied
    reservation: BudgetReservation | None = None  # to share with the other workers before replying
    request: SelectionRequest | None = None  # with a reservation: to decide again if it is withdrawn


@dataclass
class ResponderStats:
    requests: int = 0  # handled, of every kind, valid or not
    selections: int = 0
    fallbacks: int = 0  # selections that answered with the fallback (fallback_used)
    budget_rejections: int = 0  # candidates rejected because their expected cost did not fit a budget
    reservations_failed: int = 0  # reservations the other workers may not have seen (send failed)
    late_unreserved: int = 0  # budgeted selections answered past their deadline: nothing reserved
    reservations_withdrawn: int = 0  # another worker's reservation came first in the log: decided again
    summaries: int = 0
    health_queries: int = 0
    error_replies: int = 0
    dead_lettered: int = 0
    failed_sends: int = 0
    selected_by_model: Counter[str] = field(default_factory=Counter)  # the dashboard's selection mix
    decisions: DecisionCounts = field(default_factory=DecisionCounts)  # the decisions log's records
    # Since start: seconds from a request's record timestamp to its reply handed to the producer.
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    # Since the last report: ms from a request's timestamp to its handling, and ms spent handling it.
    wait_ms: list[float] = field(default_factory=list)
    handle_ms: list[float] = field(default_factory=list)

    def timed(self, waited_s: float, handled_s: float) -> None:
        self.latency.observe(max(0.0, waited_s + handled_s))
        if len(self.wait_ms) < 100_000:
            self.wait_ms.append(waited_s * 1000.0)
            self.handle_ms.append(handled_s * 1000.0)

    def take_timings(self) -> str:
        parts = []
        for name, values in (("waited", self.wait_ms), ("handled in", self.handle_ms)):
            values.sort()
            if values:
                p50, p99 = values[len(values) // 2], values[min(len(values) - 1, int(len(values) * 0.99))]
                parts.append(f"{name} p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {values[-1]:.1f} ms")
            values.clear()
        return "; ".join(parts) or "no requests"


class _Offsets(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka's base is untyped
    """The next offset of each partition's handled requests, committed now and then and
    before a rebalance hands the partitions on (so the next owner does not answer them again)."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer
        self.handled: dict[TopicPartition, int] = {}

    async def commit(self) -> None:
        if not self.handled:
            return
        offsets = dict(self.handled)
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:  # a rebalance is under way
            log.info("could not commit request offsets (%r); the next owner answers them again", exc)
            return
        for tp, offset in offsets.items():
            if self.handled.get(tp) == offset:
                del self.handled[tp]

    async def on_partitions_revoked(self, revoked: object) -> None:
        await self.commit()

    async def on_partitions_assigned(self, assigned: object) -> None:
        return None


def _clip(text: str) -> str:
    return text if len(text) <= TEXT_MAX else text[: TEXT_MAX - 1] + "…"


def _error(request_id: str, code: str, message: str) -> ErrorReply:
    return ErrorReply(request_id=request_id, error=ErrorDetail(code=code, message=_clip(message)))


def _address(raw: bytes) -> tuple[str, str] | None:
    """(request_id, reply_to) of an invalid request, where both can still be read from it."""
    try:
        data = loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    request_id, reply_to = data.get("request_id"), data.get("reply_to")
    if not isinstance(request_id, str) or not 1 <= len(request_id) <= ID_MAX:
        return None
    try:
        return request_id, _TOPIC.validate_python(reply_to)
    except ValidationError:
        return None


class SelectionResponder:
    """The views and the reply producer of one worker, and the answer to one request."""

    def __init__(self, settings: Settings, params: ScoringParams | None = None) -> None:
        self._settings = settings
        self._params = params if params is not None else scoring_params(settings)
        self.registry = TopicView(settings, settings.topic(TopicName.REGISTRY), decoder(ModelSpec))
        self.scorecards = TopicView(settings, settings.topic(TopicName.SCORECARDS), decoder(Scorecard))
        # Listener-only: the index keeps compact bucket rows; a day of pydantic WindowSummary
        # records held in full took about a gigabyte (docs/benchmarks.md).
        self.summaries = TopicView(
            settings, settings.topic(TopicName.SUMMARIES), decoder(WindowSummary), keep=False
        )
        self._buckets = BucketIndex()
        self.summaries.on_change(self._buckets.apply)
        # Budgets: the limits in full; the reservations and the task-completed events of the last
        # reservation timeout (listener-only), so every worker holds every worker's reservations.
        self.budgets = TopicView(settings, settings.topic(TopicName.BUDGETS), decoder(Budget))
        self.reservations = Reservations()
        held_s = settings.budget_reservation_timeout_s
        self._held_for = timedelta(seconds=held_s)
        self._bucket_s = settings.bucket_seconds
        self._near_fraction = settings.budget_near_fraction
        self._reservations_topic = settings.topic(TopicName.BUDGET_RESERVATIONS)
        self._reservation_view = TopicView(
            settings, self._reservations_topic, decoder(BudgetReservation), keep=False, since_s=held_s
        )
        self._reservation_view.on_change(self._reserved)
        self._completions = TopicView(
            settings, settings.topic(TopicName.TASK_COMPLETED), self._completion, keep=False, since_s=held_s
        )
        self._completions.on_change(self._completed)
        # The completions view runs only while some agent type has a budget: it reads every
        # task-completed event of the fleet, which cost a worker ~7% of its fold (bench/ingest.py).
        self._completions_on = False
        self._views_ready = False
        self._completions_sync: asyncio.Task[None] | None = None
        self.budgets.on_change(self._budgets_changed)
        self._expired_at = 0.0
        self._dead_letters = settings.topic(TopicName.DEAD_LETTER)
        self._producer: AIOKafkaProducer | None = None
        self._slow_sends: set[asyncio.Task[None]] = set()
        self.stats = ResponderStats()
        self.decisions = DecisionPublisher(settings, self._params, self.stats.decisions)
        self._log_decisions = settings.decisions_log

    async def start(self) -> None:
        """Read the three topics in full and connect the producer; returns when all are ready."""
        if self._producer is not None:
            return
        producer = AIOKafkaProducer(
            **self._settings.producer_kwargs(),
            client_id=f"{self._settings.worker_id}-selection",
            acks=1,  # replies are short-lived answers; a lost one ends in the client's fallback
            linger_ms=_REPLY_LINGER_MS,
            request_timeout_ms=10_000,
        )
        await producer.start()
        self._producer = producer
        if self._log_decisions:
            await self.decisions.start()
        try:
            async with asyncio.TaskGroup() as group:  # one failing cancels the others
                for view in (self.registry, self.scorecards, self.summaries, self.budgets):
                    group.create_task(view.start())
            # After the budgets: completions are read only while an agent type has a budget.
            self._views_ready = True
            async with asyncio.TaskGroup() as group:
                group.create_task(self._reservation_view.start())
                group.create_task(self._sync_completions())
        except BaseException:
            await self.stop()
            raise
        log.info(
            "selection responder ready: %d models, %d scorecards, %d summary rows",
            len(self.registry.items()),
            len(self.scorecards.items()),
            len(self._buckets),
        )

    def _budgets_changed(self, key: str, budget: Budget | None) -> None:
        if not self._views_ready or self._completions_on == bool(active_budgets(self.budgets.items())):
            return  # start() has not synced it yet, or it is as it should be
        if self._completions_sync is None or self._completions_sync.done():
            self._completions_sync = asyncio.create_task(self._sync_completions())

    async def _sync_completions(self) -> None:
        """Start or stop the completions view until it runs exactly while a budget is set."""
        while self._completions_on != (wanted := bool(active_budgets(self.budgets.items()))):
            if wanted:
                await self._completions.start()  # reads the last reservation timeout's events
            else:
                await self._completions.stop()
            self._completions_on = wanted
            log.info("budget completions view %s", "started" if wanted else "stopped: no budget is set")

    async def stop(self) -> None:
        if self._completions_sync is not None:
            self._completions_sync.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._completions_sync
        await self.decisions.stop()
        for task in list(self._slow_sends):
            task.cancel()
        await asyncio.gather(*self._slow_sends, return_exceptions=True)
        await asyncio.gather(
            self.registry.stop(),
            self.scorecards.stop(),
            self.summaries.stop(),
            self.budgets.stop(),
            self._reservation_view.stop(),
            self._completions.stop(),
        )
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()  # flushes what is still buffered

    def answer(self, raw: bytes | None, now: datetime, sent_at: datetime | None = None) -> Answer:
        """The reply to one raw request, judged at `now` on the views as they are; `sent_at` is
        when the client sent it (its record's timestamp), to know whether the client still waits."""
        if raw is None:
            return Answer(None, None, "request has no value (null)")
        try:
            request = decode_request(raw)
        except InvalidEventError as exc:
            address = _address(raw)
            if address is None:
                return Answer(None, None, f"{exc} (and no request_id and reply_to to answer to)")
            request_id, reply_to = address
            return Answer(reply_to, _error(request_id, "invalid_request", str(exc)))
        if isinstance(request, SelectionRequest):
            return self._select(request, now, sent_at)
        if isinstance(request, HealthRequest):
            return Answer(
                request.reply_to,
                HealthReply(request_id=request.request_id, as_of=now, models=self.health(now)),
            )
        return Answer(request.reply_to, self._buckets.reply(request, now))

    def health(self, now: datetime) -> tuple[ModelHealthReport, ...]:
        """Every model's circuit, cooldown and recent failures, judged at `now` as selection would."""
        return health_reports(self.registry.items(), self.scorecards.items(), now, self._params.health)

    def _select(
        self,
        request: SelectionRequest,
        now: datetime,
        sent_at: datetime | None = None,
        *,
        exhausted: bool = False,
    ) -> Answer:
        """`exhausted`: decide as if the agent type's budget had nothing left (_settle's last word)."""
        # Seeded by the request: an exploring request draws the same on every worker and in tests.
        rng = random.Random(request.request_id) if request.explore else None  # noqa: S311 - not crypto
        registry, scorecards = self.registry, self.scorecards
        budget = self.budget_check(request.agent_type, now)
        if exhausted and budget is not None:
            budget = budget.spent_out()
        try:
            decision = decide(request, registry.items(), scorecards.items(), now, rng, self._params, budget)
        except APIModelError as exc:
            return Answer(request.reply_to, _error(request.request_id, "no_candidate", str(exc)))
        reservation = None
        if budget is not None:
            rejected = decision.reply.rejected
            self.stats.budget_rejections += sum(r.reason.startswith("budget:") for r in rejected)
            # A reply past the request's deadline reaches no one (the client fell back): reserving
            # for it would hold budget no task spends (requests queued while no worker answered).
            # The allowance: the client's clock (the record's timestamp) may be behind this one.
            late = (
                sent_at is not None
                and request.deadline_ms is not None
                and now > sent_at + timedelta(milliseconds=request.deadline_ms) + _CLOCK_ALLOWANCE
            )
            if late:
                self.stats.late_unreserved += 1
            elif not decision.reply.fallback_used:
                reservation = self._reserve(request, decision.reply, now)
        if not self._log_decisions:
            return Answer(request.reply_to, decision, reservation=reservation, request=request)
        pending = PendingDecision(
            request,
            decision,
            dict(registry.positions),
            registry.version,
            dict(scorecards.positions),
            scorecards.version,
        )
        return Answer(request.reply_to, decision, decision=pending, reservation=reservation, request=request)

    def budget_check(self, agent_type: str, now: datetime) -> BudgetCheck | None:
        """What selection may still spend for `agent_type` at `now`; None without a budget."""
        budget = self.budgets.get(agent_type)
        if budget is None or not budget.limits():
            return None
        return tightest(self._standing(budget, now), self._near_fraction)

    def budget_standings(self, now: datetime) -> list[BudgetStanding]:
        """Every window of every budget: its limit, spent (the tables), reserved (in flight)."""
        out: list[BudgetStanding] = []
        for agent in sorted(active := active_budgets(self.budgets.items())):
            out += self._standing(active[agent], now)
        return out

    def _standing(self, budget: Budget, now: datetime) -> list[BudgetStanding]:
        if time.monotonic() - self._expired_at >= 10.0:
            self._expired_at = time.monotonic()
            self.reservations.expire(now, self._held_for)
        held = self.reservations.held(budget.agent_type, now, self._counted)
        return budget_standing(budget, self._buckets.spend, held, now)

    def _counted(self, c: Completion) -> bool:
        """Whether the tables hold `c`'s cost: its bucket row was published at a stream time at or
        past the event's time (a float round trip of the time may lose a microsecond)."""
        epoch = c.occurred_at.timestamp()
        start = datetime.fromtimestamp(int(epoch // self._bucket_s) * self._bucket_s, UTC)
        row = self._buckets.row(c.model_id, c.agent_type, start)
        through = row.data_through if row is not None else None
        return through is not None and through.timestamp() >= epoch - 1e-3

    def _reserve(self, request: SelectionRequest, reply: SelectionReply, now: datetime) -> BudgetReservation:
        cost = reply.factors.get("expected_cost_usd", 0.0)
        reservation = BudgetReservation(
            agent_type=request.agent_type,
            task_id=request.task.task_id,
            request_id=request.request_id,
            model_id=reply.selected_model_id,
            expected_cost=cost,
            reserved_at=now,
            expires_at=now + self._held_for,
        )
        self.reservations.reserve(reservation)  # held here at once; the others read it
        return reservation

    def _reserved(self, key: str, reservation: BudgetReservation | None) -> None:
        if reservation is not None:
            self.reservations.reserve(reservation)

    def _completion(self, raw: bytes) -> Completion | None:
        # Only while some agent type has a budget, and only a record that names one is parsed:
        # the topic carries every event of the fleet, and most are not of a budgeted agent type.
        budgets = self.budgets.items()
        if not budgets or not any(agent.encode() in raw for agent in budgets):
            return None
        c = completion_of(raw)
        return c if c is not None and c.agent_type in budgets else None

    def _completed(self, key: str, completion: Completion | None) -> None:
        if completion is not None:
            self.reservations.complete(completion)

    async def handle(
        self, raw: bytes | None, *, topic: str, partition: int, offset: int, timestamp_ms: int | None = None
    ) -> None:
        """Answer one request from the requests topic; an unanswerable one is dead-lettered."""
        self.stats.requests += 1
        sent_at = None if timestamp_ms is None else datetime.fromtimestamp(timestamp_ms / 1000.0, UTC)
        try:
            answer = self.answer(raw, utc_now(), sent_at)
        except Exception as exc:  # a bug must cost one request, not the responder
            log.exception("answering %s[%d]@%d failed", topic, partition, offset)
            address = _address(raw) if raw is not None else None
            answer = (
                Answer(address[1], _error(address[0], "internal_error", f"the responder failed: {exc!r}"))
                if address is not None
                else Answer(None, None, f"the responder failed: {exc!r}")
            )
        if answer.reservation is not None:
            answer = await self._settle(answer, sent_at)
        if answer.reply is None or answer.reply_to is None:
            _, letter = bounded_dead_letter(
                raw, None, answer.error, topic=topic, partition=partition, offset=offset
            )
            await self._send_dead_letter(letter)
            return
        reply = answer.reply
        if isinstance(reply, Decision):  # a selection: its reply written from plain data
            self.stats.selections += 1
            self.stats.fallbacks += reply.fallback_used
            self.stats.selected_by_model[reply.selected_model_id] += 1
            request_id, value = reply.request_id, reply.encoded_reply()
        else:
            if isinstance(reply, SummaryReply):
                self.stats.summaries += 1
            elif isinstance(reply, HealthReply):
                self.stats.health_queries += 1
            else:
                self.stats.error_replies += 1
            request_id, value = reply.request_id, encode(reply)
        await self._send(answer.reply_to, encode_key(request_id), value)
        if answer.decision is not None:
            self.decisions.add(answer.decision)

    async def _send(self, topic: str, key: bytes, value: bytes) -> None:
        """Hand a reply to the producer without waiting for the broker's ack."""
        producer = self._require_producer()
        if producer.client.cluster.partitions_for_topic(topic) is not None:
            try:
                self._watch(await producer.send(topic, value, key=key), topic)
            except KafkaError as exc:
                self._failed(topic, exc)
            return
        if len(self._slow_sends) >= _MAX_SLOW_SENDS:
            await asyncio.wait(self._slow_sends, return_when=asyncio.FIRST_COMPLETED)
        task = asyncio.create_task(self._send_slowly(producer, topic, key, value))
        self._slow_sends.add(task)
        task.add_done_callback(self._slow_sends.discard)

    async def _send_slowly(self, producer: AIOKafkaProducer, topic: str, key: bytes, value: bytes) -> None:
        try:
            await producer.send_and_wait(topic, value, key=key)
        except KafkaError as exc:
            self._failed(topic, exc)

    def _watch(self, delivery: Awaitable[object], topic: str) -> None:
        def done(fut: asyncio.Future[object]) -> None:
            if not fut.cancelled() and (exc := fut.exception()) is not None:
                self._failed(topic, exc)

        asyncio.ensure_future(delivery).add_done_callback(done)

    def _failed(self, topic: str, exc: BaseException) -> None:
        self.stats.failed_sends += 1
        log.warning("could not send a reply to %s: %r (does the reply topic exist?)", topic, exc)

    async def _settle(self, answer: Answer, sent_at: datetime | None) -> Answer:
        """Share the answer's reservation and keep it only if the log admits it; else withdraw it
        and decide again (a cheaper model, or the budget's fallback).

        Two workers may each see room for one more task and both reserve it. The reservations
        of an agent type share one partition of the reservations topic, so every worker reads
        them in one order: a reservation is kept when, with everything read up to its own
        offset, the budget still holds it. Of two that conflict, the later one sees the earlier
        and withdraws (the earlier may see the later too and withdraw as well: budget left
        unused for a moment, never overspent)."""
        for _ in range(_SETTLE_TRIES):
            reservation, request = answer.reservation, answer.request
            if reservation is None or request is None:
                return answer
            at = await self._share(reservation)
            if at is None or await self._admitted(reservation, *at):
                return answer
            self.stats.reservations_withdrawn += 1
            await self._share(self._withdrawal(reservation))
            answer = self._select(request, utc_now(), sent_at)
        if answer.reservation is not None and answer.request is not None:
            # Still contended: answered as at the limit (the budget's fallback), reserving nothing.
            # That last reservation was held here only (never shared): withdrawn here only.
            self._withdrawal(answer.reservation)
            answer = self._select(answer.request, utc_now(), sent_at, exhausted=True)
        return answer

    async def _admitted(self, reservation: BudgetReservation, partition: int, offset: int) -> bool:
        """Whether the budget holds `reservation` once the reservations view has read up to its
        offset (everything reserved before it, by any worker); not admitted if that takes long."""
        view, loop = self._reservation_view, asyncio.get_running_loop()
        deadline = loop.time() + _SETTLE_WAIT_S
        while view.positions.get(partition, 0) <= offset:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.002)
        budget = self.budgets.get(reservation.agent_type)
        if budget is None:
            return True  # the budget was cleared meanwhile
        return not any(s.overdrawn for s in self._standing(budget, utc_now()))

    def _withdrawal(self, reservation: BudgetReservation) -> BudgetReservation:
        """`reservation` withdrawn here (budgets.withdrawal); share it to withdraw it everywhere."""
        withdrawn = withdrawal(reservation, f"withdrawn-{uuid.uuid4().hex}")
        self.reservations.reserve(withdrawn)
        return withdrawn

    async def _share(self, reservation: BudgetReservation) -> tuple[int, int] | None:
        """Make a reservation durable before its reply goes out, so that the other workers, and
        this one after a crash, hold it (one produce round trip, for budgeted agent types only);
        its (partition, offset), or None if it could not be sent."""
        producer = self._require_producer()
        try:
            sent = await producer.send_and_wait(
                self._reservations_topic, encode(reservation), key=encode_key(reservation.agent_type)
            )
        except KafkaError as exc:  # held here still; the others may overspend by this selection
            self.stats.reservations_failed += 1
            log.warning("could not share the budget reservation of task %s: %r", reservation.task_id, exc)
            return None
        return sent.partition, sent.offset

    async def _send_dead_letter(self, letter: bytes) -> None:
        # Awaited: the request's offset is committed after this returns, so the letter is kept.
        producer = self._require_producer()
        await producer.send_and_wait(self._dead_letters, letter, key=None)
        self.stats.dead_lettered += 1

    async def serve(self) -> None:
        """Answer the requests topic's requests until cancelled, as a member of the
        `<worker_id>-selection` consumer group (the topic's partitions spread over the workers).

        A plain aiokafka consumer, not a faust agent: requests need no tables, and faust's
        per-event stream machinery cost more than answering (docs/benchmarks.md). Offsets are
        committed for requests already handled (at least once: a crash answers a few again).
        """
        settings = self._settings
        consumer = AIOKafkaConsumer(
            **settings.aiokafka_kwargs(),
            client_id=f"{settings.worker_id}-selection",
            group_id=f"{settings.worker_id}-selection",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=int(settings.session_timeout_s * 1000),
            heartbeat_interval_ms=int(min(3.0, settings.session_timeout_s / 3) * 1000),
            fetch_max_wait_ms=100,
        )
        offsets = _Offsets(consumer)
        consumer.subscribe([settings.topic(TopicName.SELECTION_REQUESTS)], listener=offsets)
        await consumer.start()
        try:
            last_commit = time.monotonic()
            while True:
                batches = await consumer.getmany(timeout_ms=1000, max_records=500)
                for tp, records in batches.items():
                    for record in records:
                        started = time.time()
                        await self.handle(
                            record.value,
                            topic=tp.topic,
                            partition=tp.partition,
                            offset=record.offset,
                            timestamp_ms=record.timestamp,
                        )
                        offsets.handled[tp] = record.offset + 1
                        self.stats.timed(started - record.timestamp / 1000.0, time.time() - started)
                if offsets.handled and time.monotonic() - last_commit >= _COMMIT_EVERY_S:
                    await offsets.commit()
                    last_commit = time.monotonic()
        finally:
            with contextlib.suppress(KafkaError):
                await offsets.commit()
            await consumer.stop()

    def _require_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("SelectionResponder.start() must be awaited before handling requests")
        return self._producer


def report_stats(responder: SelectionResponder) -> None:
    """Log what `responder` answered since the last report (every 10 s where it runs)."""
    s = responder.stats
    log.info(
        "selection: %d selections, %d summaries, %d error replies, %d dead-lettered, %d failed sends; "
        "decisions logged %d, dropped %d, failed %d; %s",
        s.selections,
        s.summaries,
        s.error_replies,
        s.dead_lettered,
        s.failed_sends,
        s.decisions.published,
        s.decisions.dropped,
        s.decisions.failed,
        s.take_timings(),
    )


def register_selection(app: faust.App, settings: Settings) -> SelectionResponder:
    """Run the responder with the app: its views, its consumer group and its reply producer
    start once the worker's tables are recovered and stop with the worker."""
    responder = SelectionResponder(settings)

    @app.task  # type: ignore[untyped-decorator]  # faust's decorator is untyped
    async def respond() -> None:
        await responder.start()
        # What start-up built (modules, views, the restored index) lives as long as the
        # process: out of the collector's way, a full collection no longer walks it all,
        # which showed as 30-70 ms stalls in the selection latency's tail (docs/benchmarks.md).
        gc.collect()
        gc.freeze()
        try:
            await responder.serve()
        finally:
            await responder.stop()

    @app.timer(10.0)  # type: ignore[untyped-decorator]
    async def report() -> None:
        report_stats(responder)

    return responder
