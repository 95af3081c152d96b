"""Wire contract of scheduled promotions (PUT/GET/DELETE /v1/promotions)."""
from __future__ import annotations

from datetime import timezone

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from features.storage.recommend_log import CHANNELS
from service.schemas.events import StrictSchema
from service.schemas.recommend import PROMOTION_NAME, PromotedSchema


class PromotionPathSchema(StrictSchema):
    name = fields.String(required=True, validate=PROMOTION_NAME)


class ScheduledPromotionRequestSchema(PromotedSchema):
    channels = fields.List(fields.String(validate=validate.OneOf(CHANNELS)), load_default=lambda: list(CHANNELS),
                           validate=validate.Length(min=1), metadata={
        "description": "Where it applies: api (POST /v1/recommendations), chat (products in chat replies), campaign "
                       "(`kefu recommend` files). Default: all three."})
    priority = fields.Integer(load_default=0, validate=validate.Range(min=-1000, max=1000), metadata={
        "description": "When several are live on a channel, a list gets the highest priority (then the one that "
                       "started last)."})
    starts_at = fields.AwareDateTime(default_timezone=timezone.utc, allow_none=True, metadata={
        "description": "Live from this time; default: at once."})
    ends_at = fields.AwareDateTime(default_timezone=timezone.utc, allow_none=True, metadata={
        "description": "Live until this time; default: until deleted."})

    @validates_schema
    def _window(self, data: dict, **_kwargs) -> None:
        if data.get("starts_at") and data.get("ends_at") and data["ends_at"] <= data["starts_at"]:
            raise ValidationError("ends_at must be after starts_at.", "ends_at")
        if len(set(data.get("channels") or ())) != len(data.get("channels") or ()):
            raise ValidationError("A channel is named twice.", "channels")


class ScheduledPromotionSchema(Schema):
    name = fields.String()
    items = fields.List(fields.String())
    categories = fields.List(fields.String())
    share = fields.Float()
    channels = fields.List(fields.String())
    priority = fields.Integer()
    starts_at = fields.DateTime(allow_none=True)
    ends_at = fields.DateTime(allow_none=True)
    live = fields.Boolean(metadata={"description": "Live now (started and not ended)."})
    unknown_items = fields.List(fields.String(), metadata={
        "description": "Listed items the catalogue does not hold: they cannot show until they are imported (and "
                       "the recommender trained or refreshed)."})
    unknown_categories = fields.List(fields.String(), metadata={
        "description": "Listed categories no catalogue item has."})
    created_by = fields.String(allow_none=True, metadata={"description": "The API key that last set it."})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class PromotionsResponseSchema(Schema):
    promotions = fields.List(fields.Nested(ScheduledPromotionSchema))
    applies_now = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True), metadata={
        "description": "Per channel, the promotion a list gets now (null: none)."})
