"""Random identifiers: request ids and score ids, in the form ``uuid.uuid4().hex`` gives.

``uuid.uuid4().hex`` builds a UUID object (argument checks, a property for ``hex``) for a 32-character string: about
half of the cost of the two ids every score request makes. :func:`uuid4_hex` sets the same version and variant bits
on the same 16 bytes from ``os.urandom`` and formats them directly.
"""
from __future__ import annotations

import os

_KEEP = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)   # the version nibble and the variant's two bits
_SET = (4 << 76) | (0x8000 << 48)                                # version 4, variant RFC 4122


def uuid4_hex() -> str:
    """A random version-4 UUID as 32 lower-case hex digits, like ``uuid.uuid4().hex``."""
    return "%032x" % (int.from_bytes(os.urandom(16), "big") & _KEEP | _SET)
