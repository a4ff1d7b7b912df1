"""OpsServer: the worker's operations port (MODELROUTER_METRICS_PORT), on its event loop:
Prometheus `/metrics`, `/health.json` (every model's health as selection sees it), and the
dashboard: `/` and its assets (package data, streams/dashboard_assets), `/snapshot.json` and
`/events` (one snapshot a tick, as server-sent events).

aiohttp, which faust already depends on (its web server): no thread reads the worker's state
while the event loop changes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from importlib import resources

import faust
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from modelrouter.schemas import HealthReply, Settings, dumps, encode

from .dashboard import DashboardFeed
from .event_reader import EventReader
from .metrics import metrics_registry
from .selection import SelectionResponder

__all__ = ["DASHBOARD_TICK_S", "OpsServer", "register_ops_server"]

log = logging.getLogger("modelrouter.streams.ops_server")

DASHBOARD_TICK_S = 2.0
_ASSETS = {  # path -> (file in dashboard_assets, content type)
    "/": ("index.html", "text/html"),
    "/dashboard.js": ("dashboard.js", "text/javascript"),
    "/dashboard.css": ("dashboard.css", "text/css"),
}


def _asset(name: str) -> bytes:
    return (resources.files("modelrouter.streams") / "dashboard_assets" / name).read_bytes()


class OpsServer:
    """The routes of the operations port, and the port itself."""

    def __init__(
        self,
        settings: Settings,
        registry: CollectorRegistry,
        responder: SelectionResponder,
        feed: DashboardFeed,
        tick_s: float = DASHBOARD_TICK_S,
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._responder = responder
        self._feed = feed
        self._tick_s = tick_s
        self._stopping = asyncio.Event()
        self._assets = {path: (_asset(name), kind) for path, (name, kind) in _ASSETS.items()}
        self.web = web.Application()
        self.web.router.add_get("/metrics", self._metrics)
        self.web.router.add_get("/health.json", self._health)
        self.web.router.add_get("/snapshot.json", self._snapshot)
        self.web.router.add_get("/events", self._events)
        for path in self._assets:
            self.web.router.add_get(path, self._static)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self) -> None:
        runner = web.AppRunner(self.web, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self._settings.metrics_host, self._settings.metrics_port or 0)
        await site.start()
        self._runner = runner
        addresses = runner.addresses  # (host, port, ...) of each bound socket: port 0 picks one
        self.port = int(addresses[0][1]) if addresses else self._settings.metrics_port
        log.info(
            "operations port: http://%s:%s/ (the dashboard; Prometheus metrics at /metrics)",
            self._settings.metrics_host,
            self.port,
        )

    async def stop(self) -> None:
        self._stopping.set()  # ends the event streams, so cleanup need not wait for them
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _health(self, request: web.Request) -> web.Response:
        now = datetime.now(UTC)
        reply = HealthReply(request_id="http", as_of=now, models=self._responder.health(now))
        return web.Response(body=encode(reply), content_type="application/json")

    async def _static(self, request: web.Request) -> web.Response:
        body, kind = self._assets[request.path]
        return web.Response(body=body, content_type=kind, charset="utf-8")

    async def _snapshot(self, request: web.Request) -> web.Response:
        return web.Response(
            body=dumps(self._feed.snapshot(datetime.now(UTC))), content_type="application/json"
        )

    async def _events(self, request: web.Request) -> web.StreamResponse:
        """A snapshot every tick as a server-sent event, until the client or the worker goes."""
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        try:
            while not self._stopping.is_set():
                data = dumps(self._feed.snapshot(datetime.now(UTC)))
                await response.write(b"data: " + data + b"\n\n")
                with contextlib.suppress(TimeoutError):  # the tick passed, the worker runs on
                    await asyncio.wait_for(self._stopping.wait(), self._tick_s)
        except ConnectionResetError:  # the page was closed
            pass
        return response


def register_ops_server(
    app: faust.App, settings: Settings, reader: EventReader, responder: SelectionResponder
) -> OpsServer | None:
    """Serve the operations port with the app when MODELROUTER_METRICS_PORT is set; else None."""
    if settings.metrics_port is None:
        return None
    feed = DashboardFeed(responder, settings)
    server = OpsServer(settings, metrics_registry(app, reader, responder), responder, feed)

    @app.task  # type: ignore[untyped-decorator]  # faust's decorator is untyped
    async def serve_operations() -> None:
        await server.start()
        try:
            await asyncio.Event().wait()  # until the worker stops (it cancels its tasks)
        finally:
            await server.stop()

    return server
