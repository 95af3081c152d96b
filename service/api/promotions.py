"""Scheduled promotions: PUT, GET and DELETE /v1/promotions (service.pipelines.promotions decides which applies)."""
from __future__ import annotations

from flask import current_app, g

from features.errors import InvalidInput, NotFound
from features.storage.recommend_log import CHANNELS
from features.storage.store import utcnow
from service.api.blueprint import Blueprint
from service.auth import require_scope
from service.pipelines.promotions import ScheduledPromotions, is_live
from service.schemas.promotions import (
    PromotionPathSchema,
    PromotionsResponseSchema,
    ScheduledPromotionRequestSchema,
    ScheduledPromotionSchema,
)

blp = Blueprint("promotions", __name__, url_prefix="/v1",
                description="Promotions scheduled once, applied to every recommendation list while live")

PATH = PromotionPathSchema()


def _promotions() -> ScheduledPromotions:
    return current_app.extensions["kefu"].extras["recommend"].promotions


def _name(name: str) -> str:
    errors = PATH.validate({"name": name})
    if errors:
        raise InvalidInput("The promotion's name is not valid.", errors=errors)
    return name


def _shown(rows: list[dict]) -> list[dict]:
    """The rows as the API shows them: whether each is live now, and what it names that the catalogue lacks (a
    typo, or an item not imported yet) so a merchandiser sees why it would never show."""
    catalogue = current_app.extensions["kefu"].extras["profiles"].catalogue(fresh=True)
    items, categories = set(catalogue["item_id"].astype(str)), set(catalogue["category"].dropna().astype(str))
    now = utcnow()
    return [{**row, "live": is_live(row, now), "unknown_items": [i for i in row["items"] if i not in items],
             "unknown_categories": [c for c in row["categories"] if c not in categories]} for row in rows]


@blp.route("/promotions", methods=["GET"])
@require_scope("recommendations")
@blp.response(200, PromotionsResponseSchema)
def list_promotions():
    """Every scheduled promotion, ended ones included, and the one each channel's lists get now"""
    promotions = _promotions()
    rows = promotions.store.all()                   # what is stored now, not this worker's cached copy
    now = {channel: (found or {}).get("name") for channel in CHANNELS
           for found in [promotions.current(channel, rows)]}
    return {"promotions": _shown(rows), "applies_now": now}


@blp.route("/promotions/<string:name>", methods=["GET"])
@require_scope("recommendations")
@blp.response(200, ScheduledPromotionSchema)
@blp.alt_response(404, description="no such promotion")
def get_promotion(name: str):
    """One scheduled promotion"""
    row = _promotions().store.get(_name(name))
    if row is None:
        raise NotFound(f"No promotion named '{name}'.")
    return _shown([row])[0]


@blp.route("/promotions/<string:name>", methods=["PUT"])
@require_scope("recommendations")
@blp.arguments(ScheduledPromotionRequestSchema)
@blp.response(200, ScheduledPromotionSchema)
def put_promotion(body: dict, name: str):
    """Schedule a promotion, or replace it

    While it is live (from `starts_at`, default now, until `ends_at`, default until deleted) every
    recommendation list on its `channels` keeps round(k × `share`) places for its `items` or `categories`,
    filled with the ones the ranker puts first for the customer that pass every rule; the answer names it in
    `promotion` and flags those items `promoted`. A list gets one promotion: the live one with the highest
    `priority`, then the one that started last. A request's own `promotion` replaces it for that request.
    `unknown_items` and `unknown_categories` name what the catalogue does not hold (yet): those never show.
    Applies at once in the worker that answers, in the others within 5 s. GET
    /v1/recommendations/performance reports how its items did (`by_promotion`).
    """
    return _shown([_promotions().put(_name(name), body, by=g.principal.key_id)])[0]


@blp.route("/promotions/<string:name>", methods=["DELETE"])
@require_scope("recommendations")
@blp.response(204)
@blp.alt_response(404, description="no such promotion")
def delete_promotion(name: str):
    """Delete a scheduled promotion: it stops at once (the lists it was in keep its name for the report)"""
    if not _promotions().delete(_name(name)):
        raise NotFound(f"No promotion named '{name}'.")
