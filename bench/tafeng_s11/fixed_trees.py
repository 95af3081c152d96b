"""Residual boosting (init_score = w * prior / std_valid(prior)) scored at fixed tree counts on the test setup.
python bench/tafeng_s11/fixed_trees.py SETUP SEEDS W [W ...]   (W = 'raw' for init = prior)
Appends JSON lines to bench/results/tafeng_s11/results_iters_<SETUP>.jsonl"""
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import numpy as np  # noqa: E402

from bench.tafeng_s11.variants import OUT, _log, load, names, ndcg_at_10, repeat_prior, train  # noqa: E402

setup, seeds, ws = sys.argv[1], [int(s) for s in sys.argv[2].split(',')], sys.argv[3:]
parts, val, test = load(setup)
x = np.concatenate([p.x for p in parts]); y = np.concatenate([p.y for p in parts]); g = np.concatenate([p.groups for p in parts])
p_val = repeat_prior(val.x, names); sd = float(np.std(p_val)); p_test = repeat_prior(test.x, names)
rp = test.baseline["ndcg@10"]
for ws_ in ws:
    w = sd if ws_ == "raw" else float(ws_)
    for seed in seeds:
        t = time.perf_counter()
        b, trees, vbest = train(x, y, g, val.x, val.y, val.groups, seed, w * repeat_prior(x, names) / sd, w * p_val / sd)
        out = {}
        for it in (5, 10, 25, 50, 100, trees):
            if it > b.current_iteration():
                continue
            tot = b.predict(test.x, num_iteration=it, num_threads=2) + w * p_test / sd
            out[str(it)] = round(ndcg_at_10(tot, test), 5)
        d = {"setup": setup, "w": ws_, "seed": seed, "best_trees": trees, "total_by_trees": out, "repeat_popular": rp,
             "seconds": round(time.perf_counter() - t)}
        open(OUT / f"results_iters_{setup}.jsonl", "a").write(json.dumps(d) + "\n")
        _log(json.dumps(d))
