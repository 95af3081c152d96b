"""POST /v1/customers and /v1/items: upsert the customer list and the catalogue (all-or-nothing per batch)."""
from __future__ import annotations

from flask import current_app
from flask.views import MethodView

from features.ingest.events import to_naive_utc
from service.api.blueprint import Blueprint
from service.auth import require_scope
from service.schemas.events import CustomerBatchRequestSchema, ItemBatchRequestSchema, UpsertResponseSchema

blp = Blueprint("catalog", __name__, url_prefix="/v1", description="Customers and the product catalogue")


@blp.route("/customers")
class Customers(MethodView):
    @require_scope("events")
    @blp.arguments(CustomerBatchRequestSchema)
    @blp.response(200, UpsertResponseSchema)
    def post(self, batch: dict):
        """Create or update customers

        Fields left out keep their stored value. The whole batch is validated first; one invalid customer
        rejects the batch (422) and nothing is written.
        """
        rows = []
        for c in batch["customers"]:
            if c.get("signup_at") is not None:
                c["signup_at"] = to_naive_utc(c["signup_at"])
            rows.append(c)
        return {"upserted": current_app.extensions["kefu"].store.upsert_customers(rows)}


@blp.route("/items")
class Items(MethodView):
    @require_scope("events")
    @blp.arguments(ItemBatchRequestSchema)
    @blp.response(200, UpsertResponseSchema)
    def post(self, batch: dict):
        """Create or update catalogue items

        Fields left out keep their stored value; all-or-nothing per batch like customers.
        """
        state = current_app.extensions["kefu"]
        upserted = state.store.upsert_items(batch["items"])
        state.extras["profiles"].catalogue(fresh=True)  # this worker sees stock changes at once; others within a minute
        return {"upserted": upserted}
