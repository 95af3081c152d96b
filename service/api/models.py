"""Model registry over HTTP (scope admin): list, reload, activate, roll back, challengers, change thresholds."""
from __future__ import annotations

from flask import current_app, g

from models.registry import ModelNotFound
from service.api.blueprint import Blueprint
from service.auth import require_scope
from service.pipelines.model_admin import activate_version, challenge_with
from service.schemas.risk import (
    ActivateRequestSchema,
    ChallengerRequestSchema,
    ModelListResponseSchema,
    ModelSummarySchema,
    RollbackRequestSchema,
    ThresholdsSchema,
)

blp = Blueprint("models", __name__, url_prefix="/v1", description="Model registry")


def _state():
    return current_app.extensions["kefu"]


def summary(name: str) -> dict:
    """One model as the API and the CLI show it (serving state is this worker's)."""
    state = _state()
    registry, loaded = state.extras["registry"], state.extras["models"]
    versions = registry.versions(name)
    if not versions:
        raise ModelNotFound(f"No model named '{name}'.")
    current = registry.current(name)
    override = state.extras["risk_audit"].thresholds(name)
    if override:
        thresholds = {"review": override["review"], "decline": override["decline"]}
    else:
        thresholds = (current or versions[-1]).meta.get("thresholds")
    challenger = registry.challenger(name)
    return {
        "name": name,
        "kind": versions[-1].kind,
        "current_version": current.version if current else None,
        "serving": loaded.status().get(name, {"state": "not loaded in this worker"}),
        "thresholds": thresholds,
        "challenger": challenger and {**challenger.as_dict(), "serving": loaded.challenger_status(name)},
        "versions": [
            {"version": v.version, "created_at": v.created_at, "metrics": v.metrics,
             "active": bool(current and v.version == current.version),
             "refreshed_from": v.meta.get("refreshed_from")}
            for v in versions
        ],
    }


@blp.route("/models", methods=["GET"])
@require_scope("admin")
@blp.response(200, ModelListResponseSchema)
def list_models():
    """Every model with its versions, the active one, thresholds and this worker's load state"""
    return {"models": [summary(n) for n in _state().extras["registry"].names()]}


@blp.route("/models/<string:name>/reload", methods=["POST"])
@require_scope("admin")
@blp.response(200, ModelSummarySchema)
def reload_model(name: str):
    """Load the active version now (new first, then swap; a bad artifact leaves the old one serving)

    Workers also pick up a new active version by themselves within two seconds; this forces it in the
    worker that answers and reports the outcome.
    """
    summary(name)  # 404 for an unknown model
    _state().extras["models"].reload(name)
    return summary(name)


@blp.route("/models/<string:name>/activate", methods=["POST"])
@require_scope("admin")
@blp.arguments(ActivateRequestSchema)
@blp.response(200, ModelSummarySchema)
def activate_model(body: dict, name: str):
    """Make a version the active one (every worker switches to it)

    The version is loaded before the answer; one that does not load is refused (409) and the previous
    version is made active again.
    """
    state = _state()
    activate_version(state.extras["registry"], state.extras["models"], name, body["version"],
                     body.get("reason", ""), by=g.principal.key_id)
    return summary(name)


@blp.route("/models/<string:name>/rollback", methods=["POST"])
@require_scope("admin")
@blp.arguments(RollbackRequestSchema)
@blp.response(200, ModelSummarySchema)
def rollback_model(body: dict, name: str):
    """Go back to the version that was active before the current one"""
    state = _state()
    state.extras["registry"].rollback(name, body.get("reason", ""), by=g.principal.key_id)
    state.extras["models"].reload(name)
    return summary(name)


@blp.route("/models/<string:name>/challenger", methods=["PUT"])
@require_scope("admin")
@blp.arguments(ChallengerRequestSchema)
@blp.response(200, ModelSummarySchema)
def set_challenger(body: dict, name: str):
    """Serve a second version next to the active one: in shadow (it only scores, into the audit trail) or in a
    split test (it decides its share of customers)

    The version is loaded before the answer; one that does not load is refused (409). Activating the challenger's
    version later promotes it and ends the challenge. Compare the two with
    GET /v1/risk/models/<name>/challenger or GET /v1/recommendations/performance (per model version).
    """
    state = _state()
    summary(name)
    challenge_with(state.extras["registry"], state.extras["models"], name, body["version"], body["mode"],
                   body.get("share"), body.get("reason", ""), by=g.principal.key_id)
    return summary(name)


@blp.route("/models/<string:name>/challenger", methods=["DELETE"])
@require_scope("admin")
@blp.arguments(RollbackRequestSchema, location="query")
@blp.response(200, ModelSummarySchema)
def stop_challenger(body: dict, name: str):
    """End the challenge: the active version serves alone again (the challenger's scores stay in the audit trail)"""
    state = _state()
    summary(name)
    state.extras["registry"].stop_challenger(name, body.get("reason", ""), by=g.principal.key_id)
    state.extras["models"].reload_challenger(name)
    return summary(name)


@blp.route("/models/<string:name>/thresholds", methods=["PUT"])
@require_scope("admin")
@blp.arguments(ThresholdsSchema)
@blp.response(200, ModelSummarySchema)
def set_thresholds(body: dict, name: str):
    """Change a risk model's decision thresholds without retraining (takes effect within 5 s in every worker)"""
    summary(name)
    state = _state()
    state.extras["risk_audit"].set_thresholds(name, body["review"], body["decline"], by=g.principal.key_id)
    state.extras["risk"].forget_thresholds(name)
    return summary(name)
