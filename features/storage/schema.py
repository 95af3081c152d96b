"""Tables, as SQLAlchemy Core metadata, shared by SQLite and PostgreSQL.

Core tables (not ORM classes) because the hot paths are bulk inserts and column reads into pandas, where the ORM
only adds cost. Alembic migrations in ``features/storage/migrations`` create exactly these tables; a test checks
the two never drift apart.
"""
from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# Stable constraint names, so migrations can refer to them on every database.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    }
)

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")
ID_LEN = 128

customers = Table(
    "customers",
    metadata,
    Column("customer_id", String(ID_LEN), primary_key=True),
    Column("name", String(200)),
    Column("email", String(320)),
    Column("phone", String(64)),
    Column("tier", String(32)),
    Column("age_band", String(32)),
    Column("region", String(64)),
    Column("language", String(16)),
    Column("signup_at", DateTime),
    Column("attributes", JSON(none_as_null=True)),
    Column("updated_at", DateTime, nullable=False),
)

items = Table(
    "items",
    metadata,
    Column("item_id", String(ID_LEN), primary_key=True),
    Column("name", String(300)),
    Column("category", String(128), index=True),
    Column("price", Float),
    Column("stock", Integer),
    Column("active", Boolean, nullable=False, default=True),
    Column("repeatable", Boolean, nullable=False, default=False),
    Column("description", Text),
    Column("attributes", JSON(none_as_null=True)),
    Column("updated_at", DateTime, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("event_id", String(ID_LEN), nullable=False),
    Column("type", String(32), nullable=False),
    Column("customer_id", String(ID_LEN), nullable=False),
    Column("ts", DateTime, nullable=False),
    Column("item_id", String(ID_LEN)),
    Column("order_id", String(ID_LEN)),
    Column("quantity", Float),
    Column("amount", Float),
    Column("currency", String(3)),
    Column("device_id", String(ID_LEN)),
    Column("ip", String(64)),
    Column("country", String(2)),
    Column("status", String(32)),
    Column("is_fraud", Boolean),
    Column("properties", JSON(none_as_null=True)),
    Column("received_at", DateTime, nullable=False),
    UniqueConstraint("event_id"),
    Index("ix_events_customer_id_ts", "customer_id", "ts"),
    Index("ix_events_ts", "ts"),
    Index("ix_events_item_id", "item_id"),
)

# On PostgreSQL only, events also have ``txid xid8 NOT NULL DEFAULT pg_current_xact_id()``, the id of the
# transaction that stored each row, indexed with the customer (``ix_events_customer_id_txid``): the risk history
# cache reads what was stored since its last read by it (features.history_cache). Migration 0004 adds them; they
# are not declared here because SQLite has no such column, so comparisons with a database skip them.
PG_ONLY = {("events", "txid"), ("events", "ix_events_customer_id_txid")}


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic's ``include_object`` hook: everything but the PostgreSQL-only objects above."""
    if type_ in ("column", "index") and (obj.table.name, name) in PG_ONLY:
        return False
    return True

transactions = Table(
    "transactions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("event_id", String(ID_LEN), nullable=False),
    Column("customer_id", String(ID_LEN), nullable=False),
    Column("ts", DateTime, nullable=False),
    Column("order_id", String(ID_LEN)),
    Column("amount", Float, nullable=False),
    Column("currency", String(3)),
    Column("status", String(32)),
    Column("device_id", String(ID_LEN)),
    Column("ip", String(64)),
    Column("country", String(2)),
    Column("is_fraud", Boolean),
    UniqueConstraint("event_id"),
    Index("ix_transactions_customer_id_ts", "customer_id", "ts"),
)

chat_messages = Table(
    "chat_messages",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("event_id", String(ID_LEN), nullable=False),
    Column("customer_id", String(ID_LEN), nullable=False),
    Column("conversation_id", String(ID_LEN)),
    Column("ts", DateTime, nullable=False),
    Column("direction", String(16), nullable=False),
    Column("language", String(16)),
    Column("text", Text, nullable=False),  # PII already masked
    Column("embedding", LargeBinary),  # float32 little-endian, see features.text.embedder
    Column("embedder", String(64)),
    Column("sentiment", Float),
    Column("intent", String(128)),
    UniqueConstraint("event_id"),
    Index("ix_chat_messages_customer_id_ts", "customer_id", "ts"),
    Index("ix_chat_messages_conversation_id_ts", "conversation_id", "ts"),
)

profiles = Table(
    "profiles",
    metadata,
    Column("customer_id", String(ID_LEN), primary_key=True),
    Column("as_of", DateTime, nullable=False),
    Column("segment", String(64)),
    Column("features", JSON, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

# Customers whose events were committed but whose profile has not been rebuilt since. Written in the same
# transaction as the events, so a crash between commit and profile update is healed by the next refresh.
profile_dirty = Table(
    "profile_dirty",
    metadata,
    Column("customer_id", String(ID_LEN), primary_key=True),
    Column("marked_at", DateTime, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(128), nullable=False),
    Column("version", String(64), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("path", Text),
    Column("data_hash", String(128)),
    Column("metrics", JSON(none_as_null=True)),
    Column("state", JSON(none_as_null=True)),  # small models (e.g. the segmenter) live here whole
    UniqueConstraint("name", "version"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("key_id", String(32), nullable=False),  # public part, shown in listings
    Column("key_hash", String(128), nullable=False),  # sha256 of the whole key
    Column("name", String(200)),
    Column("scopes", String(400), nullable=False),  # space-separated
    Column("created_at", DateTime, nullable=False),
    Column("revoked_at", DateTime),
    UniqueConstraint("key_id"),
)

# Every risk score served, for audit: what was asked, what was answered, by which model version.
risk_scores = Table(
    "risk_scores",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("score_id", String(64), nullable=False),
    Column("model", String(128), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("customer_id", String(ID_LEN)),
    Column("transaction_id", String(ID_LEN)),
    Column("score", Float, nullable=False),
    Column("decision", String(16), nullable=False),
    Column("reasons", JSON(none_as_null=True)),
    Column("features", JSON(none_as_null=True)),
    Column("request_id", String(128)),
    Column("created_at", DateTime, nullable=False),
    # what the case turned out to be, when an analyst records it (POST /v1/risk/scores/<score_id>/outcome)
    Column("outcome", Boolean),
    Column("outcome_at", DateTime),
    Column("outcome_by", String(200)),
    # the block or allow list entry that decided the case, when one did (service/pipelines/risk_lists.py)
    Column("list_match", JSON(none_as_null=True)),
    # a challenger's shadow score: the score_id of the serving version's score of the same case (which decided
    # it); NULL for every score that decided its case (service/pipelines/risk.py)
    Column("shadow_of", String(64)),
    # the decision rules that matched the case ([{name, action, reason}]); NULL when none did (0012,
    # service/pipelines/risk_rules.py)
    Column("rule_matches", JSON(none_as_null=True)),
    # a behavioural payment's raw fields as sent ({amount, country, device_id, ip}: what decision rules test next
    # to the computed features); NULL for a table model (0013)
    Column("payment", JSON(none_as_null=True)),
    # the analyst who holds the case in the review queue, and since when; NULL while nobody does (0014)
    Column("assigned_to", String(200)),
    Column("assigned_at", DateTime),
    # when that hold lapses and the next claim may take the case; NULL while nobody holds it or when the hold
    # never lapses (0017: each claim or assignment sets its own length)
    Column("hold_until", DateTime),
    UniqueConstraint("score_id"),
    Index("ix_risk_scores_customer_id_created_at", "customer_id", "created_at"),
    Index("ix_risk_scores_model_created_at", "model", "created_at"),
    Index("ix_risk_scores_shadow_of", "shadow_of"),
)

# Every recommendation list shown (answered over HTTP, put in a chat reply, written to a campaign file), so what
# customers did next can be traced back to what they were shown (models/recommend/online.py). The HTTP and chat
# lists are written in batches by a background thread (features.storage.buffered), a campaign's in chunks.
recommendation_lists = Table(
    "recommendation_lists",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("recommendation_id", String(64), nullable=False),
    Column("customer_id", String(ID_LEN), nullable=False),
    Column("model_version", String(64)),
    Column("strategy", String(16)),
    Column("context_item_id", String(ID_LEN)),
    Column("items", JSON, nullable=False),
    Column("sources", JSON, nullable=False),
    Column("request_id", String(128)),
    Column("created_at", DateTime, nullable=False),
    # where the list was shown: api (POST /v1/recommendations), chat (a chat reply) or campaign (a
    # `kefu recommend` file); NULL (lists logged before migration 0009) reads as api
    Column("channel", String(16)),
    # the request's promotion (its name; NULL: none) and, per listed item, whether it was promoted (0010)
    Column("promotion", String(64)),
    Column("promoted", JSON),
    UniqueConstraint("recommendation_id"),
    Index("ix_recommendation_lists_created_at", "created_at"),
)

# Promotions a merchandiser schedules once: while one is live (between starts_at and ends_at, on its channels), every
# recommendation list keeps places for its items or categories without the caller sending it
# (service/pipelines/promotions.py). A request's own promotion replaces it for that request.
promotions = Table(
    "promotions",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("items", JSON, nullable=False),
    Column("categories", JSON, nullable=False),
    Column("share", Float, nullable=False),
    Column("channels", JSON, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("starts_at", DateTime),                  # NULL: live from its creation
    Column("ends_at", DateTime),                    # NULL: until it is ended or deleted
    Column("created_by", String(200)),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

# Block and allow lists: a case whose attribute (customer_id, a payment's device_id / ip / country, or a table
# model's feature column) has a listed value is declined (block) or approved (allow) whatever the model says.
risk_lists = Table(
    "risk_lists",
    metadata,
    Column("field", String(64), primary_key=True),
    Column("value", String(200), primary_key=True),
    Column("action", String(8), nullable=False),
    Column("reason", String(500)),
    Column("created_by", String(200)),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime),
)

# Decision rules on top of a risk model: conditions on the case's features (or the raw payment fields, or the
# score), ANDed; a case that meets them all is escalated to the rule's action (review or decline), never lowered.
risk_rules = Table(
    "risk_rules",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("model", String(128), nullable=False),
    Column("conditions", JSON, nullable=False),     # [{"field", "op", "value"}], the API's `when`
    Column("action", String(8), nullable=False),
    Column("reason", String(500)),
    Column("enabled", Boolean, nullable=False),
    Column("expires_at", DateTime),
    Column("created_by", String(200)),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

# Analysts' notes on scored cases (features/storage/risk_notes.py): never edited, read oldest first (0015).
risk_case_notes = Table(
    "risk_case_notes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("score_id", String(64), nullable=False),
    Column("author", String(200)),
    Column("text", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Index("ix_risk_case_notes_score_id", "score_id"),
)

# Decision thresholds per model, changed by an admin without retraining (the trainer's defaults live in the
# artifact; a row here overrides them).
model_thresholds = Table(
    "model_thresholds",
    metadata,
    Column("model", String(128), primary_key=True),
    Column("review", Float, nullable=False),
    Column("decline", Float, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("updated_by", String(200)),
)

# One row per support conversation: the dialogue state the chat service carries from turn to turn (slots such
# as the order number, counters for the handoff rules, the last turns) and whether an agent has taken it over.
# The messages themselves are chat_messages rows with the same conversation_id.
conversations = Table(
    "conversations",
    metadata,
    Column("conversation_id", String(ID_LEN), primary_key=True),
    Column("customer_id", String(ID_LEN), nullable=False),
    Column("language", String(16)),
    Column("status", String(16), nullable=False),  # "bot" or "handoff"
    Column("handoff_reason", String(64)),
    Column("state", JSON, nullable=False),
    Column("turns", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_conversations_customer_id_updated_at", "customer_id", "updated_at"),
    Index("ix_conversations_status_updated_at", "status", "updated_at"),
)

# Who runs a job that must run in one place when several hosts serve the same database (the recommender's
# scheduled refresh): a holder keeps the row while it renews it before ``expires_at`` (0016).
job_leases = Table(
    "job_leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("expires_at", DateTime, nullable=False),
)
