"""Per-tenant envelope encryption: AES-256-GCM under a data key wrapped by the tenant's key.

Blob layout: `b"CXE1"` | 2-byte length of the wrapped key | wrapped key | 12-byte nonce |
ciphertext with tag. The tenant id and the header are the associated data, so a blob of
tenant A neither decrypts as tenant B nor survives any edit.
"""

from __future__ import annotations

import secrets
import struct
import threading
import uuid
from dataclasses import dataclass

from cachetools import TTLCache
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tenancy.errors import TenancyError
from tenancy.key_providers import KeyProvider, KeyUnwrapError
from tenancy.validation import parse_tenant_id

MAGIC = b"CXE1"
#: Random 96-bit nonces stay far from collision well below 2^32 messages per key; rotate sooner.
MAX_MESSAGES_PER_DATA_KEY = 2**24
#: Plaintext data keys are kept in memory at most this long and this many: a tenant whose KMS
#: key is disabled (suspension, crypto-shred) stops decrypting here within the TTL, and an
#: attacker cycling through wrapped keys cannot grow the cache without bound.
KEY_CACHE_TTL_SECONDS = 300.0
KEY_CACHE_SIZE = 10_000


class DecryptionError(TenancyError):
    """The blob is not this tenant's, or it was altered."""


@dataclass
class _DataKey:
    plaintext: bytes
    wrapped: bytes
    uses: int = 0


class TenantCipher:
    """Encrypts with one data key per tenant (re-generated after many messages) and decrypts
    any blob whose wrapped key the provider can unwrap for the same tenant."""

    def __init__(
        self,
        provider: KeyProvider,
        *,
        cache_ttl: float = KEY_CACHE_TTL_SECONDS,
        cache_size: int = KEY_CACHE_SIZE,
    ) -> None:
        self.provider = provider
        # cachetools' caches are not thread-safe; one lock guards both.
        self._lock = threading.Lock()
        self._current: TTLCache[uuid.UUID, _DataKey] = TTLCache(cache_size, cache_ttl)
        self._unwrapped: TTLCache[tuple[uuid.UUID, bytes], bytes] = TTLCache(cache_size, cache_ttl)

    def forget(self, tenant_id: uuid.UUID | str) -> None:
        """Drop every cached plaintext key of a tenant (after its KMS key is disabled)."""
        tenant = parse_tenant_id(tenant_id)
        with self._lock:
            self._current.pop(tenant, None)
            for key in [k for k in self._unwrapped if k[0] == tenant]:
                self._unwrapped.pop(key, None)

    def _data_key(self, tenant: uuid.UUID) -> _DataKey:
        with self._lock:
            key = self._current.get(tenant)
            if key is not None and key.uses < MAX_MESSAGES_PER_DATA_KEY:
                key.uses += 1
                return key
        plaintext, wrapped = self.provider.generate_data_key(tenant)
        key = _DataKey(plaintext, wrapped, uses=1)
        with self._lock:
            self._current[tenant] = key
            self._unwrapped[(tenant, wrapped)] = plaintext
        return key

    def encrypt(self, tenant_id: uuid.UUID | str, plaintext: bytes) -> bytes:
        tenant = parse_tenant_id(tenant_id)
        key = self._data_key(tenant)
        header = MAGIC + struct.pack(">H", len(key.wrapped)) + key.wrapped
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(key.plaintext).encrypt(nonce, plaintext, str(tenant).encode() + header)
        return header + nonce + sealed

    def decrypt(self, tenant_id: uuid.UUID | str, blob: bytes) -> bytes:
        tenant = parse_tenant_id(tenant_id)
        if len(blob) < 6 + 12 + 16 or blob[:4] != MAGIC:
            raise DecryptionError("not an envelope-encrypted blob (bad magic or too short)")
        (length,) = struct.unpack(">H", blob[4:6])
        header, rest = blob[: 6 + length], blob[6 + length :]
        wrapped = header[6:]
        if len(wrapped) != length or len(rest) < 12 + 16:
            raise DecryptionError("truncated envelope")
        with self._lock:
            cached = self._unwrapped.get((tenant, wrapped))
        try:
            data_key = cached or self.provider.unwrap(tenant, wrapped)
        except KeyUnwrapError as exc:
            raise DecryptionError(f"cannot decrypt as tenant {tenant}: {exc}") from None
        try:
            plaintext = AESGCM(data_key).decrypt(
                rest[:12], rest[12:], str(tenant).encode() + header
            )
        except InvalidTag:
            raise DecryptionError(
                f"cannot decrypt as tenant {tenant}: altered or another tenant's data"
            ) from None
        with self._lock:
            self._unwrapped[(tenant, wrapped)] = data_key
        return plaintext
