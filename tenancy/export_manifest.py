"""The export bundle's manifest (a SHA-256 per file) and the check of a bundle against it.

The manifest is written last, so a bundle without one is incomplete. Its own digest goes into
the audit trail (`tenant.export`) and the deletion record: a bundle whose files and manifest
were both rewritten still fails against the digest recorded when it was made.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from tenancy.errors import InvalidInputError
from tenancy.object_store import ObjectStore

FORMAT = "codexos-export-v1"
MANIFEST = "manifest.json"


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_bytes(header: dict[str, Any], files: dict[str, bytes]) -> bytes:
    """The manifest for `files` (path relative to the bundle -> contents), canonical JSON."""
    return manifest_from_digests(
        header, {path: (digest(data), len(data)) for path, data in files.items()}
    )


def manifest_from_digests(header: dict[str, Any], files: dict[str, tuple[str, int]]) -> bytes:
    """The manifest for files already written: path -> (SHA-256, size in bytes)."""
    entries = [
        {"path": path, "sha256": sha256, "bytes": size}
        for path, (sha256, size) in sorted(files.items())
    ]
    body = {"format": FORMAT, **header, "files": entries}
    return json.dumps(body, sort_keys=True, indent=1).encode() + b"\n"


@dataclass
class VerifyReport:
    location: str
    manifest_sha256: str | None = None
    files: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "ok": self.ok,
            "manifest_sha256": self.manifest_sha256,
            "files": self.files,
            "problems": self.problems,
        }


def verify_bundle(
    store: ObjectStore, bundle_prefix: str, expected_manifest_sha256: str | None = None
) -> VerifyReport:
    """Check every file against the manifest; report altered, missing and unlisted files."""
    if not bundle_prefix.endswith("/"):
        bundle_prefix += "/"
    report = VerifyReport(store.describe(bundle_prefix))
    present = {key.removeprefix(bundle_prefix) for key in store.keys(bundle_prefix)}
    if MANIFEST not in present:
        report.problems.append(f"{MANIFEST} is missing: the bundle is incomplete or not a bundle")
        return report
    raw = store.get(bundle_prefix + MANIFEST)
    report.manifest_sha256 = digest(raw)
    if expected_manifest_sha256 is not None and report.manifest_sha256 != expected_manifest_sha256:
        report.problems.append(
            f"{MANIFEST} has SHA-256 {report.manifest_sha256}; expected "
            f"{expected_manifest_sha256}, recorded when the export was made"
        )
    try:
        manifest = json.loads(raw)
        if manifest.get("format") != FORMAT:
            raise InvalidInputError(f"{MANIFEST} format", manifest.get("format"), repr(FORMAT))
        listed = {str(e["path"]): (str(e["sha256"]), int(e["bytes"])) for e in manifest["files"]}
    except (ValueError, KeyError, TypeError) as exc:
        report.problems.append(f"{MANIFEST} is unreadable: {exc}")
        return report
    report.files = len(listed)
    for path, (sha, size) in sorted(listed.items()):
        if path not in present:
            report.problems.append(f"{path}: listed in the manifest but missing")
            continue
        data = store.get(bundle_prefix + path)
        if len(data) != size or digest(data) != sha:
            report.problems.append(
                f"{path}: SHA-256 {digest(data)} ({len(data)} bytes); expected {sha} ({size} bytes)"
            )
    for path in sorted(present - set(listed) - {MANIFEST}):
        report.problems.append(f"{path}: in the bundle but not in the manifest")
    return report
