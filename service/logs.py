"""Logging set-up: a request id on every line, and no card numbers, phones or e-mails in clear.

The filters sit on the handler, so they also cover log lines from libraries. Messages are formatted first and
then masked, which catches PII that arrives through ``%s`` arguments as well as in the format string.
"""
from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar

from flask import g, has_request_context

from features.text.pii import mask_pii

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"

#: The request id of a request answered outside Flask's request context (service.api.lane).
lane_request_id: ContextVar[str] = ContextVar("lane_request_id", default="-")


class RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = getattr(g, "request_id", "-") if has_request_context() else lane_request_id.get()
        return True


class PiiMaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_pii(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            payload["exc_info"] = mask_pii(self.formatException(record.exc_info))
        return json.dumps(payload, ensure_ascii=False)


def configure_logging(level: str = "INFO", as_json: bool = False) -> None:
    """Install one handler on the root logger (idempotent: a second call replaces it)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_kefu", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._kefu = True  # type: ignore[attr-defined]
    handler.addFilter(RequestContextFilter())
    handler.addFilter(PiiMaskingFilter())
    handler.setFormatter(JsonFormatter() if as_json else logging.Formatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
