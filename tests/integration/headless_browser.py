"""A real headless chromium driven over the DevTools protocol (a websocket, aiohttp's client):
open a page, wait for a JavaScript condition, read values off it, take a screenshot. No
selenium: the browser and aiohttp are all it needs."""

from __future__ import annotations

import asyncio
import base64
import itertools
import shutil
import subprocess
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

__all__ = ["CHROMIUM", "HeadlessBrowser"]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class HeadlessBrowser:
    def __init__(self, profile: Path, width: int = 1300, height: int = 1100) -> None:
        assert CHROMIUM is not None, "chromium is not installed"
        self._args = [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
            f"--user-data-dir={profile}", f"--window-size={width},{height}", "--remote-debugging-port=0",
            "about:blank",
        ]  # fmt: skip
        self._profile = profile
        self._ids = itertools.count(1)
        self._process: subprocess.Popen[bytes] | None = None
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None

    async def __aenter__(self) -> HeadlessBrowser:
        self._profile.mkdir(parents=True, exist_ok=True)
        # Popen returns at once (the browser runs beside the test); ASYNC220 is about waiting.
        self._process = subprocess.Popen(  # noqa: ASYNC220
            self._args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        port_file = self._profile / "DevToolsActivePort"
        for _ in range(300):  # chromium writes its port here once it listens
            if port_file.exists() and port_file.read_text().strip():
                break
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        self._http = aiohttp.ClientSession()
        async with self._http.get(f"http://127.0.0.1:{port}/json/list") as resp:
            pages = [t for t in await resp.json() if t["type"] == "page"]
        self._ws = await self._http.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0)
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._http is not None:
            await self._http.close()
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        assert self._ws is not None
        call_id = next(self._ids)
        await self._ws.send_json({"id": call_id, "method": method, "params": params})
        while True:
            message = await self._ws.receive_json(timeout=30)
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method} failed: {message['error']}")
                return dict(message.get("result", {}))

    async def open(self, url: str) -> None:
        await self.call("Page.navigate", url=url)

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout_s: float = 30.0) -> Any:
        """The value of `expression` once it is truthy (polled); its last value past the timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            value = await self.evaluate(expression)
            if value or loop.time() > deadline:
                return value
            await asyncio.sleep(0.25)

    async def screenshot(self, path: Path) -> int:
        shot = await self.call("Page.captureScreenshot", format="png")
        data = base64.b64decode(shot["data"])
        await asyncio.to_thread(path.write_bytes, data)
        return len(data)
