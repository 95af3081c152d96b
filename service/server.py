"""Run the app under gunicorn from Python (``kefu serve``), with the settings measured best on 2 cores."""
from __future__ import annotations

import gc
import os
import subprocess
import sys

from gunicorn.app.base import BaseApplication

_THREAD_LIMITS = None


def _post_fork(_server, worker) -> None:
    """Connections opened in the master before fork must not be shared by workers; one BLAS/OpenMP thread
    per worker (numpy may have started its pools in the master before OMP_NUM_THREADS could matter)."""
    global _THREAD_LIMITS
    from threadpoolctl import threadpool_limits

    _THREAD_LIMITS = threadpool_limits(1)
    app = worker.app.wsgi()  # the app preloaded in the master
    state = getattr(app, "extensions", {}).get("kefu")
    if state is not None:
        state.store.engine.dispose(close=False)


def _post_worker_init(worker) -> None:
    """Load every active model before the worker takes requests, so no customer waits for a model load."""
    state = getattr(worker.app.wsgi(), "extensions", {}).get("kefu")
    if state is not None:
        for probe in state.extras.get("readiness", {}).values():
            probe()
    # Everything loaded so far (the app, the models, the knowledge base) lives as long as the worker: move it out
    # of the garbage collector's view, so a full collection walks only what requests allocate. Full collections
    # over the loaded heap were the slowest 1 % of chat turns.
    gc.collect()
    gc.freeze()


def _child_exit(_server, worker) -> None:
    from service.metrics import worker_exited

    worker_exited(worker.pid)


class KefuGunicorn(BaseApplication):
    def __init__(self, options: dict) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from service.app import create_app

        return create_app()


_HELPERS: list[subprocess.Popen] = []


def _start_helpers(_server) -> None:
    """The processes beside the workers, each started by exec (so no thread of theirs is ever inside a forked
    worker): the profile refresher (service/profile_watch.py) and the recommender's refresh schedule
    (service/pipelines/recommend_schedule.py)."""
    from service.config import settings_from_env

    command = [sys.executable, "-m", "service.cli.main"]
    if os.environ.get("KEFU_CHAT_PROFILE_REFRESH") == "external":
        _HELPERS.append(subprocess.Popen([*command, "profiles", "refresh", "--watch", "1"]))
    hours = settings_from_env().recommend_refresh_hours
    if hours > 0:
        _HELPERS.append(subprocess.Popen([*command, "train", "recommender", "--refresh", "--every", f"{hours:g}"]))


def _stop_helpers(_server) -> None:
    for helper in _HELPERS:
        if helper.poll() is None:
            helper.terminate()
    for helper in _HELPERS:
        try:
            helper.wait(timeout=10)
        except subprocess.TimeoutExpired:
            helper.kill()


def run_gunicorn(host: str, port: int, workers: int = 2) -> None:
    # One OpenMP thread per worker: LightGBM's default threading inside web workers cut throughput 6x here.
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    # Each worker's metrics go to files that a scrape adds up (service/metrics.py); set before the app is loaded.
    from service.config import settings_from_env
    from service.metrics import prepare_multiprocess_dir

    prepare_multiprocess_dir(os.path.join(settings_from_env().data_dir, "metrics"))
    # Profiles touched by chat are refreshed by a process beside the workers, not inside them.
    os.environ.setdefault("KEFU_CHAT_PROFILE_REFRESH", "external")
    KefuGunicorn(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "worker_class": "sync",
            "preload_app": True,
            "post_fork": _post_fork,
            "post_worker_init": _post_worker_init,
            "when_ready": _start_helpers,
            "on_exit": _stop_helpers,
            "child_exit": _child_exit,
            "timeout": 60,
            "accesslog": None,
            "loglevel": "warning",
        }
    ).run()
