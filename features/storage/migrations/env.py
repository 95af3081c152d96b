"""Alembic environment: runs against the engine handed over in ``config.attributes['engine']``."""
from __future__ import annotations

from alembic import context

from features.storage.schema import include_object, metadata

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    context.run_migrations()
