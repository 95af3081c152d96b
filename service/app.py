"""The app factory: ``create_app(test_config)`` wires settings, store, auth, embedder and blueprints."""
from __future__ import annotations

import logging
import time
from types import FunctionType
from typing import Any, Callable, Mapping

import swagger_ui_bundle
from flask import Flask, g, request, send_from_directory

from features.history_cache import make_history_cache
from features.ingest.events import EventIngestor
from features.profiles.service import ProfileService
from features.storage.engine import make_engine
from features.storage.migrate import upgrade
from features.storage.promotions import PromotionStore
from features.storage.recommend_log import RecommendationLog, RecommendationLogStore
from features.storage.risk_audit import BufferedAuditWriter, RiskAuditStore
from features.storage.risk_lists import RiskListStore
from features.storage.risk_notes import RiskNoteStore
from features.storage.risk_rules import RiskRuleStore
from features.storage.store import SqlStore
from features.text.embedder import make_embedder
from service.auth import KeyVerifier
from service.config import settings_from_env
from service.errors import KefuApi, register_error_handlers
from service.ids import request_id_for
from service.logs import configure_logging
from service.metrics import ROUTE_KEY, MetricsMiddleware, model_loaded, route_template
from service.pipelines.promotions import ScheduledPromotions
from service.pipelines.risk import RiskScorer
from service.pipelines.risk_lists import RiskLists
from service.pipelines.risk_rules import RiskRules
from service.state import KefuState

log = logging.getLogger(__name__)
API_VERSION = "0.1.0"


class KefuFlask(Flask):
    """Flask, remembering which plain functions are synchronous.

    Flask asks ``ensure_sync`` about every hook and view on every request (three times for a score), and each
    answer is an ``inspect.iscoroutinefunction`` walk; whether a function is a coroutine function never changes,
    so for plain functions (hooks and views: a fixed set) the first answer is kept. Anything else (bound methods,
    partials, callables) is asked about each time, as in Flask.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._kefu_sync: dict[FunctionType, Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        if type(func) is not FunctionType:
            return super().ensure_sync(func)
        known = self._kefu_sync
        sync = known.get(func)
        if sync is None:
            sync = super().ensure_sync(func)
            if len(known) < 10_000:
                known[func] = sync
        return sync


def create_app(test_config: Mapping[str, Any] | None = None, *, embedder: Any = None, generator: Any = None) -> Flask:
    """Build the app from ``KEFU_*`` variables, with ``test_config`` overriding any of them.

    ``embedder`` swaps the sentence embedder (tests hand in a shared, already loaded one); ``generator`` swaps
    the chat reply generator (any ``models.chat.generator.Generator``).
    """
    settings = settings_from_env()
    if test_config:
        settings = settings.with_overrides(test_config)
    configure_logging(settings.log_level, settings.log_json)

    app = KefuFlask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        API_TITLE="kefu",
        API_VERSION=API_VERSION,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="/docs/static/",
        JSON_SORT_KEYS=False,
    )
    app.json.sort_keys = False

    engine = make_engine(settings.resolved_database_url, sqlite_synchronous=settings.sqlite_synchronous,
                         sqlite_mmap_mb=settings.sqlite_mmap_mb)
    if settings.auto_migrate:
        upgrade(engine, risk_hold_hours=settings.risk_hold_hours)
    store = SqlStore(engine)
    state = KefuState(
        settings=settings,
        store=store,
        verifier=KeyVerifier(store, settings.auth_cache_seconds),
        embedder_factory=(lambda: embedder) if embedder is not None else (
            lambda: make_embedder(settings.embedder, num_threads=settings.embedder_threads,
                                  cache_entries=settings.embedder_cache)
        ),
    )
    profiles = ProfileService(store)
    state.extras["profiles"] = profiles
    state.extras["ingestor"] = EventIngestor(store, embedder=lambda: state.embedder, after_store=profiles.refresh)
    if generator is not None:
        state.extras["generator"] = generator
    _wire_models(state)
    app.extensions["kefu"] = state

    _register_request_hooks(app)
    register_error_handlers(app)
    api = KefuApi(app, spec_kwargs={"info": {"description": _API_DESCRIPTION}})
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    from service.api import catalog, chat, events, health, lane, recommendations, risk
    from service.api import metrics as metrics_api
    from service.api import models as models_api
    from service.api import profiles as profiles_api
    from service.api import promotions as promotions_api

    api.register_blueprint(events.blp)
    api.register_blueprint(catalog.blp)
    api.register_blueprint(profiles_api.blp)
    api.register_blueprint(risk.blp)
    api.register_blueprint(recommendations.blp)
    api.register_blueprint(promotions_api.blp)
    api.register_blueprint(models_api.blp)
    api.register_blueprint(chat.blp)
    app.register_blueprint(health.blp)
    app.register_blueprint(metrics_api.blp)

    if settings.fast_lane:
        lane.install(app, state.verifier, risk.lane_routes(state), settings.max_request_bytes)
    app.wsgi_app = MetricsMiddleware(app.wsgi_app)         # outermost: the lane's answers are counted too

    @app.get("/docs/static/<path:filename>")
    def swagger_static(filename: str):
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=86400)

    return app


def _wire_models(state: KefuState) -> None:
    """The registry, the per-worker loaded models (loaded lazily: after gunicorn forks), scoring, readiness."""
    from models.registry import ModelRegistry
    from models.risk.model import RiskModel
    from models.serving import LoadedModels

    registry = ModelRegistry(state.settings.resolved_model_dir)
    from models.chat.intent import IntentModel
    from models.chat.knowledge import KnowledgeBase
    from models.chat.sentiment import SentimentModel
    from models.recommend.recommender import Recommender
    from service.pipelines.recommend import RecommendationService

    compiled = state.settings.risk_compiled
    load_risk = lambda mv: RiskModel.load(mv.path, compiled=compiled)  # noqa: E731
    loaded = LoadedModels(registry, loaders={
        "risk_table": load_risk, "risk_transactions": load_risk,
        "recommender": lambda mv: Recommender.load(mv.path, compiled=state.settings.recommend_compiled),
        "chat_kb": lambda mv: KnowledgeBase.load(mv.path),
        "chat_intent": lambda mv: IntentModel.load(mv.path),
        "chat_sentiment": lambda mv: SentimentModel.load(mv.path),
    }, on_load=model_loaded)
    audit = BufferedAuditWriter(RiskAuditStore(state.store.engine), state.settings.risk_audit_flush_seconds)
    state.extras["risk_notes"] = RiskNoteStore(state.store.engine)
    history = make_history_cache(state.store.engine, state.settings.risk_history_cache)
    state.extras.update(registry=registry, models=loaded, risk_audit=audit,
                        risk=RiskScorer(loaded, audit, state.store, history=history,
                                        lists=RiskLists(RiskListStore(state.store.engine)),
                                        rules=RiskRules(RiskRuleStore(state.store.engine))))
    state.extras["recommend"] = RecommendationService(
        state.store, loaded, state.extras["profiles"].catalogue, state.settings.recommend_max_per_category,
        promotions=ScheduledPromotions(PromotionStore(state.store.engine)))
    state.extras["recommend_log"] = RecommendationLog(RecommendationLogStore(state.store.engine),
                                                      state.settings.recommend_log_flush_seconds)

    _wire_chat(state)

    def models_ready() -> dict:
        names = [n for n in registry.names() if registry.current(n) is not None]
        ready = loaded.ready(required=names)  # loads every active model in this worker on first call
        if ready:
            for name in names:
                loaded.challenger(name)  # and each challenger, so no request waits for its load
            state.extras["recommend"].warm()
        return {"ready": ready, "models": loaded.status()}

    state.extras.setdefault("readiness", {})["models"] = models_ready


def _wire_chat(state: KefuState) -> None:
    from features.storage.conversations import ConversationStore
    from models.chat.generator import make_generator
    from service.pipelines.chat import BackgroundRefresh, ChatService

    settings = state.settings
    generator = state.extras.get("generator") or make_generator(
        settings.llm_backend, base_url=settings.llm_base_url or None, model=settings.llm_model or None,
        api_key=settings.llm_api_key or None, cache_dir=settings.resolved_model_dir / "_llm",
        threads=settings.llm_threads, load=False)
    if settings.chat_profile_refresh not in ("background", "external"):
        raise ValueError("KEFU_CHAT_PROFILE_REFRESH must be 'background' or 'external'")
    refresher = BackgroundRefresh(state.extras["profiles"].refresh)
    state.extras["chat"] = ChatService(
        store=state.store, conversations=ConversationStore(state.store),
        models=state.extras["models"], embedder=lambda: state.embedder,
        recommend=state.extras["recommend"], recommend_log=state.extras["recommend_log"],
        risk_audit=state.extras["risk_audit"], generator=generator,
        budget_s=settings.chat_budget_seconds, delivery_days=settings.chat_delivery_days,
        after_store=refresher.submit if settings.chat_profile_refresh == "background" else None)
    state.extras["profile_refresher"] = refresher

    def generator_ready() -> dict:
        """A local model is loaded (joined, sha256-checked) here, so a worker is ready only once it can answer."""
        try:
            if hasattr(generator, "load"):
                generator.load()
        except Exception as exc:  # noqa: BLE001 - readiness reports any failure; chat falls back meanwhile
            log.warning("readiness: chat generator %s unavailable: %s", generator.name, exc)
            return {"ready": False, "generator": generator.name, "error": str(exc)[:300]}
        return {"ready": True, "generator": generator.name}

    state.extras.setdefault("readiness", {})["chat_generator"] = generator_ready


def _register_request_hooks(app: Flask) -> None:
    @app.before_request
    def _request_id() -> None:
        # the X-Request-ID header as request.headers reads it (WSGI puts it in the environ under this key)
        g.request_id = request_id_for(request.environ.get("HTTP_X_REQUEST_ID", ""))
        g.started = time.perf_counter()
        rule = request.url_rule
        if rule is not None:                               # the route's template, for the request metrics
            request.environ[ROUTE_KEY] = route_template(rule.rule)

    @app.after_request
    def _echo_request_id(response):
        ctx_g = g._get_current_object()                    # one context lookup for both reads
        response.headers["X-Request-ID"] = ctx_g.get("request_id", "")
        if log.isEnabledFor(logging.INFO):
            path = request.path
            if path.startswith("/v1"):
                elapsed = (time.perf_counter() - ctx_g.get("started", time.perf_counter())) * 1000
                log.info("%s %s %d %.1fms", request.method, path, response.status_code, elapsed)
        return response


_API_DESCRIPTION = """kefu turns customer data into recommendations, fraud-risk scores and grounded support chat.

Authenticate with `Authorization: Bearer <key>`; keys carry scopes (`events`, `profiles`, `recommendations`,
`risk`, `chat`, `metrics`, `admin`; `admin` grants all) and are made with `kefu keys create --scope ...`.
Every error has one shape: `{code, status, message, errors, request_id}`."""
