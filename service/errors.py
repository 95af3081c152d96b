"""The one JSON error envelope, and the handlers that make every error path use it.

``{"code": 422, "status": "Unprocessable Entity", "message": "...", "errors": {...}, "request_id": "..."}``
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, g, jsonify
from flask_smorest import Api
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.http import HTTP_STATUS_CODES

from features.errors import Conflict, InvalidInput, KefuError, NotFound, NotReady

log = logging.getLogger(__name__)

#: Domain error → HTTP status. The only place this mapping exists.
#: Checked in order: an error that is both (a model known but not loaded) answers with the first match.
DOMAIN_STATUS: dict[type[KefuError], int] = {
    NotReady: 503,
    NotFound: 404,
    InvalidInput: 422,
    Conflict: 409,
}

DEFAULT_MESSAGES = {
    400: "The request body is not valid JSON or is malformed.",
    401: "Missing or invalid API key. Send 'Authorization: Bearer <key>'.",
    403: "This API key lacks the scope this endpoint needs.",
    404: "Not found.",
    405: "Method not allowed on this URL.",
    413: "The request is too large.",
    415: "Send the body as application/json.",
    422: "The request body failed validation; see 'errors'.",
    500: "Internal error; it has been logged with the request id.",
    503: "Not ready yet.",
}


def error_response(code: int, message: str | None = None, errors: Any = None, headers: dict | None = None):
    body: dict[str, Any] = {
        "code": code,
        "status": HTTP_STATUS_CODES.get(code, "Error"),
        "message": message or DEFAULT_MESSAGES.get(code, HTTP_STATUS_CODES.get(code, "Error")),
        "request_id": getattr(g, "request_id", None),
    }
    if errors is not None:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = code
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


class KefuApi(Api):
    """flask-smorest's Api, with its error handler routed through :func:`error_response`."""

    def handle_http_exception(self, error: HTTPException):
        data = getattr(error, "data", None) or {}
        errors = data.get("errors", data.get("messages"))
        message = data.get("message")
        if errors is not None and error.code == 422 and not message:
            message = DEFAULT_MESSAGES[422]
        if message is None and error.description and error.description != type(error).description:
            message = error.description
        if error.code == 400 and errors is not None and message is None:
            message = DEFAULT_MESSAGES[400]
        if isinstance(error, InternalServerError):
            original = getattr(error, "original_exception", None)
            if original is not None:
                log.exception("unhandled error", exc_info=original)
            message = DEFAULT_MESSAGES[500]
        headers = data.get("headers") or {}
        if error.code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            headers["Allow"] = ", ".join(error.valid_methods)
        return error_response(error.code or 500, message, errors, headers)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(KefuError)
    def _domain_error(exc: KefuError):
        code = next((c for t, c in DOMAIN_STATUS.items() if isinstance(exc, t)), 500)
        return error_response(code, exc.message, exc.errors)
