"""Activating a model version safely: a version that does not load is never left as the active one."""
from __future__ import annotations

import logging

from features.errors import Conflict

log = logging.getLogger(__name__)


def activate_version(registry, loaded, name: str, version: str, reason: str = "", by: str | None = None) -> dict:
    """Point CURRENT at ``version`` and load it here; if it does not load, point CURRENT back and raise.

    Without the undo, the workers already running would keep the old model, but every worker started later
    would find a broken CURRENT and serve nothing.
    """
    registry.activate(name, version, reason, by=by)
    status = loaded.reload(name)
    if status.get("version") == version:
        return status
    error = status.get("error")
    previous = registry.rollback(name, f"automatic: {version} failed to load", by=by)
    loaded.reload(name)
    log.warning("refused activation of %s %s (%s); %s is active again", name, version, error, previous.version)
    raise Conflict(f"Version {version} could not be loaded ({error}); {previous.version} stays active.")
