"""Throwaway Prometheus and node exporter from Debian's packages, on free loopback ports.

Prometheus scrapes every second and evaluates the project's alert rules; the node exporter
runs only its textfile collector over the pipeline's textfile directory, as in production.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tenancy.devstack.ports import free_port
from tests.support import wait_for_http


def _binary(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} missing: `make deps` installs Debian's package"
    return found


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


@dataclass
class Prometheus:
    url: str

    def get(self, path: str, **params: str) -> dict[str, Any]:
        query = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=30) as response:
                body: dict[str, Any] = json.load(response)
        except urllib.error.HTTPError as exc:  # 400 / 422: a query Prometheus refused
            body = json.load(exc)
        return body

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector of `expr`; AssertionError with Prometheus's own message when it
        does not parse or evaluate."""
        body = self.get("/api/v1/query", query=expr)
        assert body["status"] == "success", (
            f"{expr}\n-> {body.get('errorType')}: {body.get('error')}"
        )
        result = body["data"]["result"]
        if body["data"]["resultType"] == "scalar":
            return [{"metric": {}, "value": result}]
        return list(result)

    def wait_for(self, expr: str, timeout: float = 30) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.query(expr)
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"no result for {expr} after {timeout:.0f} s")
            time.sleep(0.5)


@contextmanager
def node_exporter(textfile_dir: Path, workdir: Path) -> Iterator[str]:
    """Only the textfile collector, over `textfile_dir`; yields its address (host:port)."""
    port = free_port()
    log = workdir / "node-exporter.log"
    proc = _start(
        [
            _binary("prometheus-node-exporter"),
            f"--web.listen-address=127.0.0.1:{port}",
            "--collector.disable-defaults",
            "--collector.textfile",
            f"--collector.textfile.directory={textfile_dir}",
        ],
        log,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/metrics", proc, 30, log.read_text)
        yield f"127.0.0.1:{port}"
    finally:
        _stop(proc)


@contextmanager
def prometheus(
    targets: dict[str, str], rule_files: list[Path], workdir: Path
) -> Iterator[Prometheus]:
    """Prometheus scraping each `job: host:port` every second, evaluating `rule_files` every
    second, its storage in `workdir`."""
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [address]}]}
            for job, address in targets.items()
        ],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    log = workdir / "prometheus.log"
    proc = _start(
        [
            _binary("prometheus"),
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        log,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/-/ready", proc, 60, log.read_text)
        yield Prometheus(f"http://127.0.0.1:{port}")
    finally:
        _stop(proc)
