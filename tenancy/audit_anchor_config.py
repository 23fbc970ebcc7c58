"""Where the anchor key and the anchor store come from, read when asked for.

| variable | meaning |
|---|---|
| `TENANCY_AUDIT_ANCHOR_KEY` | base64 of at least 32 random bytes; never stored in the database |
| `TENANCY_AUDIT_ANCHOR_STORE` | a directory, or `s3://bucket/prefix` (a bucket with Object Lock) |

For S3, boto3 finds credentials, region and endpoint the usual way (`AWS_REGION`,
`AWS_ENDPOINT_URL_S3`, ...).

The local profile (no registry URLs set) generates a key file and uses a directory under the
run directory. Anywhere else a missing variable is an error that names it.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tenancy.audit_anchor import KEY_BYTES, AnchorKey
from tenancy.audit_anchor_store import AnchorStore, LocalAnchorStore, S3AnchorStore
from tenancy.errors import ConfigurationError
from tenancy.settings import Settings

KEY_VAR = "TENANCY_AUDIT_ANCHOR_KEY"
STORE_VAR = "TENANCY_AUDIT_ANCHOR_STORE"
LOCAL_KEY_FILE = "audit-anchor.key"
LOCAL_STORE_DIR = "audit-anchors"


@dataclass(frozen=True)
class Anchoring:
    key: AnchorKey
    store: AnchorStore


def _decode(text: str, source: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(
            f"{source} is not base64; expected {KEY_BYTES} or more random bytes, base64-encoded "
            "(e.g. `openssl rand -base64 32`)"
        ) from None


def _local_key(run_dir: Path) -> AnchorKey:
    path = run_dir / LOCAL_KEY_FILE
    if not path.exists():
        run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode() + "\n")
    return AnchorKey(_decode(path.read_text(), str(path)), source=str(path))


def _store(text: str) -> AnchorStore:
    if not text.startswith("s3://"):
        return LocalAnchorStore(Path(text))
    bucket, _, prefix = text.removeprefix("s3://").partition("/")
    if not bucket:
        raise ConfigurationError(
            f"{STORE_VAR} is {text!r}; expected a directory or s3://<bucket>/<prefix>"
        )
    import boto3

    return S3AnchorStore(boto3.client("s3"), bucket, prefix)


def anchoring(
    settings: Settings | None = None, environ: Mapping[str, str] | None = None
) -> Anchoring:
    """The configured key and store, or the local profile's."""
    settings = settings or Settings.from_env(environ)
    env = os.environ if environ is None else environ
    key_text, store_text = env.get(KEY_VAR), env.get(STORE_VAR)
    local = settings.local
    if key_text:
        key = AnchorKey(_decode(key_text, KEY_VAR), source=KEY_VAR)
    elif local:
        key = _local_key(settings.run_dir)
    else:
        raise ConfigurationError(
            f"{KEY_VAR} is not set; expected the base64 of a {KEY_BYTES}-byte secret that the "
            "database never holds (the audit chain heads are signed with it)"
        )
    if store_text:
        store = _store(store_text)
    elif local:
        store = LocalAnchorStore(settings.run_dir / LOCAL_STORE_DIR)
    else:
        raise ConfigurationError(
            f"{STORE_VAR} is not set; expected a directory outside the database "
            "(ideally storage its administrators cannot rewrite) for the audit anchors"
        )
    return Anchoring(key, store)
