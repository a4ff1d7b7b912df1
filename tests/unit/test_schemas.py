"""The wire contract: valid records round-trip, invalid ones are refused with the field named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from modelrouter.schemas import (
    DeadLetter,
    Failover,
    FailoverReason,
    InvalidEventError,
    LimitKind,
    ModelSpec,
    RateLimited,
    SelectionReply,
    SelectionRequest,
    Settings,
    TaskCompleted,
    WindowSummary,
    decode,
    decode_event,
    decode_request,
    encode,
    payload_text,
    topic_specs,
)
from modelrouter.schemas.topics import TopicName

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def task(**changes: object) -> TaskCompleted:
    fields: dict[str, object] = {
        "event_id": "e1",
        "occurred_at": T0,
        "agent_type": "SA",
        "task_id": "t1",
        "model_id": "gpt-4o",
        "provider": "openai",
        "success": True,
        "latency_ms": 812.5,
        "quality_score": 0.9,
        "cost": 0.0123,
        "input_tokens": 1200,
        "output_tokens": 300,
    }
    return TaskCompleted(**(fields | changes))


def raw_task(**changes: object) -> bytes:
    return orjson.dumps(orjson.loads(encode(task())) | changes)


def test_task_completed_round_trips_through_the_codec() -> None:
    event = task()
    raw = encode(event)
    assert orjson.loads(raw)["occurred_at"] == "2026-11-26T12:00:00Z"
    assert orjson.loads(raw)["type"] == "task_completed"
    assert decode_event(raw) == event


def test_each_event_kind_is_chosen_by_its_type() -> None:
    rl = RateLimited(agent_type="PM", model_id="m", provider="p", retry_after_s=30, limit_kind="tokens")
    fo = Failover(agent_type="BA", task_id="t", original_model="a", alternative_model="b", reason="timeout")
    assert decode_event(encode(rl)) == rl
    assert decode_event(encode(fo)) == fo
    assert rl.limit_kind is LimitKind.TOKENS
    assert fo.reason is FailoverReason.TIMEOUT
    assert (task().key, rl.key, fo.key) == ("gpt-4o", "m", "a")


def test_event_ids_and_times_default_to_unique_and_now() -> None:
    a = RateLimited(agent_type="SA", model_id="m", provider="p")
    b = RateLimited(agent_type="SA", model_id="m", provider="p")
    assert a.event_id != b.event_id
    assert abs((a.occurred_at - datetime.now(UTC)).total_seconds()) < 60
    assert a.limit_kind is LimitKind.UNKNOWN
    assert a.retry_after_s is None


def test_times_with_an_offset_are_stored_in_utc() -> None:
    event = task(occurred_at=datetime(2026, 1, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))))
    assert event.occurred_at == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert event.occurred_at.tzinfo == UTC


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (raw_task(cost=-0.01), "task_completed.cost"),
        (raw_task(latency_ms=-1), "task_completed.latency_ms"),
        (raw_task(latency_ms=0).replace(b'"latency_ms":0', b'"latency_ms":NaN'), "task_completed.latency_ms"),
        (
            raw_task(latency_ms=0).replace(b'"latency_ms":0', b'"latency_ms":Infinity'),
            "task_completed.latency_ms",
        ),
        (raw_task(quality_score=1.5), "task_completed.quality_score"),
        (raw_task(quality_score=-0.1), "task_completed.quality_score"),
        (raw_task(input_tokens=-1), "task_completed.input_tokens"),
        (raw_task(output_tokens=1.5), "task_completed.output_tokens"),
        (raw_task(input_tokens="10"), "task_completed.input_tokens"),
        (raw_task(success="yes"), "task_completed.success"),
        (raw_task(model_id=""), "task_completed.model_id"),
        (raw_task(event_id="x" * 129), "task_completed.event_id"),
        (raw_task(agent_type="A" * 65), "task_completed.agent_type"),
        (raw_task(occurred_at="2026-11-26T12:00:00"), "task_completed.occurred_at"),
        (raw_task(qualty_score=0.5), "task_completed.qualty_score"),
        (raw_task(type="task_done"), "type"),
    ],
)
def test_invalid_task_completed_names_the_field(raw: bytes, field: str) -> None:
    with pytest.raises(InvalidEventError) as info:
        decode_event(raw)
    assert field in str(info.value)
    assert any(field.endswith(".".join(map(str, e["loc"]))) for e in info.value.errors)


def test_missing_field_and_broken_json_are_refused() -> None:
    raw = orjson.dumps({k: v for k, v in orjson.loads(encode(task())).items() if k != "model_id"})
    with pytest.raises(InvalidEventError, match=r"task_completed\.model_id: Field required"):
        decode_event(raw)
    with pytest.raises(InvalidEventError, match="Invalid JSON"):
        decode_event(b'{"type": ')


def test_unknown_enum_values_are_refused() -> None:
    fo = orjson.loads(
        encode(
            Failover(agent_type="SA", task_id="t", original_model="a", alternative_model="b", reason="error")
        )
    )
    with pytest.raises(InvalidEventError, match=r"failover\.reason"):
        decode_event(orjson.dumps(fo | {"reason": "bored"}))
    rl = orjson.loads(encode(RateLimited(agent_type="SA", model_id="m", provider="p")))
    with pytest.raises(InvalidEventError, match=r"rate_limited\.limit_kind"):
        decode_event(orjson.dumps(rl | {"limit_kind": "minutes"}))


def test_edge_values_are_accepted() -> None:
    event = task(
        latency_ms=0.0,
        cost=0.0,
        quality_score=None,
        input_tokens=0,
        output_tokens=0,
        success=False,
        error_type="timeout",
    )
    assert decode_event(encode(event)) == event
    assert decode_event(raw_task(quality_score=1.0)).quality_score == 1.0  # type: ignore[union-attr]
    assert decode_event(raw_task(quality_score=0)).quality_score == 0.0  # type: ignore[union-attr]


def test_records_are_frozen() -> None:
    event = task()
    with pytest.raises(Exception, match="frozen"):
        event.cost = 1.0  # type: ignore[misc]


def test_model_spec_expected_cost() -> None:
    spec = ModelSpec(
        model_id="m",
        provider="p",
        tier="standard",
        context_window=8192,
        input_cost_per_1k=0.003,
        output_cost_per_1k=0.015,
    )
    assert spec.expected_cost(1000, 2000) == pytest.approx(0.033)
    assert decode(ModelSpec, encode(spec)) == spec
    with pytest.raises(InvalidEventError, match="context_window"):
        decode(ModelSpec, orjson.dumps(orjson.loads(encode(spec)) | {"context_window": 0}))


def test_selection_request_and_reply_round_trip() -> None:
    req = decode_request(
        orjson.dumps(
            {
                "kind": "select",
                "request_id": "r1",
                "reply_to": "modelrouter.selection-replies",
                "agent_type": "SA",
                "task": {"task_id": "t1", "estimated_input_tokens": 1000},
                "constraints": {"required_capabilities": ["code"], "max_cost_per_request": 0.05},
            }
        )
    )
    assert isinstance(req, SelectionRequest)
    assert req.constraints is not None and req.constraints.required_capabilities == ("code",)
    with pytest.raises(InvalidEventError, match="reply_to"):
        decode_request(orjson.dumps({"kind": "summary", "request_id": "r", "reply_to": "bad topic!"}))
    reply = SelectionReply(request_id="r1", selected_model_id="m", provider="p", score=0.8, reasoning="best")
    assert decode(SelectionReply, encode(reply)) == reply


def test_window_summary_key_is_stable_per_window() -> None:
    summary = WindowSummary(
        model_id="m",
        agent_type=None,
        window="bucket",
        window_start=T0,
        window_end=T0 + timedelta(minutes=1),
        final=True,
        requests=0,
        successes=0,
        success_rate=None,
        latency_ms={},
        quality_mean=None,
        cost_total=0,
        input_tokens=0,
        output_tokens=0,
        rate_limited=0,
        failovers_out=0,
        failovers_in=0,
    )
    assert summary.key == "m|*|bucket|2026-11-26T12:00:00+00:00"
    trailing = summary.model_copy(update={"window": "1h", "final": False})
    assert trailing.key == "m|*|1h"  # compaction keeps only the latest trailing value


def test_dead_letter_keeps_binary_payloads_as_base64() -> None:
    assert payload_text(b"{oops") == ("{oops", "utf-8")
    assert payload_text(b"\xff\xfe") == ("//4=", "base64")
    letter = DeadLetter(
        source_topic="t", partition=0, offset=5, error="bad", payload="//4=", payload_encoding="base64"
    )
    assert decode(DeadLetter, encode(letter)) == letter


def test_topic_names_come_from_the_prefix() -> None:
    settings = Settings(topic_prefix="acme.", partitions=6, _env_file=None)  # type: ignore[call-arg]
    specs = topic_specs(settings)
    assert specs[TopicName.TASK_COMPLETED].name == "acme.task-completed"
    assert specs[TopicName.TASK_COMPLETED].partitions == 6
    assert specs[TopicName.REGISTRY].configs()["cleanup.policy"] == "compact"
    assert specs[TopicName.SUMMARIES].configs()["cleanup.policy"] == "compact"
    assert specs[TopicName.DEAD_LETTER].configs()["cleanup.policy"] == "delete"
    assert int(specs[TopicName.SELECTION_REQUESTS].configs()["retention.ms"]) == 600_000
    assert {s.name for s in specs.values()} == {f"acme.{n}" for n in TopicName}
