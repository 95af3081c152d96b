"""Command-line options checked by the API's own schemas, so the CLI refuses what the API refuses."""
from __future__ import annotations

from typing import Any, Mapping

import click
from marshmallow import Schema, ValidationError


def load_options(schema: Schema, given: Mapping[str, Any], what: str, hint: str = "") -> dict:
    """``schema.load`` of the options given (None and empty lists dropped), or a usage error naming each problem."""
    try:
        return schema.load({k: v for k, v in given.items() if v is not None and v != []})
    except ValidationError as exc:
        problems = "; ".join(f"{field}: {' '.join(map(str, why)) if isinstance(why, list) else why}"
                             for field, why in exc.normalized_messages().items())
        raise click.UsageError(f"bad {what} ({problems}){hint}") from exc
