"""Wire contract of recommendations."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from features.storage.recommend_log import CHANNELS
from service.pipelines.promotions import DEFAULT_SHARE
from service.schemas.events import ID, StrictSchema

PROMOTION_NAME = validate.Length(min=1, max=64)


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
    items = fields.List(fields.String(validate=ID), validate=validate.Length(max=20), metadata={
        "description": "Up to 20 items the visitor looked at in this session (or has in the cart), most recent "
                       "first: like the page's item, never recommended back, and what goes with them is moved "
                       "up. For an unknown customer (an anonymous visitor) this turns the cold start into "
                       "recommendations for the session."})


class PromotedSchema(StrictSchema):
    """What a promotion promotes and how many places it keeps: a request's promotion and a scheduled one alike."""

    items = fields.List(fields.String(validate=ID), validate=validate.Length(max=500), metadata={
        "description": "Promoted items: ranked for this customer as candidates even when no source proposes them."})
    categories = fields.List(fields.String(validate=validate.Length(max=128)), validate=validate.Length(max=50),
                             metadata={"description": "Promoted categories: their items among the candidates."})
    share = fields.Float(load_default=DEFAULT_SHARE, validate=validate.Range(min=0, max=1, min_inclusive=False), metadata={
        "description": "Share of the k slots kept for promoted items (at least one): round(k × share)."})

    @validates_schema
    def _something(self, data: dict, **_kwargs) -> None:
        if not data.get("items") and not data.get("categories"):
            raise ValidationError("A promotion names items, categories or both.", "items")


class PromotionSchema(PromotedSchema):
    name = fields.String(required=True, validate=PROMOTION_NAME, metadata={
        "description": "What the customer reads in the reason of an item shown for the promotion: 'featured in "
                       "<name>'."})


class SegmentSchema(StrictSchema):
    age_band = fields.String(validate=validate.Length(max=32))
    region = fields.String(validate=validate.Length(max=64))


class RecommendationRequestSchema(StrictSchema):
    customer_id = fields.String(required=True, validate=ID)
    k = fields.Integer(load_default=10, validate=validate.Range(min=1, max=100))
    filters = fields.Nested(FiltersSchema, load_default=dict)
    context = fields.Nested(ContextSchema, load_default=dict)
    segment = fields.Nested(SegmentSchema, metadata={"description": "For an unknown customer: popular for this segment."})
    promotion = fields.Nested(PromotionSchema, allow_none=True, metadata={
        "description": "Keep some slots for promoted items: the best of them for this customer by the ranker, after "
                       "every rule and filter; items in those slots are exempt from the per-category cap. Without "
                       "it, the scheduled promotion live on the api channel applies (PUT /v1/promotions/{name}); "
                       "null: no promotion at all."})


class RecommendedItemSchema(Schema):
    item_id = fields.String()
    name = fields.String(allow_none=True)
    score = fields.Float(metadata={"description": "Higher ranks first; the ranker's score, blended with the "
                                                  "repeat prior where items are re-bought. Not a probability."})
    reason = fields.String(metadata={"description": "Why, in words, e.g. 'often bought together with Green tea'."})
    source = fields.String(metadata={"description": "The candidate source that proposed the item; 'promotion' for "
                                                   "an item shown because the request promoted it."})
    category = fields.String(allow_none=True)
    price = fields.Float(allow_none=True)
    promoted = fields.Boolean(metadata={"description": "In the list's promotion (only when one applied)."})


class RecommendationResponseSchema(Schema):
    customer_id = fields.String()
    items = fields.List(fields.Nested(RecommendedItemSchema))
    strategy = fields.String(metadata={"description": "personalised, or cold_start for a customer with no history"})
    model = fields.String()
    model_version = fields.String()
    recommendation_id = fields.String(metadata={
        "description": "This list's id; GET /v1/recommendations/performance measures what customers did after "
                       "the lists they were shown."})
    promotion = fields.String(metadata={
        "description": "The promotion that kept places in this list (the request's or the scheduled one); absent "
                       "when none did."})


class SimilarQuerySchema(StrictSchema):
    k = fields.Integer(load_default=10, validate=validate.Range(min=1, max=100))


class SimilarResponseSchema(Schema):
    item_id = fields.String()
    items = fields.List(fields.Nested(RecommendedItemSchema))
    model = fields.String()
    model_version = fields.String()


class PopularQuerySchema(StrictSchema):
    k = fields.Integer(load_default=10, validate=validate.Range(min=1, max=100))
    category = fields.String(validate=validate.Length(min=1, max=128), metadata={
        "description": "Only this category's items (exactly: an unknown category gives none)."})
    region = fields.String(validate=validate.Length(min=1, max=64), metadata={
        "description": "What sells in this region (customers' region); an unknown one gets everyone's list."})
    age_band = fields.String(validate=validate.Length(min=1, max=32), metadata={
        "description": "What sells with this age band; an unknown one gets everyone's list."})

    @validates_schema
    def _one_segment(self, data: dict, **_kwargs) -> None:
        if data.get("region") is not None and data.get("age_band") is not None:
            raise ValidationError("Ask for a region or an age band, not both.", "age_band")


class PopularResponseSchema(Schema):
    items = fields.List(fields.Nested(RecommendedItemSchema))
    basis = fields.String(metadata={"description": "The list that answered: everyone, region or age_band."})
    category = fields.String(allow_none=True)
    as_of = fields.DateTime(metadata={"description": "The end of the popularity window: the model's training or "
                                                     "refresh data (kefu train recommender --refresh updates it)."})
    model = fields.String()
    model_version = fields.String()


class PerformanceQuerySchema(StrictSchema):
    days = fields.Integer(load_default=7, validate=validate.Range(min=1, max=366),
                          metadata={"description": "Lists served in the last this many days."})
    window_days = fields.Integer(load_default=7, validate=validate.Range(min=1, max=90),
                                 metadata={"description": "Events up to this many days after a list count for it."})
    channel = fields.String(validate=validate.OneOf(CHANNELS), metadata={
        "description": "Only the lists shown here: api (POST /v1/recommendations), chat (chat replies) or campaign "
                       "(`kefu recommend` files). Default: every channel."})
    challenger = fields.String(validate=validate.Length(min=1, max=64), metadata={
        "description": "A past challenger version to compare with the active one (default: the running one)."})
    promotion = fields.String(validate=PROMOTION_NAME, metadata={
        "description": "Only the lists that carried this promotion (a request's or a scheduled one)."})


class PerformanceGroupSchema(Schema):
    position = fields.Integer()
    source = fields.String()
    strategy = fields.String()
    model_version = fields.String()
    channel = fields.String()
    shown = fields.Integer()
    view_rate = fields.Float(allow_none=True)
    purchase_rate = fields.Float(allow_none=True)


class PromotionPerformanceSchema(Schema):
    promotion = fields.String()
    lists = fields.Integer(metadata={"description": "Lists that carried the promotion."})
    promoted_shown = fields.Integer(metadata={"description": "Promoted items shown in them."})
    promoted_view_rate = fields.Float(allow_none=True)
    promoted_purchase_rate = fields.Float(allow_none=True)
    other_shown = fields.Integer(metadata={"description": "The other items of the same lists."})
    other_view_rate = fields.Float(allow_none=True)
    other_purchase_rate = fields.Float(allow_none=True)


class SplitArmSchema(Schema):
    version = fields.String()
    customers = fields.Integer(metadata={"description": "Customers shown this version's lists during the test."})
    lists = fields.Integer()
    view_rate = fields.Float(allow_none=True, metadata={"description": "Share of the customers who viewed (or "
                                                                       "bought) a shown item."})
    purchase_rate = fields.Float(allow_none=True, metadata={"description": "Share of the customers who bought a "
                                                                           "shown item."})


class RateDifferenceSchema(Schema):
    estimate = fields.Float(metadata={"description": "The challenger's rate minus the champion's."})
    low = fields.Float()
    high = fields.Float()


class SplitTestSchema(Schema):
    champion = fields.String()
    challenger = fields.String()
    since = fields.DateTime(allow_none=True)
    arms = fields.List(fields.Nested(SplitArmSchema))
    purchase_rate_difference = fields.Nested(RateDifferenceSchema, allow_none=True)
    view_rate_difference = fields.Nested(RateDifferenceSchema, allow_none=True)
    verdict = fields.String(metadata={"description": "challenger_better or champion_better (the 95 % interval of the "
                                                     "purchase-rate difference excludes 0), no_clear_difference, "
                                                     "too_few_customers (under 50 in an arm)"})


class PerformanceResponseSchema(Schema):
    since = fields.DateTime()
    until = fields.DateTime()
    days = fields.Integer()
    window_days = fields.Integer()
    channel = fields.String(allow_none=True, metadata={"description": "The channel asked for; null: every channel."})
    promotion = fields.String(allow_none=True, metadata={
        "description": "The promotion asked for; null: every list."})
    truncated = fields.Boolean(metadata={"description": "True when more lists were served than were read "
                                                        "(the newest 50,000)."})
    lists = fields.Integer()
    customers = fields.Integer()
    items_shown = fields.Integer()
    view_rate = fields.Float(allow_none=True, metadata={"description": "Share of lists with a later view (or add "
                                                                       "to cart, or purchase) of a shown item."})
    purchase_rate = fields.Float(allow_none=True, metadata={"description": "Share of lists with a later purchase "
                                                                           "of a shown item."})
    item_view_rate = fields.Float(allow_none=True)
    item_purchase_rate = fields.Float(allow_none=True)
    recommended_purchase_share = fields.Float(allow_none=True, metadata={
        "description": "Of the reached customers' purchases within the window after their lists, the share that "
                       "were items they had been shown."})
    by_position = fields.List(fields.Nested(PerformanceGroupSchema))
    by_source = fields.List(fields.Nested(PerformanceGroupSchema))
    by_strategy = fields.List(fields.Nested(PerformanceGroupSchema))
    by_model_version = fields.List(fields.Nested(PerformanceGroupSchema))
    by_channel = fields.List(fields.Nested(PerformanceGroupSchema), metadata={
        "description": "Per channel where the lists were shown: api, chat, campaign (lists logged before channels "
                       "were recorded count as api)."})
    by_promotion = fields.List(fields.Nested(PromotionPerformanceSchema), metadata={
        "description": "Per promotion named in the requests: its items' view and purchase rates against the other "
                       "items of the same lists."})
    challenge = fields.Nested(SplitTestSchema, allow_none=True, metadata={
        "description": "The active version against its challenger in a split test, or null."})
