"""Wire contract of recommendations."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from service.schemas.events import ID, StrictSchema


class FiltersSchema(StrictSchema):
    categories = fields.List(fields.String(validate=validate.Length(max=128)), validate=validate.Length(max=100),
                             metadata={"description": "Only these categories."})
    exclude_categories = fields.List(fields.String(validate=validate.Length(max=128)), validate=validate.Length(max=100))
    price_min = fields.Float(validate=validate.Range(min=0), allow_nan=False)
    price_max = fields.Float(validate=validate.Range(min=0), allow_nan=False)
    exclude_items = fields.List(fields.String(validate=ID), validate=validate.Length(max=1000),
                                metadata={"description": "Never these items (e.g. what is in the cart)."})

    @validates_schema
    def _range(self, data: dict, **_kwargs) -> None:
        if data.get("price_min") is not None and data.get("price_max") is not None and data["price_min"] > data["price_max"]:
            raise ValidationError("price_min exceeds price_max.", "price_max")


class ContextSchema(StrictSchema):
    item_id = fields.String(validate=ID, metadata={"description": "The item on the page being viewed: never recommended back; what goes with it "
                                        "(bought together, co-interacted) is moved up."})


class SegmentSchema(StrictSchema):
    age_band = fields.String(validate=validate.Length(max=32))
    region = fields.String(validate=validate.Length(max=64))


class RecommendationRequestSchema(StrictSchema):
    customer_id = fields.String(required=True, validate=ID)
    k = fields.Integer(load_default=10, validate=validate.Range(min=1, max=100))
    filters = fields.Nested(FiltersSchema, load_default=dict)
    context = fields.Nested(ContextSchema, load_default=dict)
    segment = fields.Nested(SegmentSchema, metadata={"description": "For an unknown customer: popular for this segment."})


class RecommendedItemSchema(Schema):
    item_id = fields.String()
    name = fields.String(allow_none=True)
    score = fields.Float(metadata={"description": "Higher ranks first; the ranker's score, blended with the "
                                                  "repeat prior where items are re-bought. Not a probability."})
    reason = fields.String(metadata={"description": "Why, in words, e.g. 'often bought together with Green tea'."})
    source = fields.String(metadata={"description": "The candidate source that proposed the item."})
    category = fields.String(allow_none=True)
    price = fields.Float(allow_none=True)


class RecommendationResponseSchema(Schema):
    customer_id = fields.String()
    items = fields.List(fields.Nested(RecommendedItemSchema))
    strategy = fields.String(metadata={"description": "personalised, or cold_start for a customer with no history"})
    model = fields.String()
    model_version = fields.String()


class SimilarQuerySchema(StrictSchema):
    k = fields.Integer(load_default=10, validate=validate.Range(min=1, max=100))


class SimilarResponseSchema(Schema):
    item_id = fields.String()
    items = fields.List(fields.Nested(RecommendedItemSchema))
    model = fields.String()
    model_version = fields.String()
