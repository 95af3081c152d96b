"""features.fastjson: orjson's text where it takes the value, None (the caller's encoder) where it does not."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from features import fastjson

pytest.importorskip("orjson")


def test_same_values_as_the_standard_library():
    value = {"score": 0.12345678901234566, "tiny": 1e-05, "big": 1e16, "neg": -0.0, "n": 3, "s": "é",
             "none": None, "list": [1.5, {"a": True}]}
    assert json.loads(fastjson.dumps(value)) == value
    assert list(json.loads(fastjson.dumps(value))) == list(value)        # key order kept


def test_nan_is_null_not_a_bare_token():
    assert json.loads(fastjson.dumps({"x": math.nan})) == {"x": None}


@pytest.mark.parametrize("value", [{"x": np.float32(1.5)}, {"x": 2**70}, {1: "a"}])
def test_values_orjson_refuses_go_to_the_callers_encoder(value):
    assert fastjson.dumps(value) is None


def test_without_orjson_every_value_goes_to_the_callers_encoder(monkeypatch):
    monkeypatch.setattr(fastjson, "orjson", None)
    assert fastjson.dumps({"x": 1}) is None
