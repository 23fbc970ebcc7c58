"""Values the engine does not know yet during `pulumi preview`.

The policy SDK marks them with sentinel strings. Rules treat an unknown value as "not
checkable now" (never as a pass of something they can see is wrong): what is known in preview
is checked in preview, and every rule runs again on the resolved inputs during `pulumi up`,
before each resource is created or updated.
"""

from __future__ import annotations

from typing import Any

SENTINELS = frozenset(
    {
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",  # boolean
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",  # number
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",  # string
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",  # array
        "030794c1-ac77-496b-92df-f27374a8bd58",  # asset
        "e48ece36-62e2-4504-bad9-02848725956a",  # archive
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",  # object
    }
)


def is_unknown(value: Any) -> bool:
    return isinstance(value, str) and value in SENTINELS
