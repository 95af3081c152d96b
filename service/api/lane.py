"""A WSGI lane in front of Flask for the hottest JSON endpoints: a plainly valid, authorised request is answered
without Flask's per-request machinery; anything else goes to Flask unchanged.

What it saves: Flask builds a request object, pushes an app and a request context, matches the URL against every
route, runs the before/after hooks, builds a response object and turns its headers into a WSGI list, then pops
both contexts. For a risk score that is about as much CPU as everything a hello-world endpoint does, and a
third of a table score's own work (docs/benchmarks.md, risk speed). The lane does only what the answer needs.

What it does for a POST to one of its paths:

1. the body: ``application/json``, a Content-Length within KEFU_MAX_REQUEST_BYTES, read whole;
2. the key: ``Authorization: Bearer <key>``, checked by the app's KeyVerifier (the same cache), with the scope;
3. validation: the route's marshmallow schema, through the same quick load and ``schema.load`` that
   :func:`service.api.fastview.fast_json_view` uses (:func:`service.api.fastview.load_json`);
4. the handler, with the request id (the X-Request-ID header if usable, else a new one, as the app's hook does);
5. the answer: 200, ``application/json``, the X-Request-ID header: the status, headers and body Flask gives.

Whenever one of these is not plainly fine (another content type, no or a bad key, a body that fails the quick
load and ``schema.load``, a domain error such as an unknown model, any exception), the request goes to Flask
with its body as read, and Flask's views, which do the same work, give the usual answer: the 401/403/413/422/404
envelopes are Flask's own, never the lane's. A handler fails before it stores anything (the scorer checks
everything before the audit row), so running the request again through Flask changes nothing.

KEFU_FAST_LANE=0 turns it off. tests/service/test_lane.py checks that both give the same answers.
"""
from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from marshmallow import Schema

from features import fastjson
from service.api.fastview import load_json
from service.auth import bearer_key
from service.ids import request_id_for
from service.logs import lane_request_id
from service.metrics import ROUTE_KEY
from service.schemas.quick import plain_loader

log = logging.getLogger(__name__)

Handler = Callable[[dict, str], dict]


@dataclass(frozen=True)
class LaneRoute:
    """POST ``path`` needs ``scope``; its body loads with ``schema``; ``handle(body, request_id)`` returns the
    answer's JSON value (the documented response shape)."""

    path: str
    scope: str
    schema: Schema
    handle: Handler


class FastLane:
    """WSGI middleware: ``app.wsgi_app = FastLane(app, verifier, routes, max_bytes)``."""

    def __init__(self, app, verifier, routes: Iterable[LaneRoute], max_bytes: int) -> None:
        self.app = app
        self.flask = app.wsgi_app
        self.verifier = verifier
        self.max_bytes = max_bytes
        self.routes = {r.path: (r, plain_loader(r.schema)) for r in routes}

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        if environ.get("REQUEST_METHOD") == "POST":
            found = self.routes.get(environ.get("PATH_INFO", ""))
            if found is not None:
                environ[ROUTE_KEY] = found[0].path
                answer = self._answer(environ, *found)
                if answer is not None:
                    start_response("200 OK", answer[0])
                    return [answer[1]]
        return self.flask(environ, start_response)

    def _answer(self, environ: dict, route: LaneRoute, quick) -> tuple[list, bytes] | None:
        """(headers, body) of the 200 answer, or None for Flask to answer (the body put back for it to read)."""
        started = time.perf_counter()
        if environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() != "application/json":
            return None
        try:
            length = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            return None
        if not 0 < length <= self.max_bytes:
            return None
        raw = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(raw)          # for Flask, should it answer after all
        if len(raw) != length:
            return None
        key = bearer_key(environ.get("HTTP_AUTHORIZATION", ""))
        principal = self.verifier.verify(key) if key else None
        if principal is None or not principal.allows(route.scope):
            return None
        body = load_json(route.schema, quick, raw)
        if body is None:
            return None
        request_id = request_id_for(environ.get("HTTP_X_REQUEST_ID", ""))
        token = lane_request_id.set(request_id)
        try:
            result = route.handle(body, request_id)
        except Exception:                                # noqa: BLE001 - Flask answers it, as it would have
            return None
        finally:
            lane_request_id.reset(token)
        out = fastjson.dumps(result)
        out = (out + b"\n") if out is not None else self.app.json.response(result).get_data()   # Flask's own text
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(out))), ("X-Request-ID", request_id)]
        if log.isEnabledFor(logging.INFO):
            log.info("POST %s 200 %.1fms (lane)", route.path, (time.perf_counter() - started) * 1000)
        return headers, out


def install(app, verifier, routes: Iterable[LaneRoute], max_bytes: int) -> FastLane:
    lane = FastLane(app, verifier, routes, max_bytes)
    app.wsgi_app = lane
    return lane
