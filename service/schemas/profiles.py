"""Wire contract of profile reads. The feature part is generated from the feature definitions (data), so the
OpenAPI document lists every profile field with its type and description and can never fall behind."""
from __future__ import annotations

from marshmallow import Schema, fields

from features.profiles.definitions import PROFILE_FEATURES

_FIELD_FOR_DTYPE = {
    "float": lambda d: fields.Float(allow_none=True, metadata={"description": d}),
    "int": lambda d: fields.Integer(allow_none=True, metadata={"description": d}),
    "str": lambda d: fields.String(allow_none=True, metadata={"description": d}),
    "json": lambda d: fields.Raw(allow_none=True, metadata={"description": d}),
    "vector": lambda d: fields.List(fields.Float(), allow_none=True, metadata={"description": d}),
}

ProfileFeaturesSchema = Schema.from_dict(
    {f.name: _FIELD_FOR_DTYPE[f.dtype](f.description) for f in PROFILE_FEATURES}, name="ProfileFeatures"
)


class CustomerSummarySchema(Schema):
    customer_id = fields.String()
    name = fields.String(allow_none=True)
    tier = fields.String(allow_none=True)
    age_band = fields.String(allow_none=True)
    region = fields.String(allow_none=True)
    language = fields.String(allow_none=True)
    signup_at = fields.DateTime(allow_none=True)


class ProfileResponseSchema(Schema):
    customer_id = fields.String()
    as_of = fields.DateTime(metadata={"description": "Windows count back from this time (the store's newest event)."})
    updated_at = fields.DateTime()
    segment = fields.String(allow_none=True)
    customer = fields.Nested(CustomerSummarySchema)
    features = fields.Nested(ProfileFeaturesSchema)


class FeatureDefinitionSchema(Schema):
    name = fields.String()
    dtype = fields.String()
    group = fields.String()
    description = fields.String()


class FeatureListResponseSchema(Schema):
    features = fields.List(fields.Nested(FeatureDefinitionSchema))
