"""POST /v1/events: a batch of behaviour events; good ones are stored even when others are rejected."""
from __future__ import annotations

import logging

from flask import current_app
from flask.views import MethodView
from marshmallow import ValidationError

from service.api.blueprint import Blueprint
from service.auth import require_scope
from service.errors import error_response
from service.metrics import events_received
from service.schemas.events import EventBatchRequestSchema, EventBatchResponseSchema, EventSchema

log = logging.getLogger(__name__)
blp = Blueprint("events", __name__, url_prefix="/v1", description="Behaviour events (views, purchases, payments, chat ...)")
_event_schema = EventSchema()


@blp.route("/events")
class Events(MethodView):
    @require_scope("events")
    @blp.arguments(EventBatchRequestSchema)
    @blp.response(202, EventBatchResponseSchema)
    @blp.alt_response(413, description="more events than KEFU_MAX_BATCH_EVENTS")
    def post(self, batch: dict):
        """Store a batch of events

        Each event is validated on its own: valid events are committed (durably, in one transaction) before
        the answer, invalid ones are listed in `rejected` with reasons. A repeated `event_id` is counted in
        `duplicates` and not stored twice. When no event is valid the answer is 422.
        """
        state = current_app.extensions["kefu"]
        raw = batch["events"]
        limit = state.settings.max_batch_events
        if len(raw) > limit:
            return error_response(413, f"A batch holds at most {limit} events; this one has {len(raw)}. Split it.")
        valid, rejected = [], []
        for index, item in enumerate(raw):
            try:
                valid.append(_event_schema.load(item))
            except ValidationError as exc:
                event_id = item.get("event_id") if isinstance(item, dict) else None
                event_id = event_id if isinstance(event_id, str) else None
                rejected.append({"index": index, "event_id": event_id, "errors": exc.normalized_messages()})
        if not valid:
            return error_response(
                422, "No event in the batch is valid; nothing was stored.",
                {"events": {str(r["index"]): r["errors"] for r in rejected}},
            )
        outcome = state.extras["ingestor"].ingest(valid)
        log.info("events batch: %d accepted, %d duplicates, %d rejected", outcome.accepted, outcome.duplicates, len(rejected))
        events_received(outcome.accepted, outcome.duplicates, len(rejected))
        return {
            "accepted": outcome.accepted,
            "duplicates": outcome.duplicates,
            "rejected": rejected,
            "profiles_updated": len(outcome.customers),
        }
