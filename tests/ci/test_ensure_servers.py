"""`scripts/ensure-servers.sh` off root (a GitHub-hosted runner): through password-less sudo,
or a clear error. Run as `nobody` with a PATH where Redis, Prometheus and Chromium are missing and
`sudo` is a stand-in that records the commands it was asked to run as root."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "ensure-servers.sh"
TOOLS = ("bash", "id", "sed", "dirname", "env", "cat", "true", "sort")


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A directory `nobody` can reach (pytest's own tmp_path is private to root), holding a copy
    of the script."""
    directory = Path(tempfile.mkdtemp(prefix="ensure-servers-"))
    directory.chmod(0o777)
    shutil.copy(SCRIPT, directory / "ensure-servers.sh")
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def bin_dir(tmp_path: Path, sudo_works: bool) -> Path:
    directory = tmp_path / "bin"
    directory.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, tool
        (directory / tool).symlink_to(found)
    (directory / "apt-get").write_text("#!/bin/bash\nexit 0\n")
    log = tmp_path / "sudo.log"
    (directory / "fake-sudo").write_text(
        f'#!/bin/bash\necho "$*" >> {log}\n' + ("exit 0\n" if sudo_works else "exit 1\n")
    )
    for name in ("apt-get", "fake-sudo"):
        (directory / name).chmod(0o755)
    return directory


def run_as_nobody(tmp_path: Path, directory: Path) -> subprocess.CompletedProcess[str]:
    # As root (this machine), drop to `nobody`; on a runner the tests already run unprivileged.
    setpriv = shutil.which("setpriv") or "setpriv"
    drop = [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    return subprocess.run(
        [*(drop if os.geteuid() == 0 else []), "bash", str(tmp_path / "ensure-servers.sh")],
        env={"PATH": str(directory), "TENANCY_SUDO": "fake-sudo", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_not_root_installs_through_passwordless_sudo(scratch: Path) -> None:
    tmp_path = scratch
    result = run_as_nobody(tmp_path, bin_dir(tmp_path, sudo_works=True))
    calls = (tmp_path / "sudo.log").read_text().splitlines()
    assert calls[0] == "-n true", "password-less sudo is probed first, never prompted for"
    assert calls[1] == "-n env DEBIAN_FRONTEND=noninteractive apt-get update -qq"
    assert calls[2].startswith("-n env DEBIAN_FRONTEND=noninteractive apt-get install -y")
    assert calls[2].endswith("chromium prometheus prometheus-node-exporter redis-server")
    assert "(with fake-sudo -n)" in result.stderr
    # The stand-in installed nothing, so the script must say so rather than report success.
    assert result.returncode == 1 and "installed but still not usable" in result.stderr


def test_not_root_without_sudo_is_a_clear_error(scratch: Path) -> None:
    tmp_path = scratch
    result = run_as_nobody(tmp_path, bin_dir(tmp_path, sudo_works=False))
    assert result.returncode == 1
    assert (
        "missing packages: chromium prometheus prometheus-node-exporter redis-server"
        in result.stderr
    )
    assert "not root and no password-less sudo" in result.stderr
    assert (tmp_path / "sudo.log").read_text().splitlines() == ["-n true"]
