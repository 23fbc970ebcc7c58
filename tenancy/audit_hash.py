"""The bytes an audit entry's hash covers, in each encoding the chain has used.

v1 (migration 0001) joins the fields with U+001F; it cannot tell fields apart once one of them
contains that character, so `v1_ambiguity` names such a field and the verifier refuses it.
v2 (migration 0003) length-prefixes every field as a netstring, `<octets>:<bytes>,`, so two
different entries never encode to the same bytes. Both mirror the SQL functions
`registry.audit_entry_hash` and `registry.audit_entry_hash_v2`, written independently.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

SEPARATOR_V1 = "\x1f"
DOMAIN_V2 = b"codexos-audit-v2"
VERSIONS = (1, 2)


@dataclass(frozen=True)
class EntryFields:
    """What an entry's hash covers; `details_text` is PostgreSQL's text of the jsonb value."""

    tenant_id: str
    seq: int
    actor: str
    action: str
    target: str
    details_text: str
    created_at: datetime
    prev_hash: bytes

    @property
    def stamp(self) -> str:
        return self.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _netstring(value: bytes) -> bytes:
    return f"{len(value)}:".encode() + value + b","


def entry_hash(fields: EntryFields, version: int) -> bytes:
    """SHA-256 of the entry's canonical bytes under `version` (1 or 2)."""
    if version == 1:
        text = SEPARATOR_V1.join(
            [
                fields.tenant_id,
                str(fields.seq),
                fields.actor,
                fields.action,
                fields.target,
                fields.details_text,
                fields.stamp,
                fields.prev_hash.hex(),
            ]
        )
        return hashlib.sha256(text.encode()).digest()
    if version == 2:
        parts = [
            DOMAIN_V2,
            *(
                p.encode()
                for p in (
                    fields.tenant_id,
                    str(fields.seq),
                    fields.actor,
                    fields.action,
                    fields.target,
                    fields.details_text,
                    fields.stamp,
                )
            ),
            fields.prev_hash,
        ]
        return hashlib.sha256(b"".join(_netstring(p) for p in parts)).digest()
    raise ValueError(f"audit hash_version is {version!r}; expected one of {VERSIONS}")


def v1_ambiguity(fields: EntryFields) -> str | None:
    """The first field holding the v1 separator, or None when the v1 encoding is unambiguous.

    With no separator inside any field, the joined text splits back into exactly one list of
    fields; with one, the text could also be some other entry's.
    """
    for name in ("actor", "action", "target", "details_text"):
        if SEPARATOR_V1 in getattr(fields, name):
            return name
    return None
