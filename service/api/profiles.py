"""GET /v1/customers/<id>/profile and the feature catalogue."""
from __future__ import annotations

from flask import current_app

from features.errors import NotFound
from features.profiles.definitions import PROFILE_FEATURES
from service.api.blueprint import Blueprint
from service.auth import require_scope
from service.schemas.profiles import FeatureListResponseSchema, ProfileResponseSchema

blp = Blueprint("profiles", __name__, url_prefix="/v1", description="Customer profiles")


@blp.route("/customers/<string:customer_id>/profile", methods=["GET"])
@require_scope("profiles")
@blp.response(200, ProfileResponseSchema)
@blp.alt_response(404, description="unknown customer")
def get_profile(customer_id: str):
    """A customer's profile

    Recency/frequency/monetary, spend and orders over 7/30/90 days, category affinities, price band, refund
    rate, device/IP/country diversity, payment velocity, chat centroid and segment.
    """
    state = current_app.extensions["kefu"]
    profile = state.extras["profiles"].get(customer_id)
    if profile is None:
        raise NotFound(f"No customer '{customer_id}'.")
    customer = state.store.get_customer(customer_id) or {"customer_id": customer_id}
    return {**profile, "customer": customer}


@blp.route("/profiles/features", methods=["GET"])
@require_scope("profiles")
@blp.response(200, FeatureListResponseSchema)
def list_features():
    """The profile feature definitions (name, type, group, description)"""
    return {"features": [f.__dict__ for f in PROFILE_FEATURES]}
