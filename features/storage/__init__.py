"""Storage: the event store, schema, migrations and the stores built on them.

Settings the service layer reads defaults from live here rather than in the modules that use them, so that
``service.config`` (imported by every ``kefu`` command) does not load SQLAlchemy and Alembic to learn a number.
"""

#: The review-hold length (hours) a migration gives holds taken before holds stored their own end (0017), when the
#: caller names none: KEFU_RISK_HOLD_HOURS's default.
DEFAULT_HOLD_HOURS = 8.0
