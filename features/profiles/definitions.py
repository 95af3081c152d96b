"""The customer-profile feature catalogue: every profile field, declared once, as data.

Training code, the bulk builder, the service and the API docs all read this tuple instead of keeping their
own lists, so a model can never be trained on columns the service does not compute (the same idea as a
Feast feature view). Names carry their unit or window (``spend_30d``, ``days_since_last_order``) so a
reader of a stored profile needs no other document to interpret a value.
"""
from __future__ import annotations

from dataclasses import dataclass

DTYPES = frozenset({"float", "int", "str", "json", "vector"})
GROUPS = frozenset({"rfm", "windows", "affinity", "risk", "text", "segment"})
#: Windows (days) of the spend/order-count features.
SPEND_WINDOWS_DAYS: tuple[int, ...] = (7, 30, 90)


@dataclass(frozen=True)
class FeatureDefinition:
    """One profile field. ``dtype`` tells consumers how to store and serialise it:
    float/int are model inputs, str a label, json a dict or list, vector a float array (or None)."""

    name: str
    dtype: str
    description: str
    group: str

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"{self.name}: unknown dtype {self.dtype!r}")
        if self.group not in GROUPS:
            raise ValueError(f"{self.name}: unknown group {self.group!r}")


def _f(name: str, dtype: str, group: str, description: str) -> FeatureDefinition:
    return FeatureDefinition(name=name, dtype=dtype, description=description, group=group)


_WINDOW_FEATURES = tuple(
    f
    for days in SPEND_WINDOWS_DAYS
    for f in (
        _f(f"spend_{days}d", "float", "windows", f"Purchase amount in the last {days} days."),
        _f(f"orders_{days}d", "int", "windows", f"Distinct orders placed in the last {days} days."),
    )
)

PROFILE_FEATURES: tuple[FeatureDefinition, ...] = (
    # --- recency / frequency / monetary
    _f("days_since_last_order", "float", "rfm", "Days from the last purchase to as_of; NaN without orders."),
    _f("days_since_last_event", "float", "rfm", "Days from the last event of any type to as_of; NaN without events."),
    _f("orders_total", "int", "rfm", "Distinct orders ever placed."),
    _f("spend_total", "float", "rfm", "Total purchase amount."),
    _f("avg_order_value", "float", "rfm", "spend_total / orders_total; NaN without orders."),
    _f("tenure_days", "float", "rfm", "Days since signup_at (else since the first event); NaN if neither is known."),
    # --- windows
    *_WINDOW_FEATURES,
    _f("views_30d", "int", "windows", "Item views in the last 30 days."),
    _f("cart_adds_30d", "int", "windows", "Add-to-cart events in the last 30 days."),
    # --- affinity
    _f("view_to_purchase_rate", "float", "affinity",
       "Share of distinct viewed items bought at or after their first view; NaN without views."),
    _f("distinct_items_purchased", "int", "affinity", "Distinct items ever purchased."),
    _f("repeat_purchase_rate", "float", "affinity",
       "Share of purchase lines whose item the customer had bought earlier; NaN without purchases."),
    _f("category_affinity", "json", "affinity",
       "Top 5 categories -> share of categorised purchase spend (sums to 1 with at most 5 categories)."),
    _f("top_category", "str", "affinity", "Category with the largest purchase spend; None without one."),
    _f("price_band", "str", "affinity",
       "budget/mid/premium: median within-category catalogue percentile of purchased unit prices "
       "(below the lower tercile / above the upper tercile / between)."),
    _f("avg_unit_price", "float", "affinity", "Purchase spend / units bought; NaN without purchases."),
    # --- risk
    _f("refund_rate", "float", "risk", "Refunded amount / spend_total; NaN without spend."),
    _f("refunds_90d", "int", "risk", "Refund events in the last 90 days."),
    _f("distinct_devices_90d", "int", "risk", "Distinct device_id values on events in the last 90 days."),
    _f("distinct_ips_90d", "int", "risk", "Distinct IP addresses on events in the last 90 days."),
    _f("distinct_countries_90d", "int", "risk", "Distinct countries on events in the last 90 days."),
    _f("payments_24h", "int", "risk", "Payment attempts in the last 24 hours (as_of included)."),
    _f("payments_7d", "int", "risk", "Payment attempts in the last 7 days."),
    _f("declined_payments_7d", "int", "risk", "Declined payment attempts in the last 7 days."),
    _f("max_payment_90d", "float", "risk", "Largest payment attempt in the last 90 days; NaN without one."),
    _f("avg_payment_90d", "float", "risk", "Mean payment attempt in the last 90 days; NaN without one."),
    _f("failed_logins_7d", "int", "risk", "Failed logins in the last 7 days."),
    # --- support chat
    _f("chat_messages_total", "int", "text", "Chat messages sent by the customer."),
    _f("chat_embedding", "vector", "text", "L2-normalised mean of message embeddings; None without messages."),
    _f("sentiment_trend", "float", "text",
       "Mean sentiment of the last 5 scored messages minus the mean of the earlier ones; NaN if either is empty."),
    _f("recent_intents", "json", "text", "Last 5 known intents, oldest first."),
    # --- segment (assigned by segments.Segmenter after the build)
    _f("segment", "str", "segment", "Readable segment label."),
    _f("segment_id", "int", "segment", "Segment id; 0 is 'prospects' (no orders)."),
)

FEATURES_BY_NAME: dict[str, FeatureDefinition] = {f.name: f for f in PROFILE_FEATURES}
#: Fields the segmenter adds; ``build_profiles`` returns every other feature.
SEGMENT_FEATURES: tuple[str, ...] = tuple(f.name for f in PROFILE_FEATURES if f.group == "segment")
#: Columns ``build_profiles`` returns (besides ``as_of``), in catalogue order.
BUILT_FEATURES: tuple[str, ...] = tuple(f.name for f in PROFILE_FEATURES if f.group != "segment")

if len(FEATURES_BY_NAME) != len(PROFILE_FEATURES):
    raise ValueError("duplicate feature name in PROFILE_FEATURES")


def numeric_feature_names(include_segment: bool = False) -> list[str]:
    """Float/int feature names in catalogue order: the column list models train and score on.

    ``segment_id`` is left out by default because it is a categorical code assigned after the build;
    a model that feeds ``build_profiles`` output straight in would otherwise miss a column.
    """
    return [
        f.name for f in PROFILE_FEATURES
        if f.dtype in ("float", "int") and (include_segment or f.group != "segment")
    ]
