"""POST /v1/recommendations and GET /v1/items/<id>/similar."""
from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint

from service.auth import require_scope
from service.schemas.recommend import (
    RecommendationRequestSchema,
    RecommendationResponseSchema,
    SimilarQuerySchema,
    SimilarResponseSchema,
)

blp = Blueprint("recommendations", __name__, url_prefix="/v1", description="Personalised product recommendations")


def _service():
    return current_app.extensions["kefu"].extras["recommend"]


@blp.route("/recommendations", methods=["POST"])
@require_scope("recommendations")
@blp.arguments(RecommendationRequestSchema)
@blp.response(200, RecommendationResponseSchema)
@blp.alt_response(404, description="no recommendation model trained yet")
def recommend(body: dict):
    """Recommend items for a customer

    Candidates from several sources (repeat purchases, bought together, similar descriptions, customers
    who shop alike, collaborative, category affinity, popular in the customer's segment) are ranked by
    LightGBM LambdaRank, then the rules apply on the live catalogue: nothing out of stock or inactive,
    bought items again only when repeatable, filters exactly (even if fewer than k remain), at most
    KEFU_RECOMMEND_MAX_PER_CATEGORY per category. An unknown customer gets a cold-start answer (popular in
    the given segment), not an error.
    """
    return _service().recommend(body["customer_id"], body["k"], filters=body["filters"], context=body["context"],
                                segment=body.get("segment"))


@blp.route("/items/<string:item_id>/similar", methods=["GET"])
@require_scope("recommendations")
@blp.arguments(SimilarQuerySchema, location="query")
@blp.response(200, SimilarResponseSchema)
@blp.alt_response(404, description="unknown item")
def similar(query: dict, item_id: str):
    """Items to show on an item's page: bought together, then similar by description"""
    return _service().similar(item_id, query["k"])
