"""Fixtures for the registry tests: the audit anchor key and store of a test."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from tenancy.audit_anchor import AnchorKey
from tenancy.audit_anchor_config import KEY_VAR, STORE_VAR, Anchoring
from tenancy.audit_anchor_store import LocalAnchorStore


@pytest.fixture
def anchor_key_bytes() -> bytes:
    return os.urandom(32)


@pytest.fixture
def anchoring(anchor_key_bytes: bytes, tmp_path: Path) -> Anchoring:
    """A key the database never sees and a store outside it."""
    return Anchoring(AnchorKey(anchor_key_bytes), LocalAnchorStore(tmp_path / "anchors"))


@pytest.fixture
def anchor_env(
    anchor_key_bytes: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Anchoring:
    """The same key and store, configured for the `tenancy` command."""
    monkeypatch.setenv(KEY_VAR, base64.b64encode(anchor_key_bytes).decode())
    monkeypatch.setenv(STORE_VAR, str(tmp_path / "anchors"))
    return Anchoring(AnchorKey(anchor_key_bytes), LocalAnchorStore(tmp_path / "anchors"))
