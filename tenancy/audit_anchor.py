"""Anchors: each tenant's audit chain head, HMAC-signed with a key the database never holds.

Whoever controls the database can rewrite the audit log and recompute every hash after the
change, or cut off the newest entries; the chain alone cannot tell. An anchor records the
sequence number and hash of a tenant's newest entry at one moment, signed with
HMAC-SHA256 under a key kept outside PostgreSQL (`TENANCY_AUDIT_ANCHOR_KEY`), and is stored
outside PostgreSQL too (`tenancy.audit_anchor_store`). Later, `verify` requires the chain to
still hold that exact entry: a rewrite of anything up to it, or a truncation below it, fails.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import asdict, dataclass
from datetime import datetime

from tenancy.errors import ConfigurationError, InvalidInputError
from tenancy.validation import parse_tenant_id

FORMAT = "codexos-audit-anchor-1"
KEY_BYTES = 32


class AnchorKey:
    """The HMAC key; its `key_id` (a hash of it) tells which key signed an anchor."""

    def __init__(self, secret: bytes, *, source: str = "TENANCY_AUDIT_ANCHOR_KEY") -> None:
        if len(secret) < KEY_BYTES:
            raise ConfigurationError(
                f"{source}: the audit anchor key has {len(secret)} bytes; "
                f"expected at least {KEY_BYTES} random bytes, base64-encoded"
            )
        self._secret = secret
        self.key_id = hashlib.sha256(b"codexos-audit-anchor-key:" + secret).hexdigest()[:16]

    def mac(self, payload: dict[str, object]) -> str:
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        return hmac.new(self._secret, canonical, hashlib.sha256).hexdigest()

    def sign(self, tenant_id: str, seq: int, entry_hash: bytes, at: datetime) -> Anchor:
        if at.utcoffset() is None:
            raise InvalidInputError("anchored_at", at, "a timezone-aware datetime")
        unsigned = Anchor(FORMAT, tenant_id, seq, entry_hash.hex(), at.isoformat(), self.key_id, "")
        return Anchor(**{**asdict(unsigned), "mac": self.mac(unsigned.payload())})

    def problem(self, anchor: Anchor) -> str | None:
        """Why `anchor` cannot be trusted under this key, or None when it verifies."""
        if anchor.key_id != self.key_id:
            return (
                f"anchor of seq {anchor.seq} was signed by key {anchor.key_id}; "
                f"the configured key is {self.key_id}"
            )
        if not hmac.compare_digest(anchor.mac, self.mac(anchor.payload())):
            return f"anchor of seq {anchor.seq} does not verify under the configured key: forged"
        return None


@dataclass(frozen=True)
class Anchor:
    """One signed chain head. Every field but `mac` is covered by the MAC."""

    format: str
    tenant_id: str
    seq: int
    hash: str
    anchored_at: str
    key_id: str
    mac: str

    def payload(self) -> dict[str, object]:
        return {k: v for k, v in asdict(self).items() if k != "mac"}

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> Anchor:
        """Parse a stored anchor; a malformed one names `where` and what is wrong."""
        try:
            raw = json.loads(data)
            anchor = cls(**raw)
        except (ValueError, TypeError) as exc:
            raise InvalidInputError(where, data[:80], f"an audit anchor ({exc})") from None
        if anchor.format != FORMAT:
            raise InvalidInputError(f"{where}: format", anchor.format, FORMAT)
        if not isinstance(anchor.seq, int) or anchor.seq < 1:
            raise InvalidInputError(f"{where}: seq", anchor.seq, "an integer >= 1")
        parse_tenant_id(anchor.tenant_id)
        return anchor
