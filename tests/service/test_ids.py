"""service.ids.uuid4_hex: the form of uuid.uuid4().hex (version 4, RFC 4122 variant, 32 hex digits)."""
from __future__ import annotations

import uuid

from service.ids import uuid4_hex


def test_uuid4_hex_is_a_version_4_uuid_in_hex():
    seen = set()
    for _ in range(2000):
        text = uuid4_hex()
        parsed = uuid.UUID(text)
        assert len(text) == 32 and text == parsed.hex
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        seen.add(text)
    assert len(seen) == 2000
