"""The dashboard, served by a real worker with events and selections flowing, loaded in a real
headless browser (Debian's chromium): the table fills, the four charts draw, updates stream in
by server-sent events, and the run saves a screenshot."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from modelrouter.agents import BudgetBook, SelectionClient
from modelrouter.agents.kafka import ensure_topics
from modelrouter.cli.worker_process import wait_until_answering
from modelrouter.schemas import Event, Settings, TaskCompleted, TaskInfo, encode

from headless_browser import CHROMIUM, HeadlessBrowser
from kafka_helpers import publish_all
from ops_helpers import BASE, REGISTRY, free_port, publish_raw

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]


def traffic(now: datetime) -> list[Event]:
    """Two and a half minutes of calls (within the scorecards' 5 minutes): `steady` fine throughout,
    `broken` failing from half-way on, and slow."""
    events: list[Event] = []
    for i in range(600):
        at = now - timedelta(seconds=150 - i / 4)
        model = ("steady", "limited", "broken")[i % 3]
        ok = model != "broken" or i < 300
        events.append(
            TaskCompleted(
                occurred_at=at, agent_type="SA", task_id=f"t{i}", model_id=model, provider="p", success=ok,
                latency_ms=100.0 + (i % 7) * 40 + (900.0 if model == "broken" else 0.0), cost=0.002,
                input_tokens=100, output_tokens=20, error_type=None if ok else "server_error",
            )
        )  # fmt: skip
    return events


async def sse_events(port: int, n: int) -> list[dict[str, Any]]:
    """The first `n` server-sent events of /events, decoded."""
    out: list[dict[str, Any]] = []
    timeout = aiohttp.ClientTimeout(total=30)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.get(f"http://127.0.0.1:{port}/events") as resp,
    ):
        assert resp.headers["Content-Type"] == "text/event-stream"
        async for line in resp.content:
            if line.startswith(b"data: "):
                out.append(orjson.loads(line[6:]))
                if len(out) == n:
                    break
    return out


@pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium); .ci/run installs it"
)
async def test_dashboard_draws_live_data_in_a_headless_browser(
    kafka_settings: Settings, worker_factory, tmp_path: Path
) -> None:
    port = free_port()
    settings = kafka_settings.model_copy(update={"metrics_port": port, "partitions": 2})
    await ensure_topics(settings)
    await publish_raw(settings, "registry", ((m.model_id.encode(), encode(m)) for m in REGISTRY))
    await BudgetBook(settings).set("SA", per_hour=10.0, per_day=None)
    worker = worker_factory(settings)
    worker.start()
    async with SelectionClient(settings) as client:
        await wait_until_answering(client, worker, 120, base=BASE, in_a_row=3)
        await publish_all(settings, traffic(datetime.now(UTC)))
        for i in range(30):
            await client.select(client.request("SA", TaskInfo(task_id=f"s{i}"), base_assignment=BASE))

        # The stream: one snapshot a tick, with the table and the series of the recent buckets.
        async def filled() -> list[dict[str, Any]]:
            while True:
                first, second = await sse_events(port, 2)
                success = first["series"]["success"]
                drawn = all(
                    any(v is not None for v in success.get(m, [])) for m in ("steady", "limited", "broken")
                )
                if drawn and sum(r["requests"] for r in first["table"]) >= 600:
                    return [first, second]
                await asyncio.sleep(1)

        try:
            first, second = await asyncio.wait_for(filled(), 90)
        except TimeoutError:
            raise AssertionError(
                f"the dashboard never showed the traffic: {(await sse_events(port, 1))[0]}"
            ) from None
    assert second["as_of"] > first["as_of"]
    assert first["models"] == ["broken", "limited", "steady"]
    rows = {r["model"]: r for r in first["table"]}
    assert (rows["steady"]["requests"], rows["steady"]["success_rate"]) == (200, 1.0)
    assert rows["broken"]["success_rate"] == 0.5 and rows["broken"]["p95_ms"] > 900
    assert sum(r["selected"] for r in first["table"]) >= 30 + 3  # readiness probes included
    assert sum(first["series"]["mix"]["steady"]) >= 30
    spend = sum(sum(v for v in first["series"]["spend"][m] if v) for m in first["models"])
    assert spend == pytest.approx(600 * 0.002, rel=1e-6)  # 1-minute buckets: spend per minute = cost

    # SA's budget: what the tables hold of the traffic (all of it, once its summaries are in),
    # and the 30 selections' expected cost ($0.002 each) reserved, since no task completed them.
    [budget] = second["budgets"]
    assert (budget["agent_type"], budget["window"], budget["limit"]) == ("SA", "per-hour", 10.0)
    assert 0.0 < budget["spent"] <= 600 * 0.002 + 1e-9
    assert (budget["reservations"], budget["reserved"]) == (30, pytest.approx(30 * 0.002))

    # The page, in a real browser: the table fills, every chart paints, updates stream in.
    async with HeadlessBrowser(tmp_path / "profile") as browser:
        await browser.open(f"http://127.0.0.1:{port}/")
        updates = await browser.wait_for(
            "document.body.dataset.charts === 'drawn' && Number(document.body.dataset.updates) >= 2"
            " && Number(document.body.dataset.updates)"
        )
        assert updates >= 2, await browser.evaluate("document.body.outerHTML.slice(0, 2000)")
        charts = await browser.evaluate(
            "Object.fromEntries([...document.querySelectorAll('canvas')].map("
            "c => [c.id, [Number(c.dataset.points), Number(c.dataset.ink)]]))"
        )
        assert set(charts) == {"chart-success", "chart-p95", "chart-spend", "chart-mix"}
        for chart, (points, ink) in charts.items():
            assert points >= 3 and ink > 2000, (chart, points, ink)
        shown = await browser.evaluate(
            "[...document.querySelectorAll('#models tbody tr')].map(r => r.dataset.model)"
        )
        assert shown == ["broken", "limited", "steady"]
        budgets = await browser.evaluate(
            "[...document.querySelectorAll('#budgets tbody tr')].map(r => r.dataset.agentType + ' '"
            " + r.cells[1].textContent + ' ' + r.cells[2].textContent + ' ' + r.cells[4].textContent)"
        )
        assert budgets == ["SA per-hour $10.00 $0.06 (30)"]
        assert await browser.evaluate("document.getElementById('status').textContent") == "live"
        shot = tmp_path / "dashboard.png"
        assert await browser.screenshot(shot) > 20_000
    print(f"dashboard screenshot: {shot}")
