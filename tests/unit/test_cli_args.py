"""The `modelrouter` CLI without a broker: parsing, exit codes, one-line errors, validation, tables."""

from __future__ import annotations

import io
import logging
import re
import shlex
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from modelrouter.cli import bench, build_parser, main, publish
from modelrouter.cli.output import number
from modelrouter.cli.selection import reply_view
from modelrouter.cli.summary_board import SummaryBoard, TailFilter
from modelrouter.schemas import (
    Alternative,
    LatencySummary,
    Rejection,
    SelectionReply,
    Settings,
    TaskCompleted,
    WindowSummary,
    decode_reply,
    summary_key,
    utc_now,
)

NO_BROKER = "127.0.0.1:1"  # nothing listens: a command that tried to connect would exit 1, not 2
UNREACHABLE = (
    f"error: cannot reach Kafka at {NO_BROKER}: no broker answered (start one with `modelrouter kafka up`)"
)

TASK_FLAGS = [
    "--agent-type",
    "SA",
    "--task-id",
    "t1",
    "--model-id",
    "gpt-4o",
    "--provider",
    "openai",
    "--latency-ms",
    "840",
    "--cost",
    "0.0041",
    "--input-tokens",
    "1200",
    "--output-tokens",
    "350",
]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """main() quiets the aiokafka and modelrouter loggers, as a CLI should; other tests need them."""
    names = ("aiokafka", "modelrouter")
    levels = {n: logging.getLogger(n).level for n in names}
    yield
    for n, level in levels.items():
        logging.getLogger(n).setLevel(level)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MODELROUTER_BOOTSTRAP_SERVERS", "MODELROUTER_TOPIC_PREFIX", "MODELROUTER_BUCKET_SECONDS"):
        monkeypatch.delenv(name, raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """main(argv) as the script runs it: argparse's SystemExit is an exit code too."""
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


# --- help and parsing ---------------------------------------------------------------


COMMANDS = [
    ["kafka"],
    ["worker"],
    ["registry"],
    ["registry", "load"],
    ["registry", "show"],
    ["select"],
    ["publish"],
    ["publish", "task-completed"],
    ["publish", "rate-limited"],
    ["publish", "failover"],
    ["tail"],
    ["summary"],
    ["budget"],
    ["budget", "set"],
    ["budget", "show"],
    ["budget", "clear"],
    ["bench"],
]


# ids prefixed: a bare "kafka" id would count as the `kafka` marker in tests/conftest.py's tally.
@pytest.mark.parametrize("command", [[], *COMMANDS], ids=lambda c: "cmd-" + "-".join(c))
def test_every_command_has_help_with_examples(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    code, out, _ = run(capsys, *command, "--help")
    assert code == 0
    assert out.startswith(f"usage: modelrouter {' '.join(command)}".rstrip())
    assert "examples:\n  modelrouter" in out


def test_the_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "--help")
    for name in ("kafka", "worker", "registry", "select", "publish", "tail", "summary", "bench"):
        assert f"\n    {name} " in out
    assert "Exit codes: 0 ok, 1 failure" in out


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys)
    assert code == 2
    assert "the following arguments are required: COMMAND" in err


def test_an_unknown_option_is_a_usage_error_of_its_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "select", "--agent-type", "SA", "--bogus", "1")
    assert code == 2
    assert err.splitlines()[-1] == "modelrouter select: error: unrecognized arguments: --bogus 1"


def test_connection_flags_go_before_or_after_the_subcommand() -> None:
    parser = build_parser()
    before = parser.parse_args(["--bootstrap-servers", "k:1", "tail", "--topic-prefix", "p."])
    assert (before.bootstrap_servers, before.topic_prefix) == ("k:1", "p.")
    after = parser.parse_args(["tail", "--bootstrap-servers", "k:2"])
    assert after.bootstrap_servers == "k:2"
    assert not hasattr(after, "topic_prefix")  # unset: the environment's value stands


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["select"], "the following arguments are required: --agent-type"),
        (["select", "--agent-type", "SA", "--primary", "gpt-4o"], "--primary and --fallback go together"),
        (["select", "--agent-type", "SA", "--strategy", "cheap"], "argument --strategy: invalid choice"),
        (["select", "--agent-type", "SA", "--max-cost", "x"], "argument --max-cost: invalid float value"),
        (
            ["select", "--agent-type", "SA", "--max-cost", "-1"],
            "invalid Constraints: max_cost_per_request: Input should be greater than or equal to 0",
        ),
        (
            ["select", "--agent-type", "SA", "--min-success-rate", "1.5"],
            "min_success_rate: Input should be less than or equal to 1",
        ),
        (["summary", "--window-hours", "0"], "invalid SummaryRequest: window_hours: Input should be greater"),
        (["tail", "--window", "2h"], "argument --window: invalid choice: '2h'"),
        (["kafka", "restart"], "argument action: invalid choice: 'restart'"),
        (["registry"], "the following arguments are required: ACTION"),
        (["bench", "fold"], "invalid choice: 'fold'"),
        (["publish", "rate-limited", "--agent-type", "SA"], "required: --model-id, --provider"),
        (
            ["publish", "failover", *TASK_FLAGS[:4], "--reason", "boredom"],
            "argument --reason: invalid choice",
        ),
    ],
)
def test_bad_input_exits_2_with_one_clear_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, *argv, "--bootstrap-servers", NO_BROKER)
    assert code == 2
    assert message in err.splitlines()[-1]
    assert "Traceback" not in err
    assert out == ""


def test_invalid_settings_from_the_environment_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELROUTER_BUCKET_SECONDS", "7")
    code, _, err = run(capsys, "summary")
    assert code == 2
    line = err.strip()
    assert line.startswith("modelrouter summary: error: invalid settings (MODELROUTER_* variables and flags)")
    assert "bucket_seconds=7 must divide an hour" in line


def test_a_bad_topic_prefix_flag_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "tail", "--topic-prefix", "no spaces!")
    assert code == 2
    assert "topic_prefix: String should match pattern" in err


# --- publish: validated before anything is sent -------------------------------------------


def test_publish_flags_build_the_contract_event() -> None:
    args = build_parser().parse_args(
        ["publish", "task-completed", *TASK_FLAGS, "--failed", "--error-type", "timeout"]
    )
    event = publish.event_from_flags("task-completed", args)
    assert isinstance(event, TaskCompleted)
    assert (event.agent_type, event.task_id, event.model_id, event.provider) == (
        "SA",
        "t1",
        "gpt-4o",
        "openai",
    )
    assert (event.latency_ms, event.cost, event.input_tokens, event.output_tokens) == (
        840.0,
        0.0041,
        1200,
        350,
    )
    assert event.success is False
    assert event.error_type == "timeout"
    assert event.quality_score is None


def test_publish_takes_an_explicit_event_time_and_id() -> None:
    args = build_parser().parse_args(
        [
            "publish",
            "task-completed",
            *TASK_FLAGS,
            "--occurred-at",
            "2026-01-02T03:04:05+01:00",
            "--event-id",
            "e-1",
        ]
    )
    event = publish.event_from_flags("task-completed", args)
    assert event.occurred_at == datetime(2026, 1, 2, 2, 4, 5, tzinfo=UTC)
    assert event.event_id == "e-1"
    assert event.success is True


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--quality-score", "1.5"],
            "invalid task-completed event: --quality-score: Input should be less than",
        ),
        (["--occurred-at", "yesterday"], "--occurred-at: Input should be a valid datetime"),
        (["--occurred-at", "2026-01-02T03:04:05"], "--occurred-at: Input should have timezone info"),
    ],
)
def test_an_invalid_flag_value_names_the_flag_and_sends_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, extra: list[str], message: str
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("nothing may be sent for an invalid event")

    monkeypatch.setattr(publish, "send", refuse)
    code, out, err = run(
        capsys, "publish", "task-completed", *TASK_FLAGS, *extra, "--bootstrap-servers", NO_BROKER
    )
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert message in err
    assert out == ""


def test_a_negative_cost_is_refused_with_the_value(capsys: pytest.CaptureFixture[str]) -> None:
    flags = [*TASK_FLAGS]
    flags[flags.index("--cost") + 1] = "-0.5"
    code, _, err = run(capsys, "publish", "task-completed", *flags, "--bootstrap-servers", NO_BROKER)
    assert code == 2
    assert err.strip() == (
        "modelrouter publish task-completed: error: invalid task-completed event: "
        "--cost: Input should be greater than or equal to 0 (got -0.5)"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b'{"type": "failover", "agent_type": "SA", "task_id": "t", "original_model": "a", '
            b'"alternative_model": "b", "reason": "boredom"}',
            "invalid event: failover.reason: Input should be",
        ),
        (b'{"type": "task_completed", "agent_type": "SA"}', "task_completed.task_id: Field required"),
        (
            b'{"type": "rate_limited", "agent_type": "SA", "model_id": "m", "provider": "p", "colour": 1}',
            "rate_limited.colour: Extra inputs are not permitted",
        ),
        (b'{"type": "lunch"}', "Input tag 'lunch' found using 'type' does not match"),
        (b"{not json", "Invalid JSON"),
        (b"", "publish --json reads one event as JSON from stdin, and stdin was empty"),
    ],
)
def test_publish_json_validates_stdin_before_connecting(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, data: bytes, message: str
) -> None:
    stdin(monkeypatch, data)
    code, out, err = run(capsys, "publish", "--json", "--bootstrap-servers", NO_BROKER)
    assert code == 2
    assert err.startswith("modelrouter publish: error: ")
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert out == ""


def test_publish_needs_a_kind_or_json_but_not_both(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run(capsys, "publish")
    assert code == 2
    assert "give an event kind with its flags, or --json" in err
    stdin(monkeypatch, b"{}")
    code, _, err = run(capsys, "publish", "--json", "task-completed", *TASK_FLAGS)
    assert code == 2
    assert "not both" in err


def test_a_valid_event_with_no_broker_exits_1_saying_how_to_start_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "publish", "task-completed", *TASK_FLAGS, "--bootstrap-servers", NO_BROKER)
    assert code == 1
    assert out == ""
    assert err.strip() == UNREACHABLE


def test_select_with_no_broker_exits_1_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--bootstrap-servers", NO_BROKER, "select", "--agent-type", "SA")
    assert code == 1
    assert err.strip().splitlines() == [UNREACHABLE]


# --- kafka (the packaged recipe), bench and worker ---------------------------------


def test_the_broker_command_runs_the_packaged_recipe_with_its_action_and_flags(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from modelrouter.local_kafka import broker as recipe

    calls: list[list[str]] = []
    monkeypatch.setattr(recipe, "main", lambda argv=None: calls.append(list(argv or [])) or 3)
    code, _, _ = run(capsys, "kafka", "up", "--port", "19092", "--data-dir", str(tmp_path))
    assert code == 3  # the recipe's exit code
    assert calls == [["up", "--port", "19092", "--data-dir", str(tmp_path)]]


def test_the_recipe_keeps_jars_and_data_in_the_checkout_here_and_per_user_from_a_wheel() -> None:
    from modelrouter.local_kafka import broker as recipe

    root = Path(__file__).resolve().parents[2]
    assert recipe.IN_CHECKOUT
    assert root / ".modelrouter" / "kafka" == recipe.DEFAULT_DATA_DIR
    assert recipe._user_folder("XDG_DATA_HOME", ".local/share", "kafka").parts[-2:] == (
        "modelrouter",
        "kafka",
    )


def test_bench_passes_every_other_option_and_help_to_the_script(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, list[str], dict[str, str]]] = []
    monkeypatch.setattr(
        bench,
        "run_script",
        lambda path, argv, env=None: calls.append((path.name, list(argv), dict(env or {}))) or 0,
    )
    assert run(capsys, "bench", "ingest", "--events", "1000", "--topic-prefix", "b.")[0] == 0
    assert run(capsys, "bench", "select", "--help")[0] == 0
    assert calls == [
        ("ingest.py", ["--events", "1000"], {"MODELROUTER_TOPIC_PREFIX": "b."}),
        ("selection.py", ["--help"], {}),
    ]


def test_worker_passes_its_options_and_the_connection_flags(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelrouter.streams import worker

    seen: list[tuple[str, str]] = []

    def fake_run_worker(settings: Settings, loglevel: str = "info") -> int:
        seen.append((loglevel, settings.bootstrap_servers))
        return 0

    monkeypatch.setattr(worker, "run_worker", fake_run_worker)
    monkeypatch.setenv("MODELROUTER_BOOTSTRAP_SERVERS", "before:1")  # restored after the test
    code, _, _ = run(capsys, "worker", "--loglevel", "warning", "--bootstrap-servers", "k:9")
    assert code == 0
    assert seen == [("warning", "k:9")]


# --- what people see ---------------------------------------------------------------------


def text(renderable: Any, width: int = 200) -> str:
    out = Console(width=width, record=True, file=io.StringIO())
    out.print(renderable)
    return out.export_text()


def test_a_selection_reply_shows_the_choice_the_ranking_and_the_rejections() -> None:
    reply = SelectionReply(
        request_id="r1",
        selected_model_id="gpt-4o",
        provider="openai",
        score=0.8123,
        reasoning="gpt-4o (balanced, score 0.812): success 0.97 (120 calls)",
        factors={"success": 0.97, "expected_cost_usd": 0.0041},
        alternatives=(
            Alternative(model_id="claude-3-5-sonnet", score=0.7),
            Alternative(model_id="o1", score=0.5),
        ),
        rejected=(Rejection(model_id="gemini-1.5-pro", reason="excluded provider google"),),
        stats_age_ms=1200.0,
    )
    shown = text(reply_view(reply))
    assert "selected       gpt-4o (openai)" in shown
    assert "score          0.812" in shown
    assert "success 0.97 (120 calls)" in shown
    assert "stats age      1200 ms" in shown
    assert "expected_cost_usd │ 0.0041" in shown
    lines = shown.splitlines()
    assert any("2 │ claude-3-5-sonnet │ 0.700" in line for line in lines)
    assert any("3 │ o1                │ 0.500" in line for line in lines)
    assert any("gemini-1.5-pro │ excluded provider google" in line for line in lines)


def summary(
    model: str, window: str, start: datetime, requests: int, agent: str | None = None
) -> WindowSummary:
    return WindowSummary(
        model_id=model,
        agent_type=agent,
        window=window,  # type: ignore[arg-type]
        window_start=start,
        window_end=start + timedelta(seconds=60),
        final=window == "bucket",
        requests=requests,
        successes=requests - 1,
        success_rate=(requests - 1) / requests,
        latency_ms=LatencySummary(p50=800.0, p95=1450.5, p99=1900.0, mean=850.0),
        quality_mean=0.875,
        cost_total=0.0123,
        input_tokens=1000,
        output_tokens=500,
        rate_limited=2,
        failovers_out=1,
        failovers_in=3,
    )


def cells(shown: str) -> list[list[str]]:
    """The rendered table's non-empty lines, split into words (column widths aside)."""
    return [line.split() for line in shown.splitlines() if line.strip()]


T0 = datetime(2026, 11, 26, 13, 0, tzinfo=UTC)


def test_the_board_keeps_the_latest_row_per_model_agent_and_window() -> None:
    board = SummaryBoard()
    board.apply(summary("gpt-4o", "bucket", T0 + timedelta(minutes=1), 8))
    board.apply(summary("gpt-4o", "bucket", T0, 5))  # an older bucket's late final: not shown
    board.apply(summary("gpt-4o", "5m", T0, 40))
    board.apply(summary("gpt-4o", "bucket", T0 + timedelta(minutes=1), 4, agent="SA"))
    assert len(board.rows) == 3
    assert board.rows[("gpt-4o", None, "bucket")].requests == 8
    shown = cells(text(board.table("summaries")))
    assert shown[0] == ["summaries"]
    assert shown[1] == [
        *("model", "agent", "window", "requests", "success", "p50", "ms", "p95", "ms", "quality", "cost"),
        *("rate-limited", "failovers", "out/in"),
    ]
    assert shown[3:6] == [
        ["gpt-4o", "all", "bucket", "13:01:00", "8", "87.5%", "800", "1450", "0.875", "$0.0123", "2", "1/3"],
        ["gpt-4o", "all", "5m", "40", "97.5%", "800", "1450", "0.875", "$0.0123", "2", "1/3"],
        ["gpt-4o", "SA", "bucket", "13:01:00", "4", "75.0%", "800", "1450", "0.875", "$0.0123", "2", "1/3"],
    ]
    assert shown[6][:3] == ["4", "summaries", "received,"]
    board.remove(summary_key("gpt-4o", None, "5m", T0))
    assert ("gpt-4o", None, "5m") not in board.rows
    board.remove(summary_key("gpt-4o", None, "bucket", T0))  # not the row shown: it stays
    assert ("gpt-4o", None, "bucket") in board.rows


def test_a_narrow_terminal_drops_the_least_needed_columns() -> None:
    board = SummaryBoard()
    board.apply(summary("claude-3-5-sonnet", "5m", T0, 12))
    for width, header in [
        (80, ["model", "window", "requests", "success", "p95", "ms", "cost"]),
        (100, ["model", "window", "requests", "success", "p95", "ms", "quality", "cost", "rate-limited"]),
    ]:
        shown = text(board.table("s", width), width)
        assert max(len(line.rstrip()) for line in shown.splitlines()) <= width
        assert cells(shown)[1] == header
        assert "…" not in shown  # columns dropped, none squeezed


def test_the_tail_filter() -> None:
    s = summary("gpt-4o", "5m", T0, 3)
    sa = summary("gpt-4o", "bucket", T0, 3, agent="SA")
    assert TailFilter().accepts(s) and not TailFilter().accepts(sa)  # default: the all-agents rows
    assert TailFilter(agent_type="SA").accepts(sa) and not TailFilter(agent_type="SA").accepts(s)
    assert TailFilter(agent_type="*").accepts(sa) and TailFilter(agent_type="*").accepts(s)
    assert not TailFilter(model="o1").accepts(s)
    assert TailFilter(window="5m").accepts(s) and not TailFilter(window="1h").accepts(s)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0.000025, "0.000025"),
        (0.0042, "0.0042"),
        (840.0, "840"),
        (1450.5, "1450"),
        (12345.0, "12,345"),
        (None, "-"),
    ],
)
def test_numbers_read_as_people_write_them(value: float | None, shown: str) -> None:
    assert number(value) == shown


README = Path(__file__).resolve().parents[2] / "README.md"


def readme_commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.DOTALL)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith("modelrouter ")]


def test_the_readme_shows_the_cli() -> None:
    assert len(readme_commands()) >= 8


@pytest.mark.parametrize("line", readme_commands())
def test_every_readme_command_line_parses(line: str) -> None:
    args, extra = build_parser().parse_known_args(shlex.split(line)[1:])
    assert args.handler is not None
    assert extra == [] or args.passthrough is not None, extra


def test_select_with_a_base_assignment_and_no_broker_answers_with_the_fallback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # As --help says: --primary/--fallback answer with the fallback when no broker answers.
    base = [
        "--primary",
        "gpt-4o",
        "--fallback",
        "claude-3-5-sonnet",
        "--role",
        "architect",
        "--tier",
        "premium",
    ]
    code, out, err = run(
        capsys, "select", "--agent-type", "SA", *base, "--json", "--bootstrap-servers", NO_BROKER
    )
    assert code == 0
    reply = decode_reply(out)
    assert isinstance(reply, SelectionReply)
    assert (reply.selected_model_id, reply.fallback_used) == ("claude-3-5-sonnet", True)
    assert reply.reasoning.startswith(
        f"broker unreachable: cannot reach Kafka at {NO_BROKER}: no broker answered"
    )
    assert "answering with the fallback model" in err
    code, _, err = run(capsys, "select", "--agent-type", "SA", "--bootstrap-servers", NO_BROKER)
    assert code == 1 and f"cannot reach Kafka at {NO_BROKER}: no broker answered" in err


def test_the_board_marks_open_buckets_and_says_how_old_the_newest_data_is() -> None:
    board = SummaryBoard()
    through = utc_now() - timedelta(seconds=42)
    open_bucket = summary("gpt-4o", "bucket", T0, 6).model_copy(
        update={"final": False, "data_through": through}
    )
    board.apply(open_bucket)
    board.apply(summary("gpt-4o", "5m", T0, 40))  # no data time (an older worker): the newest stays
    assert board.data_through == through
    shown = text(board.table("summaries", 200), 200)
    assert "bucket 13:00:00 (open)" in shown
    assert f"newest data {through:%H:%M:%S} (42 s old)" in shown or "(43 s old)" in shown
    assert "(open) buckets are provisional" in shown


# --- budget ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["SA"], "budget set needs a limit: --per-hour USD and/or --per-day USD"),
        (["SA", "--per-hour", "-1"], "a limit must be a positive number of dollars, got '-1'"),
        (["SA", "--per-hour", "0"], "a limit must be a positive number of dollars, got '0'"),
        (["SA", "--per-day", "abc"], "not a number of dollars: 'abc' (write e.g. 5.00)"),
        (["SA", "--per-hour", "nan"], "a limit must be a positive number of dollars, got 'nan'"),
        (["x" * 65, "--per-hour", "5"], "an agent type is 1 to 64 characters, got 65"),
    ],
)
def test_budget_set_refuses_bad_limits_before_connecting(
    capsys: pytest.CaptureFixture[str], argv: list[str], said: str
) -> None:
    code, _, err = run(capsys, "--bootstrap-servers", NO_BROKER, "budget", "set", *argv)
    assert code == 2
    assert said in err


def test_budget_limits_parse_as_dollars() -> None:
    from modelrouter.cli.budget import dollars

    assert [dollars(t) for t in ("5", "5.00", "$0.25", " 50 ")] == [5.0, 5.0, 0.25, 50.0]
