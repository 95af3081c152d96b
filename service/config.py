"""Every setting kefu reads, in one place.

Each setting is a ``KEFU_*`` environment variable with a documented default. The app factory, the CLI and
gunicorn all build their :class:`Settings` here, so a value can never mean two things in two places. The lower
layers (``features``, ``models``) never read the environment: they get plain values passed in.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from features.storage import DEFAULT_HOLD_HOURS


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    #: Folder for the embedded database, models and reports.
    data_dir: str = field(default="kefu-data", metadata={"env": "KEFU_DATA_DIR"})
    #: SQLAlchemy URL; empty means SQLite at ``<data_dir>/kefu.db``. PostgreSQL: ``postgresql+psycopg://...``.
    database_url: str = field(default="", metadata={"env": "KEFU_DATABASE_URL"})
    #: Versioned model artifacts live here; empty means ``<data_dir>/models``.
    model_dir: str = field(default="", metadata={"env": "KEFU_MODEL_DIR"})
    #: Sentence embedder: ``e5`` (multilingual, default), ``minilm`` or ``st:/path/to/model``.
    embedder: str = field(default="e5", metadata={"env": "KEFU_EMBEDDER"})
    #: Threads the embedder may use.
    embedder_threads: int = field(default=1, metadata={"env": "KEFU_EMBEDDER_THREADS"})
    #: Texts whose vectors a worker remembers (least recently used out; ~1.5 KB each); 0: none.
    embedder_cache: int = field(default=10_000, metadata={"env": "KEFU_EMBEDDER_CACHE"})
    #: Most events accepted in one POST /v1/events batch.
    max_batch_events: int = field(default=1000, metadata={"env": "KEFU_MAX_BATCH_EVENTS"})
    #: Largest request body in bytes; larger → 413.
    max_request_bytes: int = field(default=8 * 1024 * 1024, metadata={"env": "KEFU_MAX_REQUEST_BYTES"})
    #: SQLite ``synchronous`` pragma: FULL makes every answered commit survive power loss.
    sqlite_synchronous: str = field(default="FULL", metadata={"env": "KEFU_SQLITE_SYNCHRONOUS"})
    #: MiB of the SQLite file read through a memory map (0: none, the default: it did not measurably pay under
    #: gunicorn; see features.storage.engine.make_engine and docs/benchmarks.md).
    sqlite_mmap_mb: int = field(default=0, metadata={"env": "KEFU_SQLITE_MMAP_MB"})
    #: Seconds an API-key lookup is cached in a worker (revocation takes at most this long).
    auth_cache_seconds: float = field(default=30.0, metadata={"env": "KEFU_AUTH_CACHE_SECONDS"})
    #: Risk audit rows are written in batches at most this many seconds after the score; 0 writes each one
    #: inside its request (strict, slower under load).
    risk_audit_flush_seconds: float = field(default=0.2, metadata={"env": "KEFU_RISK_AUDIT_FLUSH_SECONDS"})
    #: Recommendation lists served over HTTP are logged (for GET /v1/recommendations/performance) in batches at
    #: most this many seconds after the answer; 0 writes each one inside its request.
    recommend_log_flush_seconds: float = field(default=0.2, metadata={"env": "KEFU_RECOMMEND_LOG_FLUSH_SECONDS"})
    #: Answer plainly valid risk score requests in a WSGI lane in front of Flask (service.api.lane); anything
    #: else, and every error, is answered by Flask as before. Off: every request goes through Flask.
    fast_lane: bool = field(default=True, metadata={"env": "KEFU_FAST_LANE"})
    #: Customers whose event history each worker keeps between behavioural risk scores, updated by reading only
    #: the events stored since (features.history_cache; exact on SQLite and PostgreSQL). 0: read the history whole
    #: per score.
    risk_history_cache: int = field(default=5000, metadata={"env": "KEFU_RISK_HISTORY_CACHE"})
    #: Risk scoring with the compiled paths (a TreeSHAP kernel for reasons, lleaves for big batches; the `fast`
    #: extra). Off: LightGBM's own predict and pred_contrib, e.g. to compare or to rule them out.
    risk_compiled: bool = field(default=True, metadata={"env": "KEFU_RISK_COMPILED"})
    #: Hours an analyst's hold on a review case (a claim, or an assignment) lasts when the request names no
    #: `hold_hours` of its own; after it the case can be claimed by someone else, so a case held by an analyst who
    #: went home is not lost. Assigning it again renews it. 0: holds never lapse. Each hold stores its own end, so
    #: changing this moves no hold already taken.
    risk_hold_hours: float = field(default=DEFAULT_HOLD_HOURS, metadata={"env": "KEFU_RISK_HOLD_HOURS"})
    #: Recommendations scored by lleaves-compiled trees (the `fast` extra; compiled once per model version and
    #: cached beside it). Off: LightGBM's own predict.
    recommend_compiled: bool = field(default=True, metadata={"env": "KEFU_RECOMMEND_COMPILED"})
    #: `kefu serve` refreshes the recommender's candidate tables (popular now, bought together, new items) every
    #: this many hours when events or catalogue items were stored since the active version; 0: only on demand.
    recommend_refresh_hours: float = field(default=6.0, metadata={"env": "KEFU_RECOMMEND_REFRESH_HOURS"})
    #: Scheduled refreshes kept on disk (older ones are deleted; the active version and trained ones never).
    recommend_refresh_keep: int = field(default=4, metadata={"env": "KEFU_RECOMMEND_REFRESH_KEEP"})
    #: Most recommended items from one category in one answer (diversity).
    recommend_max_per_category: int = field(default=3, metadata={"env": "KEFU_RECOMMEND_MAX_PER_CATEGORY"})
    #: Who phrases chat replies: "template" (the filled knowledge-base answer, no model), "local" (the small
    #: Qwen model via llama.cpp; install the ``llm`` extra) or "openai" (any OpenAI-compatible server at
    #: KEFU_LLM_BASE_URL: vLLM, llama.cpp server, Ollama).
    llm_backend: str = field(default="template", metadata={"env": "KEFU_LLM_BACKEND"})
    #: Base URL of the OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1 (with KEFU_LLM_BACKEND=openai).
    llm_base_url: str = field(default="", metadata={"env": "KEFU_LLM_BASE_URL"})
    #: Model name sent to the OpenAI-compatible server.
    llm_model: str = field(default="", metadata={"env": "KEFU_LLM_MODEL"})
    #: API key for the OpenAI-compatible server, if it needs one.
    llm_api_key: str = field(default="", metadata={"env": "KEFU_LLM_API_KEY"})
    #: CPU threads for the local model (1: with 2, a busy neighbour on the other core stalled generation).
    llm_threads: int = field(default=1, metadata={"env": "KEFU_LLM_THREADS"})
    #: Seconds a generator may take for one reply; past it the checked knowledge-base answer is sent.
    chat_budget_seconds: float = field(default=4.0, metadata={"env": "KEFU_CHAT_BUDGET_SECONDS"})
    #: Days from purchase to expected delivery, used for an order's status and delivery date when the purchase
    #: events carry no ``status`` / ``delivery_date`` properties.
    chat_delivery_days: int = field(default=5, metadata={"env": "KEFU_CHAT_DELIVERY_DAYS"})
    #: Who refreshes a customer's profile after a chat turn: "background" (a thread in the serving process, about
    #: a second later, batched) or "external" (the dirty marks wait for `kefu profiles refresh --watch`, which
    #: `kefu serve` runs beside the web workers, so the ~70 ms pandas rebuild never competes with a request).
    chat_profile_refresh: str = field(default="background", metadata={"env": "KEFU_CHAT_PROFILE_REFRESH"})
    #: (lightgbm.dask, from the ``dask`` extra; ``kefu train risk --dask-scheduler`` overrides it.)
    #: Dask scheduler, e.g. tcp://host:8786, for the boosting of `kefu train risk` on tables; empty: train locally.
    dask_scheduler: str = field(default="", metadata={"env": "KEFU_DASK_SCHEDULER"})
    #: Log level for the kefu loggers.
    log_level: str = field(default="INFO", metadata={"env": "KEFU_LOG_LEVEL"})
    #: Emit logs as JSON lines (for log shippers) instead of plain text.
    log_json: bool = field(default=False, metadata={"env": "KEFU_LOG_JSON"})
    #: Create/upgrade the schema when the app starts (Alembic). Off in production if you migrate separately.
    auto_migrate: bool = field(default=True, metadata={"env": "KEFU_AUTO_MIGRATE"})

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path(self.data_dir).resolve() / 'kefu.db'}"

    @property
    def resolved_model_dir(self) -> Path:
        return Path(self.model_dir) if self.model_dir else Path(self.data_dir) / "models"

    def with_overrides(self, overrides: Mapping[str, Any]) -> "Settings":
        """A copy with some values replaced (test configs, CLI flags). Unknown names are an error."""
        known = {f.name for f in fields(self)}
        unknown = set(overrides) - known
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}")
        return replace(self, **dict(overrides))


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Read every ``KEFU_*`` variable that is set; the rest keep their defaults."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = environ.get(f.metadata["env"])
        if raw is None or raw == "":
            continue
        kind = type(f.default)
        try:
            values[f.name] = _bool(raw) if kind is bool else kind(raw)
        except ValueError as exc:
            raise ValueError(f"{f.metadata['env']}={raw!r}: expected {kind.__name__}") from exc
    return Settings(**values)


def describe_settings() -> list[tuple[str, str, str]]:
    """(variable, default, description) for the docs and ``kefu config``."""
    import inspect

    source = inspect.getsource(Settings)
    rows = []
    for f in fields(Settings):
        doc = ""
        marker = f"    {f.name}:"
        lines = source.splitlines()
        for i, line in enumerate(lines):
            if line.startswith(marker) and i and lines[i - 1].strip().startswith("#:"):
                doc = lines[i - 1].strip()[2:].strip()
        rows.append((f.metadata["env"], repr(f.default), doc))
    return rows
