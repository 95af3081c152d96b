"""Liveness and readiness, outside /v1 and without auth (load balancers and Docker call them)."""
from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify

log = logging.getLogger(__name__)
blp = Blueprint("health", __name__)


@blp.get("/healthz")
def healthz():
    """The process is up."""
    return jsonify(status="ok")


@blp.get("/readyz")
def readyz():
    """Ready to serve: the database answers and every component reports ready."""
    state = current_app.extensions["kefu"]
    checks: dict[str, dict] = {}
    try:
        state.store.ping()
        checks["database"] = {"ready": True, "backend": state.store.engine.dialect.name}
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure
        log.warning("readiness: database unavailable: %s", exc)
        checks["database"] = {"ready": False, "error": type(exc).__name__}
    for name, probe in state.extras.get("readiness", {}).items():
        checks[name] = probe()
    ready = all(c.get("ready") for c in checks.values())
    return jsonify(status="ready" if ready else "not ready", checks=checks), (200 if ready else 503)
