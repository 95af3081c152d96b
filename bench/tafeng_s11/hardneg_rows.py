"""Re-derive the training periods' rows keeping, per customer: all positives, the committed stratified
sample (same rng sequence as training.period_rows, so flag 'strat' reproduces the cached rows), and the
negatives ranking in the repeat prior's top 100 among the customer's candidates (flag 'prank' = rank of the
candidate in the prior's order over ALL the customer's candidates, positives included).

Usage: python bench/tafeng_s11/hardneg_rows.py january|february [TOP]
Writes bench/results/tafeng_s11/cache/hardneg_<setup>[_TOP].npz (after bench/recommend_variants.py built its cache).
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import numpy as np

from bench.common import DEFAULT_DATA, RESULTS
from bench.eval_recommend import _log
from bench.recommend_variants import SETUPS, _periods
from models.recommend.candidates import CandidateGenerator, batch_from_state, candidate_priority
from models.recommend.config import RecommendConfig
from models.recommend.datasets import load_ta_feng
from models.recommend.features import build_features, feature_names, repeat_prior
from models.recommend.training import PeriodStates, _sample

TOP = int(sys.argv[2]) if len(sys.argv) > 2 else 100
names = feature_names(RecommendConfig())


def rows(state, period, *, negatives, seed, batch_size=1024, max_customers=None):
    # copy of training.period_rows with the same rng calls; returns extra flags
    rng = np.random.default_rng(seed)
    labels = period.labels
    if period.customers is not None:
        labels = labels[labels["customer_id"].isin(set(period.customers))]
    rows_all = state.customer_index.get_indexer(labels["customer_id"])
    items_all = state.item_index.get_indexer(labels["item_id"])
    known = (rows_all >= 0) & (state.history.indptr[np.maximum(rows_all, 0) + 1]
                                > state.history.indptr[np.maximum(rows_all, 0)])
    rows_all, items_all = rows_all[known], items_all[known]
    customers = np.unique(rows_all)
    if max_customers is not None and len(customers) > max_customers:
        customers = np.sort(rng.choice(customers, max_customers, replace=False))
    n_items = np.int64(len(state.item_ids))
    relevance_all = labels["relevance"].to_numpy(dtype=np.float32)[known] if "relevance" in labels \
        else np.ones(len(rows_all), np.float32)
    ok = items_all >= 0
    pos_keys = rows_all[ok] * n_items + items_all[ok]
    order = np.argsort(pos_keys, kind="stable")
    positives, pos_relevance = pos_keys[order], relevance_all[ok][order]
    gen = CandidateGenerator(state)
    xs, ys, gs, strat, prank = [], [], [], [], []
    for start in range(0, len(customers), batch_size):
        part = customers[start:start + batch_size]
        batch = batch_from_state(state, part)
        cands = gen.generate(batch)
        keys = part[cands.row] * n_items + cands.item
        pos = np.minimum(np.searchsorted(positives, keys), max(len(positives) - 1, 0))
        y = (positives[pos] == keys) if len(positives) else np.zeros(len(keys), bool)
        gain = np.where(y, pos_relevance[pos] if len(positives) else 0.0, 0.0).astype(np.float32)
        keep_s = _sample(cands.row, y, len(part), negatives, rng, candidate_priority(cands.relative))
        x_all = build_features(state, batch, cands)
        pr = repeat_prior(x_all, names)
        # rank within customer by prior (desc), ties by candidate order
        o = np.lexsort((np.arange(len(pr)), -pr, cands.row))
        first = np.searchsorted(cands.row[o], cands.row[o])
        rk = np.empty(len(pr), np.int32)
        rk[o] = np.arange(len(pr)) - first
        is_s = np.zeros(len(pr), bool)
        is_s[keep_s] = True
        keep = np.flatnonzero(is_s | y | (rk < TOP))
        x, r, yy, g = x_all[keep], cands.row[keep], y[keep], gain[keep]
        sizes = np.bincount(r, minlength=len(part))
        has_pos = np.bincount(r, weights=yy, minlength=len(part)) > 0
        row_ok = has_pos[r]
        xs.append(x[row_ok]); ys.append(g[row_ok]); gs.append(sizes[has_pos])
        strat.append(is_s[keep][row_ok]); prank.append(rk[keep][row_ok])
    return dict(x=np.concatenate(xs), y=np.concatenate(ys), g=np.concatenate(gs), strat=np.concatenate(strat),
                prank=np.concatenate(prank))


def main(name):
    ds = load_ta_feng(DEFAULT_DATA / "recommend" / "ta-feng" / "ta_feng.csv.zip")
    train, valid, _ = _periods(ds.events, SETUPS[name])
    state_for = PeriodStates(ds.items, ds.customers, RecommendConfig(), None, lambda m: _log(f"{name}: {m}"))
    out = {}
    for k, p in enumerate(train):
        t = time.perf_counter()
        d = rows(state_for(p), p, negatives=100, seed=7 + k, max_customers=12_000)
        _log(f"{name} period {k}: {len(d['y'])} rows, {len(d['g'])} groups ({time.perf_counter()-t:.0f}s)")
        for a, v in d.items():
            out[f"{a}{k}"] = v
    out["n_train"] = len(train)
    (RESULTS / 'tafeng_s11' / 'cache').mkdir(parents=True, exist_ok=True)
    np.savez(RESULTS / 'tafeng_s11' / 'cache' / f'hardneg_{name}{"" if TOP == 100 else f"_{TOP}"}.npz', **out)
    _log("saved")


if __name__ == "__main__":
    main(sys.argv[1])
