"""Per-tenant envelope encryption with both key providers; KMS through a real moto_server."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from tenancy.envelope import DecryptionError, TenantCipher
from tenancy.key_providers import AwsKmsKeyProvider, LocalKeyFileProvider

A = uuid.UUID("0b7e4c1a-5f0e-4d5e-9a53-6f1c2d3e4a01")
B = uuid.UUID("1c8f5d2b-6a1f-4e6f-8b64-7a2d3e4f5b02")


@pytest.fixture
def kms(moto_endpoint: str) -> Any:
    return boto3.client(
        "kms",
        endpoint_url=moto_endpoint,
        region_name="eu-west-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture
def aws_cipher(kms: Any) -> TenantCipher:
    keys = {t: kms.create_key(Description=f"tenant {t}")["KeyMetadata"]["Arn"] for t in (A, B)}
    return TenantCipher(AwsKmsKeyProvider(kms, lambda t: keys[t]))


@pytest.fixture
def local_cipher(tmp_path: Path) -> TenantCipher:
    return TenantCipher(LocalKeyFileProvider(tmp_path / "keys" / "master.key"))


@pytest.fixture(params=["aws", "local"])
def cipher(request: pytest.FixtureRequest) -> TenantCipher:
    return request.getfixturevalue(f"{request.param}_cipher")  # type: ignore[no-any-return]


def test_round_trip(cipher: TenantCipher) -> None:
    blob = cipher.encrypt(A, b"agent transcript")
    assert b"agent transcript" not in blob
    assert cipher.decrypt(A, blob) == b"agent transcript"
    assert cipher.encrypt(A, b"x") != cipher.encrypt(A, b"x"), "fresh nonce each time"


def test_tenant_a_ciphertext_does_not_decrypt_as_b(cipher: TenantCipher) -> None:
    blob = cipher.encrypt(A, b"secret of A")
    with pytest.raises(DecryptionError, match=f"cannot decrypt as tenant {B}"):
        cipher.decrypt(B, blob)


def test_a_fresh_process_decrypts_too(aws_cipher: TenantCipher, kms: Any) -> None:
    blob = aws_cipher.encrypt(A, b"persisted")
    fresh = TenantCipher(aws_cipher.provider)  # no cached data keys: unwraps through KMS
    assert fresh.decrypt(A, blob) == b"persisted"
    with pytest.raises(DecryptionError):
        fresh.decrypt(B, blob)


@pytest.mark.parametrize("position", [0, 5, 40, -20, -1])
def test_tampered_ciphertext_is_refused(cipher: TenantCipher, position: int) -> None:
    blob = bytearray(cipher.encrypt(A, b"do not touch" * 4))
    blob[position] ^= 0x01
    with pytest.raises(DecryptionError):
        cipher.decrypt(A, bytes(blob))


def test_truncated_and_foreign_blobs_are_refused(cipher: TenantCipher) -> None:
    blob = cipher.encrypt(A, b"payload")
    with pytest.raises(DecryptionError, match="not an envelope-encrypted blob"):
        cipher.decrypt(A, b"plain text, not ours")
    with pytest.raises(DecryptionError):
        cipher.decrypt(A, blob[:-5])


def test_local_key_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    TenantCipher(LocalKeyFileProvider(path)).encrypt(A, b"x")
    assert path.stat().st_mode & 0o777 == 0o600 and len(path.read_bytes()) == 32


def test_plaintext_data_keys_are_forgotten_after_their_ttl_and_on_demand(tmp_path: Path) -> None:
    """A disabled tenant key must stop decrypting here too: cached data keys expire."""
    provider = CountingProvider(LocalKeyFileProvider(tmp_path / "keys" / "master.key"))
    cipher = TenantCipher(provider, cache_ttl=0.05, cache_size=4)
    blob = cipher.encrypt(A, b"secret")
    cipher.decrypt(A, blob)
    assert provider.unwraps == 0, "the writer's own key is cached"
    time.sleep(0.1)  # past the TTL (a fact about the cache, not a speed assertion)
    cipher.decrypt(A, blob)
    assert provider.unwraps == 1, "expired: unwrapped again through the provider"
    cipher.forget(A)
    cipher.decrypt(A, blob)
    assert provider.unwraps == 2
    for _ in range(50):  # many tenants: the cache stays within its size
        cipher.encrypt(uuid.uuid4(), b"x")
    assert len(cipher._unwrapped) <= 4 and len(cipher._current) <= 4


class CountingProvider:
    def __init__(self, inner: LocalKeyFileProvider) -> None:
        self.inner = inner
        self.unwraps = 0

    def generate_data_key(self, tenant: uuid.UUID) -> tuple[bytes, bytes]:
        return self.inner.generate_data_key(tenant)

    def unwrap(self, tenant: uuid.UUID, wrapped: bytes) -> bytes:
        self.unwraps += 1
        return self.inner.unwrap(tenant, wrapped)
