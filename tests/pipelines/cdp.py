"""Drive headless Chromium over the DevTools protocol: open a page, wait for text, screenshot.

Chromium's one-shot `--dump-dom`/`--screenshot` fire before a single-page app such as the
Dagster UI has fetched and drawn its data, so the test waits on the rendered text instead.
"""

from __future__ import annotations

import base64
import itertools
import json
import subprocess
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

from tenancy.devstack.ports import free_port

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1440,900",
)


class Browser:
    def __init__(self, profile: Path) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                "chromium",
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--remote-debugging-port={self.port}",
                "--remote-allow-origins=*",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._ids = itertools.count(1)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.port}/json/list", timeout=2
                ) as r:
                    pages = [p for p in json.load(r) if p["type"] == "page"]
                if pages:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("Chromium did not open its DevTools port")
            time.sleep(0.2)
        self._stack = ExitStack()
        self.ws = self._stack.enter_context(
            connect(pages[0]["webSocketDebuggerUrl"], max_size=2**26, open_timeout=10)
        )

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        msg_id = next(self._ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv(timeout=60))
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})  # type: ignore[no-any-return]

    def open_and_wait(self, url: str, texts: tuple[str, ...], timeout: float = 90) -> str:
        """Navigate, then poll the page's text until every one of `texts` shows up."""
        self.call("Page.enable")
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            result = self.call(
                "Runtime.evaluate",
                expression="document.body ? document.body.innerText : ''",
                returnByValue=True,
            )
            text = str(result.get("result", {}).get("value", ""))
            if all(t in text for t in texts):
                return text
            time.sleep(1)
        return text

    def click_button(self, label: str) -> bool:
        """Click the first button whose text is `label`; False when there is none."""
        result = self.call(
            "Runtime.evaluate",
            returnByValue=True,
            expression=(
                "(() => { const b = [...document.querySelectorAll('button')]"
                f".find(e => e.innerText.trim() === {json.dumps(label)}); if (b) b.click(); return !!b; }})()"
            ),
        )
        return bool(result.get("result", {}).get("value"))

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self._stack.close()
        finally:
            self.proc.terminate()
            self.proc.wait(timeout=15)
