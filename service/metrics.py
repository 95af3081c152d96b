"""Prometheus metrics: every HTTP request (route, method, status, duration) and what the three services decided.

``GET /metrics`` (scope ``metrics``) answers the text format Prometheus scrapes. Under ``kefu serve`` each gunicorn
worker keeps its own values in files under ``PROMETHEUS_MULTIPROC_DIR`` (set by service.server before the app is
loaded; the folder is emptied at start), and a scrape, whichever worker answers it, adds them all up
(prometheus_client's multiprocess mode). A worker that exits is marked dead, and its counts are kept. Without the
variable (tests, a single process) the values live in the process.

The request metrics come from a WSGI middleware around everything, the fast lane included, so no request escapes
them; the route label is the route's template (``/v1/customers/{customer_id}/risk``), never the raw path, so ids
do not multiply the series. A streamed answer (chat's server-sent events) is timed to its first byte.
"""
from __future__ import annotations

import functools
import os
import re
import time
from typing import Any, Callable, Iterable, Mapping

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Where a Flask view or the lane writes the matched route's template in the WSGI environ.
ROUTE_KEY = "kefu.route"
UNMATCHED = "unmatched"
#: Calibrated probabilities: fine where most legitimate cases sit, coarser above.
SCORE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0)
#: Seconds: from well under a score's p50 (0.9 ms) to a slow chat turn.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The metric objects, in a registry of their own (``registry``, what a single process scrapes)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("kefu_http_requests", "HTTP requests answered, by route template, method and status.",
                                ["route", "method", "status"], registry=r)
        self.latency = Histogram("kefu_http_request_duration_seconds", "Time to answer, by route template and "
                                 "method.", ["route", "method"], buckets=LATENCY_BUCKETS, registry=r)
        self.risk_decisions = Counter("kefu_risk_decisions", "Risk scores served, by model and decision.",
                                      ["model", "decision"], registry=r)
        self.risk_scores = Histogram("kefu_risk_score", "Calibrated risk scores served, by model: a shift in "
                                     "their distribution is the first sign of drift.", ["model"],
                                     buckets=SCORE_BUCKETS, registry=r)
        self.recommendation_lists = Counter("kefu_recommendation_lists", "Recommendation lists served over the "
                                            "API, by strategy (personalised or cold_start).", ["strategy"], registry=r)
        self.chat_replies = Counter("kefu_chat_replies", "Chat replies, by generator and whether the customer was "
                                    "handed to an agent.", ["generator", "handoff"], registry=r)
        self.events = Counter("kefu_events", "Events received over the API, by outcome (accepted, duplicate, "
                              "rejected).", ["outcome"], registry=r)
        # one series per worker (pid): during a roll-out the workers' versions show apart, and a dead worker's go
        self.model_serving = Gauge("kefu_model_serving", "1 for the version a worker serves for a model and role "
                                   "(version: the champion; challenger), 0 for one it served before.",
                                   ["model", "role", "version"], multiprocess_mode="liveall", registry=r)
        self.model_loads = Counter("kefu_model_loads", "Model versions a worker loaded or refused (corrupt, "
                                   "incompatible: the previous one kept serving), by model, role and outcome.",
                                   ["model", "role", "outcome"], registry=r)


_metrics = Metrics()


def metrics() -> Metrics:
    return _metrics


_RULE_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


@functools.lru_cache(maxsize=1024)
def route_template(rule: str) -> str:
    """A Flask rule as the OpenAPI page writes it: ``/v1/customers/<string:customer_id>/risk`` →
    ``/v1/customers/{customer_id}/risk``."""
    return _RULE_PARAM.sub(r"{\1}", rule)


def risk_scored(model: str, results: Iterable[Mapping[str, Any]]) -> None:
    """Count the served results' decisions and observe their scores."""
    counted: dict[str, int] = {}
    histogram = _metrics.risk_scores.labels(model)
    for result in results:
        decision = result["decision"]
        counted[decision] = counted.get(decision, 0) + 1
        histogram.observe(result["score"])
    for decision, n in counted.items():
        _metrics.risk_decisions.labels(model, decision).inc(n)


def events_received(accepted: int, duplicates: int, rejected: int) -> None:
    for outcome, n in (("accepted", accepted), ("duplicate", duplicates), ("rejected", rejected)):
        if n:
            _metrics.events.labels(outcome).inc(n)


def recommendation_list(strategy: str) -> None:
    _metrics.recommendation_lists.labels(strategy).inc()


def chat_reply(generator: str, handoff: bool) -> None:
    _metrics.chat_replies.labels(generator, "true" if handoff else "false").inc()


def model_loaded(model: str, role: str, version: str | None, previous: str | None, ok: bool) -> None:
    """models.serving.LoadedModels' ``on_load``: the served version's gauge to 1 and the replaced one's to 0."""
    m = _metrics
    if ok:
        m.model_loads.labels(model, role, "loaded").inc()
        if previous is not None and previous != version:
            m.model_serving.labels(model, role, previous).set(0)
        m.model_serving.labels(model, role, version).set(1)
    elif version is None:                                   # a challenge ended
        m.model_serving.labels(model, role, previous).set(0)
    else:
        m.model_loads.labels(model, role, "refused").inc()


def scrape() -> tuple[bytes, str]:
    """(the text a scrape gets, its content type): every worker's values when running multiprocess."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(_metrics.registry), CONTENT_TYPE_LATEST


def worker_exited(pid: int) -> None:
    """gunicorn's child_exit hook: the dead worker's live gauges go; its counts stay in the sums."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def prepare_multiprocess_dir(path: str) -> str:
    """Make ``path`` the multiprocess folder, emptied of an earlier run's files (their counts would otherwise
    add to this run's), unless the operator set PROMETHEUS_MULTIPROC_DIR already. Call before the app is loaded."""
    global _metrics
    from prometheus_client import values

    chosen = os.environ.get(MULTIPROC_ENV) or path
    os.makedirs(chosen, exist_ok=True)
    for name in os.listdir(chosen):
        if name.endswith(".db"):
            os.remove(os.path.join(chosen, name))
    os.environ[MULTIPROC_ENV] = chosen
    # prometheus_client picks the value class when it is imported, and this process may have imported it (and
    # made the metrics) before serving, as `kefu demo` does: switch both to files now
    values.ValueClass = values.get_value_class()
    _metrics = Metrics()
    return chosen


class MetricsMiddleware:
    """WSGI middleware counting and timing every request: ``app.wsgi_app = MetricsMiddleware(app.wsgi_app)``."""

    def __init__(self, wsgi_app: Callable) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        started = time.perf_counter()
        status = ["500"]

        def recording(status_line: str, headers: list, exc_info: Any = None) -> Callable:
            status[0] = status_line[:3]
            return start_response(status_line, headers, exc_info)

        try:
            return self.wsgi_app(environ, recording)
        finally:
            route = environ.get(ROUTE_KEY, UNMATCHED)
            method = environ.get("REQUEST_METHOD", "")
            m = _metrics
            m.requests.labels(route, method, status[0]).inc()
            m.latency.labels(route, method).observe(time.perf_counter() - started)
