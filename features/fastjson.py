"""JSON text on hot paths: orjson when it is installed (the ``fast`` extra), else the caller's usual encoder.

A score answer and its audit row hold ~50 floats, and the standard library spells each float through Python's
repr: serialising them cost ~330k instructions a request, about an eighth of a whole table-model score; orjson
writes the same values in a tenth of that. The values are the same either way; only the text differs (no
spaces, ``0.00001`` for ``1e-05``, UTF-8 instead of ``\\u`` escapes, and null for a NaN where the standard library
writes a bare ``NaN`` that is not JSON).

Parsing stays with the standard library: orjson reads an integer beyond 64 bits as a float, which would change
what a request means.
"""
from __future__ import annotations

from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - exercised by tests that hide it
    orjson = None


def dumps(value: Any) -> bytes | None:
    """orjson's UTF-8 text of ``value``, or None: orjson missing, or a value it refuses (numpy scalars, integers
    beyond 64 bits, non-string keys), which the caller's own encoder then handles as it always did."""
    if orjson is None:
        return None
    try:
        return orjson.dumps(value)
    except TypeError:                    # orjson.JSONEncodeError is a TypeError
        return None
