"""One call instead of a stack of wrappers, for the hottest JSON endpoints; documented exactly as before.

A view written the usual way::

    @blp.route("/risk/scores", methods=["POST"])
    @fast_json_view
    @require_scope("risk")
    @blp.arguments(SCORE_REQUEST)
    @blp.response(200, SCORE_RESPONSE)
    def score(body): ...

keeps every decorator below ``fast_json_view`` for what they declare (security, request and response schemas,
error codes: the OpenAPI document is built from them), but at run time the request skips their wrappers: one
function checks the key (:func:`service.auth.authorize`), loads the JSON body with the view's schema instance
and calls the view. The wrappers cost about as much as the validation itself (webargs' location handling and
five layers that each look up the app to call ``ensure_sync``: ~100k instructions, 4 % of a table score).

The body is loaded by the schema's quick load (:mod:`service.schemas.quick`: the plain shape of a valid body,
checked by the same validators, without marshmallow's per-field machinery) or, when that declines, by
``schema.load``.

Nothing about the answers changes. A body the quick load refuses (not JSON, malformed, failing the schema) is
parsed again by the same webargs parser ``blp.arguments`` uses, which raises the usual 400/422 with its messages
(``errors: {"json": {...}}``) for the one error envelope. The view must return a response object (it does not get
flask-smorest's dump of a returned dict).
"""
from __future__ import annotations

import inspect
import json
from functools import wraps
from pathlib import Path
from typing import Callable

from flask import Response, request
from marshmallow import Schema, ValidationError

from service.api.blueprint import Blueprint
from service.auth import authorize
from service.schemas.quick import plain_loader

_PARSER = Blueprint.ARGUMENTS_PARSER


def fast_json_view(decorated: Callable) -> Callable:
    """Run ``decorated`` (require_scope over blp.arguments(<schema instance>) over the view) as one call."""
    scope = getattr(decorated, "_kefu_scope", None)
    if scope is None:
        raise TypeError(f"{decorated.__name__}: fast_json_view goes above require_scope(...)")
    parameters = decorated._apidoc.get("arguments", {}).get("parameters", [])  # type: ignore[attr-defined]
    if len(parameters) != 1 or parameters[0]["in"] != "json" or not isinstance(parameters[0]["schema"], Schema):
        raise TypeError(f"{decorated.__name__}: fast_json_view needs one blp.arguments(<schema instance>) in json")
    schema: Schema = parameters[0]["schema"]
    quick = plain_loader(schema)
    view = inspect.unwrap(decorated, stop=_check_layer)

    @wraps(decorated)
    def fast(*args, **kwargs):
        denied = authorize(scope)
        if denied is not None:
            return denied
        body = _quick_load(schema, quick)
        if body is None:                       # webargs' own parse: its 400/422 (or, rarely, the body after all)
            body = _PARSER.parse(schema, location="json")
        result = view(body, *args, **kwargs)
        if not isinstance(result, Response):
            raise TypeError(f"{view.__name__} must return a response under fast_json_view, not {type(result).__name__}")
        return result

    return fast


#: The wrappers that may be skipped: the ones whose run-time work fast() does itself (auth, webargs) or that pass
#: a returned response through untouched (flask-smorest's arguments, response, alt_response and doc). Anything
#: else (etag, pagination, a decorator of our own) would be silently skipped, so it is refused.
_SKIPPABLE = {("service", "auth.py"), ("flask_smorest", "arguments.py"), ("flask_smorest", "response.py"),
              ("flask_smorest", "blueprint.py"), ("webargs", "core.py")}


def _check_layer(func: Callable) -> bool:
    """inspect.unwrap's stop test, used to vet each wrapper on the way down; never stops early."""
    if hasattr(func, "__wrapped__"):
        path = Path(func.__code__.co_filename)
        if (path.parent.name, path.name) not in _SKIPPABLE:
            raise TypeError(f"fast_json_view cannot skip the wrapper from {path} around {func.__name__}")
    return False


def _quick_load(schema: Schema, quick):
    """What webargs' json location gives for a valid ``application/json`` body; None for anything else."""
    if request.mimetype != "application/json":
        return None
    return load_json(schema, quick, request.get_data(cache=True))


def load_json(schema: Schema, quick, raw: bytes):
    """The loaded body of JSON text ``raw`` when it is valid for ``schema`` (through its quick load when that
    covers it, else ``schema.load``); None for anything else: bad UTF-8, not JSON, invalid fields."""
    try:
        data = json.loads(raw.decode("utf-8"))
        if quick is not None:
            loaded = quick(data)
            if loaded is not None:
                return loaded
        # webargs loads a json body with the schema's own ``unknown`` setting (RAISE for every StrictSchema)
        return schema.load(data)
    except (ValueError, ValidationError):      # bad UTF-8 or JSON (ValueErrors), or invalid fields
        return None
