"""GET /metrics: the Prometheus text format (service/metrics.py), outside /v1, for a key with the metrics scope."""
from __future__ import annotations

from flask import Blueprint, Response

from service.auth import require_scope
from service.metrics import scrape

blp = Blueprint("metrics", __name__)


@blp.get("/metrics")
@require_scope("metrics")
def metrics():
    """Request counts and durations per route, risk decisions, recommendation lists, chat replies, events."""
    body, content_type = scrape()
    return Response(body, content_type=content_type)
