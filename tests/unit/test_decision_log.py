"""The decisions log's two ways of writing a record agree: the bytes the responder publishes
(written from plain data, not validated) decode to the record `decision_record` validates."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_scoring_properties import NOW, worlds

from modelrouter.schemas import (
    APIModelError,
    DecisionInputs,
    DecisionRecord,
    ModelSpec,
    Scorecard,
    SelectionRequest,
    decode,
    encode,
    encode_data,
)
from modelrouter.streams.decision_log import decision_record, encoded_decision_record
from modelrouter.streams.propensity import logged_propensities
from modelrouter.streams.scoring import DEFAULT_PARAMS, decide

INPUTS = DecisionInputs(
    registry_positions={"0": 12},
    scorecards_positions={"0": 7, "1": 40},
    registry_version=12,
    scorecards_version=47,
    stats_age_ms=1250.5,
)


@settings(max_examples=300, deadline=None)
@given(world=worlds(), seed=st.integers(0, 2**32))
def test_the_published_bytes_decode_to_the_validated_record(
    world: tuple[SelectionRequest, dict[str, ModelSpec], dict[str, Scorecard]], seed: int
) -> None:
    request, registry, cards = world
    try:
        decision = decide(request, registry, cards, NOW, random.Random(seed))
    except APIModelError:
        return
    record = decision_record(request, decision, DEFAULT_PARAMS, INPUTS, samples=50)
    published = encoded_decision_record(request, decision, DEFAULT_PARAMS, INPUTS, samples=50)
    assert decode(DecisionRecord, published) == record
    assert published == encode(record)  # byte for byte, as the one codec writes it
    # The publisher draws an exploring decision's propensities on a thread, then hands them in.
    drawn = logged_propensities(decision, DEFAULT_PARAMS, 50)
    assert encoded_decision_record(request, decision, DEFAULT_PARAMS, INPUTS, propensities=drawn) == published


def test_plain_data_refuses_what_is_not_json() -> None:
    with pytest.raises(TypeError, match="set"):
        encode_data({"models": {"a", "b"}})
