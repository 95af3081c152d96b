"""kefu's boosting on a Dask cluster, through LightGBM's own Dask interface (`lightgbm.dask`).

Opt-in (`kefu train risk --dask-scheduler tcp://host:8786`, or KEFU_DASK_SCHEDULER) for tables whose boosting
outgrows one machine's cores. Only the two booster fits of the single-split path run on the cluster: each
candidate's early-stopped fit on train, and the refit on train + validation with a fixed number of rounds.
Everything else stays on the machine that runs `kefu train`: reading and preparing the table (so it must fit
that machine's memory), small tables' cross-fit (seconds), calibration, thresholds, baselines and the report.
Both fits return a plain `lgb.Booster`, so calibration, the artifact, reasons and the compiled serving paths
are the same as for a model trained locally.

Early stopping. LightGBM's Dask interface does not take early-stopping callbacks (each worker would stop on its
own share of the validation rows, at its own round, and the others would wait for it). So a candidate trains
the full `max_rounds` and the round is chosen afterwards, by the rule `lgb.early_stopping(patience)` applies
(`best_iteration`): the first round whose validation log-loss the next `patience` rounds do not beat. The
curve is not taken from the Dask model's `evals_result_`: that holds the metric of one worker over its own
share of the validation rows only (measured on a 6,000-row synthetic table with 2 workers: its curve picked round
139, the whole validation part's round 150). Instead the validation part, which is in memory here anyway, is scored tree by tree
(`validation_curve`, LightGBM's binary log-loss formula), and the booster is cut at the chosen round. On the
same trees this picks exactly what early stopping picks (tests/models/test_risk_dask_fit.py checks it against
LightGBM's own curve and callback). The trees themselves differ slightly from a local fit's: distributed
(data-parallel) training bins and splits on histograms summed over workers, with rows in a different order.
The cost: every candidate trains all `max_rounds` rounds, where a local fit stops `patience` rounds after its
best one.
"""
from __future__ import annotations

import logging
import re
import warnings
from typing import Any

import lightgbm as lgb
import numpy as np

from models.risk.model import FeatureSpec

log = logging.getLogger(__name__)

# LightGBM's binary_logloss clips probabilities at this (kEpsilon in its metric code)
_EPSILON = 1e-15
# cells (rows x trees) of leaf indices and margins held at once while scoring the validation curve
_CURVE_CELLS = 4_000_000
# a cluster's addresses, recorded in the model text's parameters, are reset: an artifact names no machines
_NETWORK_PARAMS = {"machines": "", "local_listen_port": "12400", "num_machines": "1"}


def _without_network(model_text: str) -> str:
    head, marker, tail = model_text.partition("\nparameters:\n")
    params, end, rest = tail.partition("\nend of parameters")
    for key, value in _NETWORK_PARAMS.items():
        params = re.sub(rf"^\[{key}: [^\]\n]*\]$", f"[{key}: {value}]", params, flags=re.MULTILINE)
    return head + marker + params + end + rest


def best_iteration(curve: np.ndarray, patience: int) -> int:
    """The 1-based round `lgb.early_stopping(patience)` would keep for this validation loss curve.

    It walks the rounds in order, keeping the first strictly lower loss; it stops as soon as `patience` rounds
    have passed without a lower one, and keeps the best so far (a later, lower minimum is never reached).
    """
    curve = np.asarray(curve, dtype=np.float64)
    if not len(curve):
        raise ValueError("an empty validation curve")
    best_at, best = 0, curve[0]
    for i in range(1, len(curve)):
        if curve[i] < best:
            best_at, best = i, curve[i]
        elif i - best_at >= patience:
            break
    return best_at + 1


def validation_curve(booster: lgb.Booster, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Binary log-loss on (X, y) after each round, as LightGBM's `binary_logloss` metric computes it.

    Leaf indices of every tree (`pred_leaf`) are mapped to leaf values and summed round by round, a block of
    rows at a time; the first tree carries the starting score (boost_from_average), as in `predict`.
    """
    n_trees = booster.num_trees()
    leaves = [tree["num_leaves"] for tree in booster.dump_model(num_iteration=-1)["tree_info"]]
    values = np.zeros((n_trees, max(leaves)))
    for t, count in enumerate(leaves):
        for leaf in range(count):
            values[t, leaf] = booster.get_leaf_output(t, leaf)
    y = np.asarray(y)
    total = np.zeros(n_trees)
    step = max(1, _CURVE_CELLS // max(1, n_trees))
    for start in range(0, len(y), step):
        rows = slice(start, start + step)
        index = booster.predict(X[rows], pred_leaf=True).reshape(-1, n_trees)
        margin = np.cumsum(values[np.arange(n_trees), index], axis=1)      # rows x rounds
        prob = 1.0 / (1.0 + np.exp(-margin))
        positive = (y[rows] > 0)[:, None]
        loss = np.where(positive, -np.log(np.maximum(prob, _EPSILON)), -np.log(np.maximum(1.0 - prob, _EPSILON)))
        total += loss.sum(axis=0)
    return total / len(y)


class DaskFitter:
    """The single-split path's two booster fits on a Dask cluster (`models.risk.table.BoosterFitter`).

    Holds a `distributed.Client` (`connect(address)` opens one, `close()` closes it). Before each fit the train
    rows are split into one chunk per worker, stratified (each chunk keeps the share of positives, so no worker
    sees one class only), and sent straight to the workers (`scatter`, not through the scheduler's task graph);
    LightGBM then trains data-parallel, with each worker's own threads.
    """

    def __init__(self, client: Any) -> None:
        self.client = client

    @classmethod
    def connect(cls, address: str, timeout: float = 30.0) -> DaskFitter:
        from distributed import Client

        return cls(Client(address, timeout=timeout))

    def close(self) -> None:
        self.client.close()

    def _workers(self) -> dict:
        return self.client.scheduler_info(n_workers=-1)["workers"]

    def describe(self) -> dict:
        """Where the boosting ran, for the model's notes and metadata."""
        info = self.client.scheduler_info(n_workers=-1)
        workers = info["workers"]
        return {"engine": "dask", "scheduler": info.get("address") or str(self.client.scheduler.address),
                "workers": len(workers), "threads": int(sum(w.get("nthreads", 1) for w in workers.values()))}

    def _scatter(self, X: np.ndarray, y: np.ndarray, seed: int) -> tuple[Any, Any]:
        """Dask arrays of X and y, one stratified chunk per worker, already placed one chunk on each worker."""
        import dask.array as da

        workers = sorted(self._workers())
        if not workers:
            raise RuntimeError("the Dask cluster has no workers")
        positives = int((y > 0).sum())
        k = max(1, min(len(workers), positives, len(y) - positives))  # every chunk sees both classes
        rng = np.random.default_rng(seed)
        order = np.lexsort((rng.random(len(y)), y))                      # by class, shuffled within
        chunk_of = np.empty(len(y), dtype=np.int64)
        chunk_of[order] = np.arange(len(y)) % k
        xs, ys = [], []
        for j in range(k):
            rows = np.flatnonzero(chunk_of == j)
            x_future = self.client.scatter(X[rows], workers=[workers[j]], direct=True, hash=False)
            y_future = self.client.scatter(y[rows], workers=[workers[j]], direct=True, hash=False)
            xs.append(da.from_delayed(x_future, shape=(len(rows), X.shape[1]), dtype=X.dtype))
            ys.append(da.from_delayed(y_future, shape=(len(rows),), dtype=y.dtype))
        return da.concatenate(xs), da.concatenate(ys)

    def _fit(self, params: dict, X: np.ndarray, y: np.ndarray, spec: FeatureSpec, rounds: int) -> lgb.Booster:
        from lightgbm.dask import DaskLGBMClassifier

        # num_threads: LightGBM's Dask interface sets each worker's own thread count
        settings = {k: v for k, v in params.items() if k not in {"num_threads", "n_jobs"}}
        Xd, yd = self._scatter(X, y, int(params.get("seed", 0)))
        model = DaskLGBMClassifier(client=self.client, n_estimators=rounds, **settings)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Parameter .* will be ignored", category=UserWarning)
            model.fit(Xd, yd, feature_name=spec.booster_names, categorical_feature=spec.categorical_indices)
        return model.booster_

    def early_stopped(self, params: dict, X: np.ndarray, y: np.ndarray, Xv: np.ndarray, yv: np.ndarray,
                      spec: FeatureSpec, *, max_rounds: int, patience: int) -> tuple[lgb.Booster, float]:
        """Train `max_rounds` on the cluster, pick the round as early stopping would on the whole validation
        part, and cut the booster there. -> (booster, validation log-loss at that round)."""
        booster = self._fit(params, X, y, spec, max_rounds)
        curve = validation_curve(booster, Xv, yv)
        best = best_iteration(curve, patience)
        log.info("dask fit: %d rounds trained, round %d kept (validation log-loss %.5f)", len(curve), best,
                 curve[best - 1])
        text = _without_network(booster.model_to_string(num_iteration=best))
        return lgb.Booster(model_str=text), float(curve[best - 1])

    def refit(self, params: dict, X: np.ndarray, y: np.ndarray, spec: FeatureSpec, rounds: int) -> lgb.Booster:
        """`rounds` rounds on the cluster, no validation."""
        booster = self._fit(params, X, y, spec, rounds)
        return lgb.Booster(model_str=_without_network(booster.model_to_string()))
