"""Off-policy estimators on synthetic logs with known answers (streams/offpolicy.py), and the
candidate policy's probabilities on logged decisions (streams/policy_eval.py). No broker."""

from __future__ import annotations

import random
from datetime import timedelta

import numpy as np
import pytest
from test_scoring import NOW, _three_kinds, request

from modelrouter.schemas import ConfigurationError, DecisionInputs, TaskCompleted
from modelrouter.streams.decision_log import decision_record
from modelrouter.streams.offpolicy import LoggedSteps, estimate
from modelrouter.streams.policy_eval import evaluate, join_outcomes, parse_policy, target_probabilities
from modelrouter.streams.scoring import DEFAULT_PARAMS, Weights, decide


def bandit_log(
    n: int, logging: tuple[float, float], target: tuple[float, float], seed: int = 7
) -> LoggedSteps:
    """Two actions with success rates 0.5 and 0.8; the logging policy draws from `logging`."""
    gen = np.random.default_rng(seed)
    means = np.array([0.5, 0.8])
    actions = gen.choice(2, size=n, p=logging)
    rewards = (gen.random(n) < means[actions]).astype(float)
    p_log = np.array(logging)[actions]
    p_target = np.array(target)[actions]
    model = np.array([0.45, 0.7])  # a biased reward model: DR must correct it
    off = np.full(n, sum(t for t, lg in zip(target, logging, strict=True) if lg == 0.0))
    return LoggedSteps(
        propensity=np.where(p_log > 0, p_log, 1.0),
        target=p_target,
        reward=rewards,
        model_reward=model[actions],
        model_value=np.full(n, float(np.dot(target, model))),
        off_support=off,
    )


def test_the_estimators_find_the_known_value_of_a_deterministic_target() -> None:
    steps = bandit_log(20_000, logging=(0.7, 0.3), target=(0.0, 1.0))  # always action 1: true value 0.8
    got = estimate(steps, bootstrap=300)
    assert got.support.supported
    # Weights 1/0.3 on a third of the rows: ESS = n * 0.3.
    assert got.support.effective_samples == pytest.approx(6000, rel=0.03)
    for name, interval in (("ips", got.ips), ("snips", got.snips), ("dr", got.dr)):
        assert interval is not None
        assert interval.value == pytest.approx(0.8, abs=0.02), name
        assert interval.covers(0.8), (name, interval)
        assert 0.005 < interval.high - interval.low < 0.06, (name, interval)


def test_a_stochastic_target_has_its_mixture_value() -> None:
    steps = bandit_log(20_000, logging=(0.5, 0.5), target=(0.25, 0.75))  # 0.25*0.5 + 0.75*0.8 = 0.725
    got = estimate(steps, bootstrap=200)
    assert got.snips is not None and got.dr is not None and got.ips is not None
    assert got.dr.value == pytest.approx(0.725, abs=0.015)
    assert got.snips.covers(0.725) and got.dr.covers(0.725)


def test_no_overlap_says_so_instead_of_a_number() -> None:
    never = bandit_log(5_000, logging=(1.0, 0.0), target=(0.0, 1.0))  # the log never tried action 1
    got = estimate(never)
    assert not got.support.supported
    assert (got.ips, got.snips, got.dr) == (None, None, None)
    assert "never chose in 100% of the decisions" in got.support.reason

    rare = bandit_log(400, logging=(0.99, 0.01), target=(0.0, 1.0))  # ~4 matching rows
    got = estimate(rare)
    assert not got.support.supported and got.ips is None
    assert got.support.effective_samples < 30
    assert "effective sample size" in got.support.reason


def test_an_empty_log_is_unsupported() -> None:
    empty = np.zeros(0)
    got = estimate(LoggedSteps(empty, empty, empty, empty, empty, empty))
    assert (got.n, got.support.supported) == (0, False)


def test_policies_parse_from_text() -> None:
    cost = parse_policy("cost")
    assert (cost.strategy, cost.weights, cost.explore, cost.floor) == (
        "cost",
        DEFAULT_PARAMS.weights["cost"],
        False,
        0,
    )
    custom = parse_policy("balanced, weights=0.5/0.2/0.1/0.2, explore, floor=0.05, max_cost=0.01")
    assert custom.weights == Weights(0.5, 0.2, 0.1, 0.2)
    assert (custom.explore, custom.floor, custom.max_cost_usd) == (True, 0.05, 0.01)
    assert custom.describe() == "balanced,weights=0.5/0.2/0.1/0.2,explore,floor=0.05,max_cost=0.01"
    for bad in ("", "cheapest", "cost,floor=2", "cost,weights=1/2"):
        with pytest.raises(ConfigurationError):
            parse_policy(bad)


def test_the_logging_policy_evaluated_on_its_own_log_gets_its_own_probabilities() -> None:
    reg, stats = _three_kinds()
    logging = parse_policy("balanced,explore,floor=0.02")
    for i in range(5):
        req = request(base=None, explore=True).model_copy(update={"request_id": f"r-{i}"})
        record = decision_record(
            req, decide(req, reg, stats, NOW, random.Random(req.request_id)), DEFAULT_PARAMS, DecisionInputs()
        )
        target = target_probabilities(record, logging)
        assert target == pytest.approx({c.model_id: c.propensity for c in record.eligible})
    plain = request(base=None, strategy="latency")
    record = decision_record(plain, decide(plain, reg, stats, NOW), DEFAULT_PARAMS, DecisionInputs())
    assert target_probabilities(record, parse_policy("latency")) == {"cheap": 0.0, "fast": 1.0, "smart": 0.0}
    # A cost cap re-scores what is left: without "smart", "fast" is the cheapest... but "cheap" passes too.
    capped = target_probabilities(record, parse_policy("quality,max_cost=0.004"))
    assert capped == {"cheap": 0.0, "fast": 1.0}


def test_a_joined_log_evaluates_the_policy_it_was_logged_with() -> None:
    reg, stats = _three_kinds()
    truth = {"cheap": 0.6, "fast": 0.8, "smart": 0.95}
    gen = random.Random(3)
    records, done = [], []
    for i in range(1500):
        req = request(base=None, explore=True).model_copy(
            update={
                "request_id": f"r-{i}",
                "task": request(base=None).task.model_copy(update={"task_id": f"t-{i}"}),
            }
        )
        record = decision_record(
            req, decide(req, reg, stats, NOW, random.Random(req.request_id)), DEFAULT_PARAMS, DecisionInputs()
        )
        records.append(record)
        ok = gen.random() < truth[record.chosen_model_id]
        done.append(
            TaskCompleted(
                agent_type="SA",
                task_id=f"t-{i}",
                model_id=record.chosen_model_id,
                provider="anthropic",
                success=ok,
                latency_ms=100.0,
                cost=0.01,
                input_tokens=1,
                output_tokens=1,
                occurred_at=NOW + timedelta(seconds=i),
            )
        )
    assert len(join_outcomes(records + records[:3], done)) == 1500  # a duplicate counts once
    result = evaluate(records, done, parse_policy("balanced,explore,floor=0.02"), bootstrap=200)
    success = result.estimates["success"]
    assert success.support.supported and success.snips is not None
    assert success.snips.value == pytest.approx(result.logged_mean["success"], abs=0.01)
    assert result.estimates["quality"].support.supported is False  # no quality scores: no rows
    # Always "fast" (latency strategy): true success 0.8, and the log chose "fast" ~58% of the time.
    fast = evaluate(records, done, parse_policy("latency"), bootstrap=200).estimates["success"]
    assert fast.support.supported and fast.dr is not None
    assert fast.dr.covers(0.8) and fast.dr.value == pytest.approx(0.8, abs=0.04)
    # Always "smart": the log chose it ~9% of the time, ~18 rows in 200: not enough to say.
    smart = evaluate(records[:200], done, parse_policy("quality"), bootstrap=200).estimates["success"]
    assert not smart.support.supported and smart.dr is None
    assert "effective sample size" in smart.support.reason
