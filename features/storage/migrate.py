"""Apply the Alembic migrations to a database, from code (the app factory and ``kefu db upgrade``)."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from features.storage import DEFAULT_HOLD_HOURS

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(engine: Engine, risk_hold_hours: float = DEFAULT_HOLD_HOURS) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    cfg.attributes["risk_hold_hours"] = risk_hold_hours
    return cfg


def upgrade(engine: Engine, revision: str = "head", *, risk_hold_hours: float = DEFAULT_HOLD_HOURS) -> None:
    """Bring the schema to ``revision``; a no-op when it is already there. ``risk_hold_hours``: the service's
    KEFU_RISK_HOLD_HOURS, the length migration 0017 gives the review holds already taken."""
    command.upgrade(alembic_config(engine, risk_hold_hours), revision)


def downgrade(engine: Engine, revision: str) -> None:
    command.downgrade(alembic_config(engine), revision)
