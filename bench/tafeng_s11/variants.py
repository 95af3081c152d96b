"""Session 11: residual boosting / hard negatives / head re-ranking on bench/recommend_variants.py's cached features.

python bench/tafeng_s11/variants.py SETUP SEEDS VARIANT [VARIANT ...]
  SEEDS: comma list, e.g. 7,8,9
  VARIANT: committed | res<w> (init_score = w * prior / std_valid(prior)) | resraw (init_score = prior)
           | hn<N> (train rows: positives + negatives in the prior's top N of the customer's candidates)
           | hnS<N> (the committed stratified sample + prior top-N negatives)
           | hn<N>_res<w>, hnS<N>_res<w> (both)
Appends one JSON line per (variant, seed) to bench/results/tafeng_s11/results_<SETUP>.jsonl. The hn* variants read
bench/tafeng_s11/hardneg_rows.py's output (run it first; TOP 200 for hnS200).
"""
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import lightgbm as lgb
import numpy as np

from bench.eval_recommend import _log
from bench.common import RESULTS
from bench.recommend_variants import CACHE, build_cache, ndcg_at_10
from models.recommend.config import RecommendConfig
from models.recommend.datasets import load_ta_feng
from models.recommend.features import feature_names, repeat_prior
from models.recommend.ranker import DEFAULT_PARAMS

names = feature_names(RecommendConfig())
OUT = RESULTS / 'tafeng_s11'


def load(setup):
    path = CACHE / f"{setup}.npz"
    assert path.exists(), path
    return build_cache(None, None, None, setup, _log)


def train(x, y, g, xv, yv, gv, seed, init=None, init_v=None, num_boost_round=200, early=40):
    p = {**DEFAULT_PARAMS, "seed": seed}
    dtr = lgb.Dataset(x, y, group=g, feature_name=names, init_score=init, free_raw_data=True)
    dv = lgb.Dataset(xv, yv, group=gv, reference=dtr, init_score=init_v)
    hist = {}
    b = lgb.train(p, dtr, num_boost_round=num_boost_round, valid_sets=[dv], valid_names=["valid"],
                  callbacks=[lgb.early_stopping(early, verbose=False), lgb.record_evaluation(hist)])
    curve = hist["valid"]["ndcg@10"]
    return b, int(b.best_iteration or len(curve)), float(max(curve))


def head_rerank(prior, score, test, k):
    """Keep the prior's top k of each customer, ordered by score; everything else below, in prior order."""
    o = np.lexsort((-prior, test.user))
    first = np.searchsorted(test.user[o], test.user[o])
    rk = np.empty(len(prior), np.int64)
    rk[o] = np.arange(len(o)) - first
    lo = score.min()
    hi = score.max()
    return np.where(rk < k, score - lo + 1.0 + (prior.max() - prior.min() + 1.0), prior - prior.min())


def main():
    setup, seeds, variants = sys.argv[1], [int(s) for s in sys.argv[2].split(',')], sys.argv[3:]
    (OUT / 'scores').mkdir(parents=True, exist_ok=True)
    parts, val, test = load(setup)
    hn = None
    p_val = repeat_prior(val.x, names)
    sd = float(np.std(p_val))
    p_test = repeat_prior(test.x, names)
    rp = test.baseline["ndcg@10"]
    base = {"repeat_popular": rp, "prior_rule": ndcg_at_10(p_test, test)}
    _log(f"{setup}: {base}, prior std on valid {sd:.4g}")
    for variant in variants:
        m = re.fullmatch(r"(committed|hn[ST]?(\d+))?_?(res(raw|[\d.]+))?", variant)
        assert m, variant
        rows_kind, top_n, res = m.group(1) or "committed", m.group(2), m.group(4)
        if rows_kind == "committed":
            x = np.concatenate([p.x for p in parts]); y = np.concatenate([p.y for p in parts])
            g = np.concatenate([p.groups for p in parts])
        else:
            suffix = "" if int(top_n) <= 100 else "_200"
            if hn is None or hn.get("_suffix") != suffix:
                hn = dict(np.load(OUT / 'cache' / f'hardneg_{setup}{suffix}.npz'))
                hn["_suffix"] = suffix
            xs, ys, gs = [], [], []
            for k in range(int(hn["n_train"])):
                yk, gk = hn[f"y{k}"], hn[f"g{k}"]
                keep = (hn[f"prank{k}"] < int(top_n))
                if not rows_kind.startswith("hnT"):  # hnT: the prior's head only, positives outside it dropped
                    keep |= yk > 0
                if rows_kind.startswith("hnS"):
                    keep |= hn[f"strat{k}"]
                grp = np.repeat(np.arange(len(gk)), gk)
                has_pos = np.bincount(grp[keep], weights=(yk[keep] > 0), minlength=len(gk)) > 0
                keep &= has_pos[grp]  # a query without a relevant row teaches LambdaRank nothing
                xs.append(hn[f"x{k}"][keep]); ys.append(yk[keep])
                cnt = np.bincount(grp[keep], minlength=len(gk))
                gs.append(cnt[cnt > 0])
            x, y, g = np.concatenate(xs), np.concatenate(ys), np.concatenate(gs)
        if res is None:
            w = 0.0
        elif res == "raw":
            w = sd  # init = prior itself
        else:
            w = float(res)
        init_tr = w * repeat_prior(x, names) / sd if w else None
        init_v = w * p_val / sd if w else None
        add_test = w * p_test / sd
        for seed in seeds:
            t = time.perf_counter()
            b, trees, vbest = train(x, y, g, val.x, val.y, val.groups, seed, init_tr, init_v)
            f_test = b.predict(test.x, num_iteration=trees, num_threads=2)
            f_val = b.predict(val.x, num_iteration=trees, num_threads=2)
            total_t, total_v = f_test + add_test, f_val + (init_v if w else 0.0)
            s = total_t / np.std(total_v)
            P = p_test / sd
            res_d = {"setup": setup, "variant": variant, "seed": seed, "trees": trees, "valid_ndcg": round(vbest, 5),
                     "train_rows": int(len(y)), "ranker_alone": ndcg_at_10(f_test, test), **base}
            # primary score: committed-style blend (0.5) for models without init; total score for residual
            primary = s + 0.5 * P if not w else total_t
            res_d["ndcg@10"] = ndcg_at_10(primary, test)
            res_d["ratio"] = res_d["ndcg@10"] / rp
            res_d["blend"] = {str(bw): round(ndcg_at_10(s + bw * P, test), 5) for bw in (0.0, 0.25, 0.5, 1.0)}
            res_d["head"] = {str(k): round(ndcg_at_10(head_rerank(p_test, primary, test, k), test), 5)
                             for k in (10, 20, 30, 50)}
            res_d["seconds"] = round(time.perf_counter() - t)
            np.save(OUT / 'scores' / f"{setup}_{variant}_{seed}.npy", primary.astype(np.float32))
            with open(OUT / f"results_{setup}.jsonl", "a") as fh:
                fh.write(json.dumps(res_d) + "\n")
            _log(f"{variant} seed {seed}: {res_d['ndcg@10']:.4f} ({res_d['ratio']:.3f}x) ranker {res_d['ranker_alone']:.4f} "
                 f"blend {res_d['blend']} head {res_d['head']} trees {trees} ({res_d['seconds']}s)")


if __name__ == "__main__":
    main()
