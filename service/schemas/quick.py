"""A quick load for the plain shape of a valid request body: what ``schema.load(data)`` returns, or None.

Why: marshmallow's load of a score request (five fields, a nested payment) costs about as much as the rest of the
view's Python: per field a getter closure, ``_call_and_store``, ``deserialize``, the validators through an
``And`` built anew, and a schema-level pass. For the bodies clients actually send (exact JSON types, no unknown
keys) most of that work has one outcome, so :func:`plain_loader` prepares it once per schema:

- a ``String`` whose value is a ``str`` is that value; a ``Float`` whose value is an ``int`` or ``float`` (not a
  bool) is ``float(value)``, refused if NaN or infinite unless ``allow_nan``; a ``Dict`` without key or value
  fields whose value is a ``dict`` is a copy of it; a ``Nested`` schema whose value is a ``dict`` is its own
  quick load;
- then the field's own validators, the same objects marshmallow calls, and the schema's ``validates_schema``
  methods, called as marshmallow calls them;
- keys come out in the schema's field order, as marshmallow builds them.

Anything else gives None: a missing required field, null, an unknown key, another type (a number sent as a
string, a timestamp, a field class not listed), a validator that refuses. The caller then runs ``schema.load``
itself, which gives the same answer or the usual errors, so the quick load never decides what is invalid and
never words an error. Schemas with pre/post-load hooks, per-field ``validates`` hooks, ``data_key`` or
``attribute`` renames, or an ``unknown`` other than RAISE get no quick load (None from :func:`plain_loader`).
tests/service/test_quick_load.py checks it against ``schema.load`` on valid and invalid bodies.
"""
from __future__ import annotations

import math
from typing import Any, Callable

from marshmallow import RAISE, Schema, ValidationError, fields
from marshmallow.decorators import POST_LOAD, PRE_LOAD, VALIDATES, VALIDATES_SCHEMA
from marshmallow.utils import missing
from marshmallow.validate import Validator

Loader = Callable[[Any], "dict | None"]

_FAIL = object()


def plain_loader(schema: Schema) -> Loader | None:
    """The quick load of ``schema`` (an instance), or None when the schema uses something it does not cover."""
    if schema.many or schema.partial or schema.unknown != RAISE:
        return None
    hooks = schema._hooks
    if hooks[PRE_LOAD] or hooks[POST_LOAD] or hooks[VALIDATES]:
        return None
    schema_validators = []
    for attr_name, hook_many, kwargs in hooks[VALIDATES_SCHEMA]:
        if hook_many:
            return None
        schema_validators.append((getattr(schema, attr_name), bool(kwargs.get("pass_original", False))))
    plan = []
    for name, field in schema.load_fields.items():
        if field.data_key is not None or field.attribute is not None or field.load_default is not missing:
            return None
        convert = _converter(field)
        validators = tuple((v, isinstance(v, Validator)) for v in field.validators)
        plan.append((name, field.required, convert, validators))
    known = frozenset(name for name, *_ in plan)

    def load(data: Any) -> dict | None:
        if type(data) is not dict or not known.issuperset(data):
            return None
        out = {}
        for name, required, convert, validators in plan:
            value = data.get(name, missing)
            if value is missing:
                if required:
                    return None
                continue
            if convert is None:
                return None
            value = convert(value)
            if value is _FAIL:
                return None
            for validator, is_validator in validators:
                try:
                    result = validator(value)
                except ValidationError:
                    return None
                if result is False and not is_validator:            # marshmallow: a plain function's False fails
                    return None
            out[name] = value
        for validator, pass_original in schema_validators:
            try:
                if pass_original:
                    validator(out, data, partial=None, many=False)
                else:
                    validator(out, partial=None, many=False)
            except ValidationError:
                return None
        return out

    return load


def _converter(field: fields.Field) -> Callable[[Any], Any] | None:
    """value → the field's deserialised value, or _FAIL; None for a field class the quick load does not cover."""
    kind = type(field)
    if field.allow_none:
        return None
    if kind is fields.String:
        return lambda value: value if type(value) is str else _FAIL
    if kind is fields.Float:
        allow_nan = field.allow_nan

        def to_float(value):
            if type(value) is not float and type(value) is not int:
                return _FAIL
            try:
                number = float(value)
            except OverflowError:                                   # a huge int: marshmallow's "too large"
                return _FAIL
            if not allow_nan and not math.isfinite(number):
                return _FAIL
            return number
        return to_float
    if kind is fields.Dict:
        if field.key_field is not None or field.value_field is not None:
            return None
        return lambda value: dict(value) if type(value) is dict else _FAIL
    if kind is fields.Nested:
        if field.many or field.only is not None or field.exclude or field.unknown not in (None, RAISE):
            return None
        nested = field.schema
        if not isinstance(nested, Schema):
            return None
        inner = plain_loader(nested)
        if inner is None:
            return None
        return lambda value: _FAIL if (loaded := inner(value)) is None else loaded
    return None
