"""Ownership tokens: random, stored only as a SHA-256 hash, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_PREFIX = "codexos-verify="  # noqa: S105 (a record prefix, not a secret)


def new_token() -> str:
    """A TXT record value with 256 random bits."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str | bytes) -> bytes:
    raw = token.encode() if isinstance(token, str) else token
    return hashlib.sha256(raw).digest()


def token_matches(published: bytes, stored_sha256: bytes) -> bool:
    """Whether a published value is the token; the hashes are compared in constant time."""
    return hmac.compare_digest(token_hash(published.strip()), stored_sha256)
