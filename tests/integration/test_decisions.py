"""The responder logs every selection on the decisions topic, and `explain` re-derives one from
the registry and scorecards at its recorded positions (real broker, a worker process)."""

from __future__ import annotations

import pytest
from test_selection_responder import REGISTRY, SCORECARDS, request, running_responder

from modelrouter.cli.decision_logs import read_decisions
from modelrouter.cli.explain import explain_decision
from modelrouter.schemas import BaseAssignment, Constraints, DecisionRecord, SelectionReply, Settings
from modelrouter.streams.scoring import ScoringParams, params_hash

from kafka_helpers import eventually

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]

BASE = BaseAssignment(role_type="dev", model_tier="t", primary_model="gpt-4o", fallback_model="gemini-flash")


async def test_every_selection_is_logged_and_explained(kafka_settings: Settings, worker_factory) -> None:
    assert kafka_settings.decisions_log  # on by default: no setting asked for it
    async with running_responder(kafka_settings, worker_factory) as responder:
        to = responder.reply_to
        asks = [
            request("plain", to, strategy="cost"),
            request("exploring", to, explore=True),
            request(
                "fallback",
                to,
                constraints=Constraints(required_capabilities=("audio",)),
                base_assignment=BASE,
            ),
        ]
        replies = dict(zip(["plain", "exploring", "fallback"], await responder.ask(*asks), strict=True))
        assert all(isinstance(r, SelectionReply) for r in replies.values()), replies

        async def logged() -> dict[str, DecisionRecord]:
            return {d.request_id: d for d in await read_decisions(kafka_settings, None)}

        records = await eventually(
            logged, lambda got: {"plain", "exploring", "fallback"} <= got.keys(), timeout_s=30
        )
        params = ScoringParams.from_settings(kafka_settings)
        for rid, reply in replies.items():
            assert isinstance(reply, SelectionReply)
            record = records[rid]
            assert record.chosen_model_id == reply.selected_model_id
            assert record.decided_at == reply.decided_at
            assert (record.task_id, record.agent_type) == (f"task-{rid}", "SA")
            assert record.policy.params_hash == params_hash(params)
            assert record.rejected == reply.rejected
            # Every registry and scorecard record had been read when the requests came.
            assert record.inputs.registry_positions == {"0": len(REGISTRY)}
            assert record.inputs.scorecards_positions == {"0": len(SCORECARDS)}

        plain = records["plain"]
        assert (plain.propensity, plain.propensity_samples, plain.chosen_model_id) == (1.0, 0, "llama-local")
        assert [c.propensity for c in plain.eligible] == [1.0] + [0.0] * (len(plain.eligible) - 1)
        exploring = records["exploring"]
        assert exploring.propensity_samples == 500
        assert params.explore_floor <= exploring.propensity <= 1.0
        assert all(c.propensity >= params.explore_floor for c in exploring.eligible)
        assert sum(c.propensity for c in exploring.eligible) == pytest.approx(1.0)
        fallback = records["fallback"]
        assert (fallback.fallback_used, fallback.propensity, fallback.eligible) == (True, 1.0, ())

        for rid in ("plain", "exploring", "fallback"):
            again = await explain_decision(kafka_settings, rid)
            assert again.reproduced, (rid, again.mismatches)
            assert again.propensity == records[rid].propensity
        other = await explain_decision(kafka_settings, "exploring", params=ScoringParams(explore_floor=0.3))
        assert not other.reproduced
        assert other.mismatches[0].startswith("scoring parameters differ")
