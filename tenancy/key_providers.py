"""Where tenant data keys come from: AWS KMS (production) or a local key file (development).

Both bind the tenant id to the wrapped key: KMS as the encryption context `tenant_id`, the
key file as AES-GCM associated data. Unwrapping with another tenant's id fails.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tenancy.errors import ConfigurationError, TenancyError

#: KMS answers that mean "not this tenant's key or context", or a key disabled or deleted (a
#: purged tenant's), as opposed to a transient failure.
_REFUSALS = frozenset(
    {
        "InvalidCiphertextException",
        "IncorrectKeyException",
        "AccessDeniedException",
        "DisabledException",
        "KMSInvalidStateException",
        "NotFoundException",
    }
)


class KeyUnwrapError(TenancyError):
    """A wrapped data key could not be unwrapped for this tenant."""


class KeyProvider(Protocol):
    def generate_data_key(self, tenant_id: uuid.UUID) -> tuple[bytes, bytes]:
        """A fresh 256-bit data key: (plaintext, wrapped)."""
        ...

    def unwrap(self, tenant_id: uuid.UUID, wrapped: bytes) -> bytes: ...


class AwsKmsKeyProvider:
    """Data keys from the tenant's own KMS key (`key_id(tenant)`, e.g. its alias)."""

    def __init__(self, kms_client: Any, key_id: Callable[[uuid.UUID], str]) -> None:
        self.kms = kms_client
        self.key_id = key_id

    def generate_data_key(self, tenant_id: uuid.UUID) -> tuple[bytes, bytes]:
        reply = self.kms.generate_data_key(
            KeyId=self.key_id(tenant_id),
            KeySpec="AES_256",
            EncryptionContext={"tenant_id": str(tenant_id)},
        )
        return reply["Plaintext"], reply["CiphertextBlob"]

    def unwrap(self, tenant_id: uuid.UUID, wrapped: bytes) -> bytes:
        try:
            reply = self.kms.decrypt(
                CiphertextBlob=wrapped,
                KeyId=self.key_id(tenant_id),
                EncryptionContext={"tenant_id": str(tenant_id)},
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in _REFUSALS:
                raise  # throttling, outages: transient, for the caller to retry
            raise KeyUnwrapError(
                f"KMS refused the data key for tenant {tenant_id} ({code})"
            ) from None
        plaintext: bytes = reply["Plaintext"]
        return plaintext


class LocalKeyFileProvider:
    """A 32-byte master key in a 0600 file, created on first use. For development only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._master: bytes | None = None

    def _key(self) -> bytes:
        if self._master is None:
            if not self.path.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(secrets.token_bytes(32))
            data = self.path.read_bytes()
            if len(data) != 32:
                raise ConfigurationError(f"{self.path}: {len(data)} bytes; expected a 32-byte key")
            self._master = data
        return self._master

    def generate_data_key(self, tenant_id: uuid.UUID) -> tuple[bytes, bytes]:
        plaintext = secrets.token_bytes(32)
        nonce = secrets.token_bytes(12)
        wrapped = nonce + AESGCM(self._key()).encrypt(nonce, plaintext, str(tenant_id).encode())
        return plaintext, wrapped

    def unwrap(self, tenant_id: uuid.UUID, wrapped: bytes) -> bytes:
        try:
            return AESGCM(self._key()).decrypt(wrapped[:12], wrapped[12:], str(tenant_id).encode())
        except InvalidTag:
            raise KeyUnwrapError(f"data key was not wrapped for tenant {tenant_id}") from None
