"""fast_json_view: the same answers and the same OpenAPI document as the decorators it short-cuts."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from flask import Flask, jsonify
from flask_smorest import Blueprint
from marshmallow import fields, validate

from service.api.fastview import fast_json_view
from service.auth import Principal, require_scope
from service.errors import KefuApi, register_error_handlers
from service.schemas.events import StrictSchema

KEYS = {"good": Principal("k1", "test", frozenset({"risk"})), "other": Principal("k2", "test", frozenset({"chat"}))}


class PartSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=10))


class ThingSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=10))
    count = fields.Integer(load_default=1, validate=validate.Range(min=1))
    nested = fields.Nested(PartSchema, allow_none=True)


class ThingResponseSchema(StrictSchema):
    name = fields.String()
    count = fields.Integer()
    owner = fields.String()


THING = ThingSchema()


def _views(blp: Blueprint, fast: bool) -> None:
    wrap = fast_json_view if fast else (lambda f: f)

    @blp.route("/things/<string:owner>", methods=["POST"])
    @wrap
    @require_scope("risk")
    @blp.arguments(THING)
    @blp.response(200, ThingResponseSchema)
    @blp.alt_response(404, description="no such owner")
    def make_thing(body: dict, owner: str):
        """Make a thing

        The longer description.
        """
        if owner == "nobody":
            from features.errors import NotFound

            raise NotFound("no such owner")
        return jsonify({"name": body["name"], "count": body["count"], "owner": owner})


@pytest.fixture
def twins():
    app = Flask(__name__)
    app.config.update(API_TITLE="t", API_VERSION="1", OPENAPI_VERSION="3.0.3")
    verifier = SimpleNamespace(verify=lambda key: KEYS.get(key))
    app.extensions["kefu"] = SimpleNamespace(verifier=verifier)

    @app.before_request
    def _rid():
        from flask import g

        g.request_id = "rid"

    register_error_handlers(app)
    api = KefuApi(app)
    fast, plain = Blueprint("fast", __name__, url_prefix="/fast"), Blueprint("plain", __name__, url_prefix="/plain")
    _views(fast, True)
    _views(plain, False)
    api.register_blueprint(fast)
    api.register_blueprint(plain)
    app.extensions["test_api"] = api
    return app


REQUESTS = [
    {"json": {"name": "a"}},
    {"json": {"name": "a", "count": 3, "nested": {"name": "b"}}},
    {"json": {"name": "a", "colour": "red"}},                        # unknown field
    {"json": {"count": 2}},                                          # missing field
    {"json": {"name": 5, "count": "x"}},                             # wrong types
    {"json": {"name": "a", "nested": {"name": ""}}},                 # nested validation
    {"json": None},
    {"json": []},
    {"json": "text"},
    {"data": "{oops", "content_type": "application/json"},           # malformed
    {"data": b"\xff\xfe{}", "content_type": "application/json"},     # not UTF-8
    {"data": '{"name": "a", "count": NaN}', "content_type": "application/json"},
    {"data": '{"name": "a"}', "content_type": "text/plain"},         # not JSON: webargs reads no body
    {"data": '{"name": "a"}', "content_type": "application/vnd.kefu+json"},
    {"data": "", "content_type": "application/json"},
    {"json": {"name": "a"}, "owner": "nobody"},                      # the view's own error
    {"json": {"name": "a"}, "key": None},
    {"json": {"name": "a"}, "key": "bad"},
    {"json": {"name": "a"}, "key": "other"},
]


@pytest.mark.parametrize("request_kwargs", REQUESTS)
def test_the_fast_view_answers_exactly_as_the_decorators(twins, request_kwargs):
    kwargs = dict(request_kwargs)
    owner, key = kwargs.pop("owner", "o1"), kwargs.pop("key", "good")
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    client = twins.test_client()
    fast = client.post(f"/fast/things/{owner}", headers=headers, **kwargs)
    plain = client.post(f"/plain/things/{owner}", headers=headers, **kwargs)
    assert (fast.status_code, fast.get_json(), dict(fast.headers)) == (plain.status_code, plain.get_json(),
                                                                      dict(plain.headers))


def test_the_openapi_document_is_the_same(twins):
    spec = twins.extensions["test_api"].spec.to_dict()
    fast, plain = spec["paths"]["/fast/things/{owner}"]["post"], spec["paths"]["/plain/things/{owner}"]["post"]
    fast.pop("tags"), plain.pop("tags")
    assert fast == plain
    assert fast["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/Thing")
    assert {"200", "401", "403", "404", "422"} <= set(fast["responses"])
    assert fast["security"] == [{"bearerAuth": ["risk"]}] and fast["summary"] == "Make a thing"


def test_it_refuses_what_it_would_silently_skip():
    blp = Blueprint("refuse", __name__)
    with pytest.raises(TypeError, match="require_scope"):
        fast_json_view(blp.arguments(THING)(lambda body: body))
    with pytest.raises(TypeError, match="schema instance"):
        fast_json_view(require_scope("risk")(blp.arguments(ThingSchema)(lambda body: body)))
    with pytest.raises(TypeError, match="cannot skip"):
        fast_json_view(require_scope("risk")(blp.etag(blp.arguments(THING)(lambda body: body))))


def test_a_view_must_return_a_response(twins):
    blp = Blueprint("dicts", __name__)

    @blp.route("/d", methods=["POST"])
    @fast_json_view
    @require_scope("risk")
    @blp.arguments(THING)
    def returns_a_dict(body):
        return body

    app = Flask(__name__)
    app.testing = True                                   # the TypeError reaches the test instead of a 500
    app.extensions["kefu"] = twins.extensions["kefu"]
    app.register_blueprint(blp)
    with pytest.raises(TypeError, match="must return a response"):
        app.test_client().post("/d", json={"name": "a"}, headers={"Authorization": "Bearer good"})
