"""service.schemas.quick: the quick load gives exactly what schema.load gives, or declines (None)."""
from __future__ import annotations

import math

import pytest
from marshmallow import Schema, ValidationError, fields, post_load, validates

from service.schemas.events import StrictSchema
from service.schemas.quick import plain_loader
from service.schemas.risk import RiskBatchRequestSchema, RiskScoreRequestSchema

FEATURES = {"LIMIT_BAL": 20000.0, "SEX": 2, "EDUCATION": "x", "AGE": None, "PAY_0": -1.5, "FLAG": True}
PAYMENT = {"amount": 20.5, "device_id": "d-1", "ip": "203.0.113.5", "country": "PT"}

PLAIN = [
    {"model": "taiwan", "features": FEATURES},
    {"model": "taiwan", "features": FEATURES, "customer_id": "c00001", "transaction_id": "t-1"},
    {"customer_id": "c1", "features": {}, "model": "m.v-2_x"},
    {"model": "transactions", "customer_id": "c00001", "transaction": PAYMENT},
    {"model": "transactions", "customer_id": "c1", "transaction": {"amount": 0, "ip": "::1", "currency": "EUR"}},
    {"model": "transactions", "customer_id": "c1", "transaction": {"amount": 1e9, "transaction_id": "t"}},
    {"model": "abc\n", "features": {}},                      # Regexp's $ accepts a final newline: so must this
]

DECLINED_OR_INVALID = [
    None, [], "x", 3, {},
    {"model": "taiwan"},
    {"model": "taiwan", "features": FEATURES, "extra": 1},
    {"model": "Taiwan", "features": FEATURES},
    {"model": "", "features": FEATURES},
    {"model": None, "features": FEATURES},
    {"model": 5, "features": FEATURES},
    {"model": "taiwan", "features": [1, 2]},
    {"model": "taiwan", "features": {"a": [1]}},
    {"model": "taiwan", "features": {"a": {"b": 1}}},
    {"model": "taiwan", "features": {"a": "x" * 1001}},
    {"model": "taiwan", "features": {f"f{i}": 1 for i in range(501)}},
    {"model": "taiwan", "features": FEATURES, "customer_id": ""},
    {"model": "taiwan", "features": FEATURES, "customer_id": "c" * 129},
    {"model": "taiwan", "features": FEATURES, "customer_id": None},
    {"model": "taiwan", "features": FEATURES, "customer_id": 7},
    {"model": "taiwan", "features": FEATURES, "transaction": PAYMENT, "customer_id": "c"},
    {"model": "transactions", "transaction": PAYMENT},
    {"model": "transactions", "customer_id": "c", "transaction": {**PAYMENT, "amount": "20.5"}},
    {"model": "transactions", "customer_id": "c", "transaction": {**PAYMENT, "amount": True}},
    {"model": "transactions", "customer_id": "c", "transaction": {**PAYMENT, "amount": -1}},
    {"model": "transactions", "customer_id": "c", "transaction": {**PAYMENT, "amount": 1e9 + 1}},
    {"model": "transactions", "customer_id": "c", "transaction": {**PAYMENT, "amount": math.nan}},
    {"model": "transactions", "customer_id": "c", "transaction": {**PAYMENT, "amount": math.inf}},
    {"model": "transactions", "customer_id": "c", "transaction": {**PAYMENT, "amount": 10**400}},
    {"model": "transactions", "customer_id": "c", "transaction": {**PAYMENT, "ip": "1.2.3"}},
    {"model": "transactions", "customer_id": "c", "transaction": {**PAYMENT, "ip": "01.2.3.4"}},
    {"model": "transactions", "customer_id": "c", "transaction": {**PAYMENT, "country": "pt"}},
    {"model": "transactions", "customer_id": "c", "transaction": {**PAYMENT, "currency": "EURO"}},
    {"model": "transactions", "customer_id": "c", "transaction": {**PAYMENT, "device_id": ""}},
    {"model": "transactions", "customer_id": "c", "transaction": {**PAYMENT, "timestamp": "2024-01-02T03:04:05Z"}},
    {"model": "transactions", "customer_id": "c", "transaction": {**PAYMENT, "timestamp": "2024-01-02T03:04:05"}},
    {"model": "transactions", "customer_id": "c", "transaction": {**PAYMENT, "nope": 1}},
    {"model": "transactions", "customer_id": "c", "transaction": {"device_id": "d"}},
    {"model": "transactions", "customer_id": "c", "transaction": None},
    {"model": "transactions", "customer_id": "c", "transaction": [PAYMENT]},
]


def _load(schema: Schema, data):
    try:
        return schema.load(data)
    except ValidationError as exc:
        return exc


def _same(quick, loaded) -> None:
    """Equal values and the same key order, nested dicts included."""
    assert quick == loaded
    assert list(quick) == list(loaded)
    for key, value in quick.items():
        if isinstance(value, dict):
            _same(value, loaded[key])


@pytest.mark.parametrize("data", PLAIN)
def test_plain_bodies_take_the_quick_load_and_equal_marshmallow(data):
    schema = RiskScoreRequestSchema()
    quick = plain_loader(schema)(data)
    assert quick is not None
    _same(quick, schema.load(data))


@pytest.mark.parametrize("data", DECLINED_OR_INVALID)
def test_other_bodies_decline_or_equal_marshmallow(data):
    schema = RiskScoreRequestSchema()
    quick = plain_loader(schema)(data)
    loaded = _load(schema, data)
    if isinstance(loaded, ValidationError):
        assert quick is None                    # only marshmallow words errors
    elif quick is not None:
        _same(quick, loaded)


def test_the_quick_load_returns_new_dicts():
    data = {"model": "taiwan", "features": dict(FEATURES)}
    quick = plain_loader(RiskScoreRequestSchema())(data)
    assert quick["features"] == data["features"] and quick["features"] is not data["features"]


def test_batch_bodies_decline_list_fields():
    schema = RiskBatchRequestSchema()
    assert plain_loader(schema)({"model": "taiwan", "cases": [{"features": {}}]}) is None


def test_recommendation_requests_decline_or_equal_marshmallow():
    from service.api.recommendations import RECOMMEND_REQUEST as schema

    loader = plain_loader(schema)
    if loader is None:
        return
    for data in ({"customer_id": "c00001"}, {"customer_id": "c1", "k": 5}, {"customer_id": ""}, {"k": 3},
                 {"customer_id": "c1", "nope": 1}, {"customer_id": "c1", "k": "5"}):
        quick, loaded = loader(data), _load(schema, data)
        if isinstance(loaded, ValidationError):
            assert quick is None
        elif quick is not None:
            _same(quick, loaded)


class _Hooked(StrictSchema):
    name = fields.String(required=True)

    @post_load
    def _wrap(self, data, **_kwargs):
        return {"wrapped": data}


class _FieldHook(StrictSchema):
    name = fields.String(required=True)

    @validates("name")
    def _check(self, value, **_kwargs):
        if value == "x":
            raise ValidationError("no")


class _Loose(Schema):                            # unknown = RAISE is marshmallow's default too
    name = fields.String(required=True, data_key="Name")


class _Defaults(StrictSchema):
    count = fields.Integer(load_default=1)


@pytest.mark.parametrize("schema", [_Hooked(), _FieldHook(), _Loose(), RiskScoreRequestSchema(many=True)])
def test_schemas_with_hooks_renames_or_many_get_no_quick_load(schema):
    assert plain_loader(schema) is None


def test_unsupported_fields_decline_only_when_present():
    loader = plain_loader(_Defaults())
    assert loader is None or loader({}) == _Defaults().load({})
