"""A real DNS server for the domain tests: Debian's dnsmasq on a loopback port.

dnsmasq serves TXT records from its command line and answers NXDOMAIN for every other name
(`--local=/#/`, no upstream). It does not reload TXT records on SIGHUP, so a change of
records restarts it on the same port (a few milliseconds).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import dns.exception
import dns.resolver

from tenancy.devstack.ports import free_port


class DnsServer:
    def __init__(self, log_dir: Path) -> None:
        binary = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        if not Path(binary).exists():
            raise RuntimeError("dnsmasq is not installed; run scripts/ensure-servers.sh")
        self.binary = binary
        self.port = free_port()
        self.log = log_dir / "dnsmasq.log"
        self.records: dict[str, tuple[str, ...]] = {}
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def set_records(self, records: Mapping[str, Sequence[str]]) -> None:
        """Serve exactly these TXT records (name -> one value per record) from now on."""
        self.records = {name: tuple(values) for name, values in records.items()}
        self.stop()
        args = [
            self.binary, "--keep-in-foreground", f"--port={self.port}",
            "--listen-address=127.0.0.1", "--bind-interfaces", "--no-resolv", "--no-hosts",
            "--conf-file=/dev/null", "--pid-file=", "--user=root", "--group=root",
            "--local=/#/", f"--log-facility={self.log}",
        ]  # fmt: skip
        for name, values in self.records.items():
            args += [f"--txt-record={name},{value}" for value in values]
        self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._wait_ready()

    def _wait_ready(self) -> None:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers, resolver.port, resolver.lifetime = ["127.0.0.1"], self.port, 0.1
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode() if self._proc.stderr else ""
                raise RuntimeError(f"dnsmasq exited with {self._proc.returncode}: {err}")
            try:
                resolver.resolve("ready.probe.invalid", "TXT")
            except dns.resolver.NXDOMAIN:
                return
            except dns.exception.DNSException:
                time.sleep(0.02)
        raise RuntimeError(f"dnsmasq did not answer on {self.address}")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
            self._proc = None
