"""POST /v1/recommendations and GET /v1/items/<id>/similar."""
from __future__ import annotations

from flask import current_app, g

from features import fastjson
from service.api.blueprint import Blueprint
from service.api.fastview import fast_json_view
from service.auth import require_scope
from service.ids import uuid7_hex
from service.metrics import recommendation_list
from service.pipelines.recommend import MODEL, SCHEDULED
from service.pipelines.recommend_online import performance_report, split_versions
from service.schemas.recommend import (
    PerformanceQuerySchema,
    PerformanceResponseSchema,
    PopularQuerySchema,
    PopularResponseSchema,
    RecommendationRequestSchema,
    RecommendationResponseSchema,
    SimilarQuerySchema,
    SimilarResponseSchema,
)

blp = Blueprint("recommendations", __name__, url_prefix="/v1", description="Personalised product recommendations")


# Schema instances: webargs builds (deep-copies) a new schema per request when handed a class.
RECOMMEND_REQUEST = RecommendationRequestSchema()


def _service():
    return current_app.extensions["kefu"].extras["recommend"]


def _text(value):
    return None if value is None else str(value)


def _number(value):
    return None if value is None else float(value)


def _as_response(result: dict):
    """The answer as RecommendationResponseSchema dumps it (fields.String: str, fields.Float: float, None kept, the
    schema's key order), built directly: marshmallow's field-by-field pass over the ten items cost ~0.2 ms of a
    ~6 ms answer. tests/service/test_recommendations_api.py checks it equals the schema's dump. orjson writes it
    when installed (features.fastjson), else Flask's JSON provider."""
    items = [{"item_id": _text(i["item_id"]), "name": _text(i["name"]), "score": _number(i["score"]),
              "reason": _text(i["reason"]), "source": _text(i["source"]), "category": _text(i["category"]),
              "price": _number(i["price"])} for i in result["items"]]
    for item, given in zip(items, result["items"]):
        if "promoted" in given:                     # only in answers with a promotion
            item["promoted"] = bool(given["promoted"])
    body = {
        "customer_id": _text(result["customer_id"]),
        "items": items,
        "strategy": _text(result["strategy"]),
        "model": _text(result["model"]),
        "model_version": _text(result["model_version"]),
        "recommendation_id": result["recommendation_id"],
    }
    if result.get("promotion") is not None:
        body["promotion"] = _text(result["promotion"])
    data = fastjson.dumps(body)
    if data is None:
        return current_app.json.response(body)
    return current_app.response_class(data + b"\n", mimetype="application/json")


@blp.route("/recommendations", methods=["POST"])
@fast_json_view
@require_scope("recommendations")
@blp.arguments(RECOMMEND_REQUEST)
@blp.response(200, RecommendationResponseSchema)
@blp.alt_response(404, description="no recommendation model trained yet")
def recommend(body: dict):
    """Recommend items for a customer

    Candidates from several sources (repeat purchases, bought together, similar descriptions, customers
    who shop alike, collaborative, category affinity, popular in the customer's segment) are ranked by
    LightGBM LambdaRank, then the rules apply on the live catalogue: nothing out of stock or inactive,
    bought items again only when repeatable, filters exactly (even if fewer than k remain), at most
    KEFU_RECOMMEND_MAX_PER_CATEGORY per category. An unknown customer gets a cold-start answer (popular in
    the given segment), not an error. A `promotion` keeps round(k × share) slots for its items or categories,
    filled with the ones the ranker puts first for this customer that pass the same rules. Without one, the
    scheduled promotion live on the `api` channel applies (PUT /v1/promotions/{name}); `"promotion": null`
    asks for none.
    """
    result = _service().recommend(body["customer_id"], body["k"], filters=body["filters"], context=body["context"],
                                  segment=body.get("segment"), promotion=body.get("promotion", SCHEDULED))
    result["recommendation_id"] = uuid7_hex()
    recommendation_list(result["strategy"])
    current_app.extensions["kefu"].extras["recommend_log"].record(
        result["recommendation_id"], result, (body["context"] or {}).get("item_id"), g.request_id, channel="api")
    return _as_response(result)


@blp.route("/items/<string:item_id>/similar", methods=["GET"])
@require_scope("recommendations")
@blp.arguments(SimilarQuerySchema, location="query")
@blp.response(200, SimilarResponseSchema)
@blp.alt_response(404, description="unknown item")
def similar(query: dict, item_id: str):
    """Items to show on an item's page: bought together, then similar by description"""
    return _service().similar(item_id, query["k"])


@blp.route("/items/popular", methods=["GET"])
@require_scope("recommendations")
@blp.arguments(PopularQuerySchema, location="query")
@blp.response(200, PopularResponseSchema)
def popular(query: dict):
    """What sells now, not personalised

    For landing pages, new subscribers' e-mails and anyone kefu does not know: the most bought items of the 30
    days before the model's data ends (its training or latest refresh: `as_of`), for everyone, a `region` or an
    `age_band`, optionally in one `category`, under the live catalogue's rules (active, in stock). `basis` names
    the list that answered: an unknown region or age band gets everyone's.
    """
    return _service().popular(query["k"], category=query.get("category"), region=query.get("region"),
                              age_band=query.get("age_band"))


@blp.route("/recommendations/performance", methods=["GET"])
@require_scope("recommendations")
@blp.arguments(PerformanceQuerySchema, location="query")
@blp.response(200, PerformanceResponseSchema)
def performance(query: dict):
    """What customers did after the lists they were shown

    Every list shown in the last `days` days (answered by POST /v1/recommendations: channel `api`; put in a
    chat reply: `chat`; written by `kefu recommend` for a campaign: `campaign`) is matched with the customer's
    later events on the shown items, within `window_days` of the list: a view or add to cart counts as a
    click-through, a purchase as a conversion (the first list that showed an item gets the credit). Rates per
    list, per item shown, per position, per candidate source, per strategy, per model version and per channel,
    and the share of the reached customers' purchases that were items they had been shown. `channel` restricts
    the report to one channel, `promotion` to the lists that carried that promotion. Lists younger than the
    window are still collecting events.

    While a challenger splits the traffic (PUT /v1/models/recommend/challenger), `challenge` compares the two
    versions since the test began, customer by customer: the share of each arm's customers who viewed or bought
    a shown item, the difference with a 95 % interval, and a verdict. `challenger` names a past test's version.
    """
    state = current_app.extensions["kefu"]
    versions = split_versions(state.extras["registry"], MODEL, query.get("challenger"))
    return performance_report(state.extras["recommend_log"], days=query["days"], window_days=query["window_days"],
                              channel=query.get("channel"), promotion=query.get("promotion"), versions=versions)
