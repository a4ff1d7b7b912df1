"""OpsServer: the worker's operations port (MODELROUTER_METRICS_PORT), on its event loop:
Prometheus `/metrics`, and `/health.json` (every model's health as selection sees it).

aiohttp, which faust already depends on (its web server): no thread reads the worker's state
while the event loop changes it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import faust
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from modelrouter.schemas import HealthReply, Settings, encode

from .event_reader import EventReader
from .metrics import metrics_registry
from .selection import SelectionResponder

__all__ = ["OpsServer", "register_ops_server"]

log = logging.getLogger("modelrouter.streams.ops_server")


class OpsServer:
    """The routes of the operations port, and the port itself."""

    def __init__(
        self, settings: Settings, registry: CollectorRegistry, responder: SelectionResponder
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._responder = responder
        self.web = web.Application()
        self.web.router.add_get("/metrics", self._metrics)
        self.web.router.add_get("/health.json", self._health)
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
            "operations port: http://%s:%s/ (Prometheus metrics at /metrics)",
            self._settings.metrics_host,
            self.port,
        )

    async def stop(self) -> None:
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


def register_ops_server(
    app: faust.App, settings: Settings, reader: EventReader, responder: SelectionResponder
) -> OpsServer | None:
    """Serve the operations port with the app when MODELROUTER_METRICS_PORT is set; else None."""
    if settings.metrics_port is None:
        return None
    server = OpsServer(settings, metrics_registry(app, reader, responder), responder)

    @app.task  # type: ignore[untyped-decorator]  # faust's decorator is untyped
    async def serve_operations() -> None:
        await server.start()
        try:
            await asyncio.Event().wait()  # until the worker stops (it cancels its tasks)
        finally:
            await server.stop()

    return server
