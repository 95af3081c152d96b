"""Print the paired tables for a blend.py output json (and pooled dev+holdout if two given)."""
import json
import statistics
import sys

import numpy as np
from scipy.stats import ttest_1samp, wilcoxon


def table(rows, label):
    print(f"\n== {label}: {len(rows)} seeds ({', '.join(str(r['seed']) for r in rows)})")
    means = {m: {k: statistics.mean(r[m][k] for r in rows) for k in ("roc_auc", "pr_auc", "brier")} for m in ("kefu", "blend", "hgb", "lr", "lgbd")}
    for m, v in means.items():
        print(f"  {m:6s} ROC {v['roc_auc']:.4f}  PR {v['pr_auc']:.4f}  Brier {v['brier']:.4f}")
    best = {k: (min if k == "brier" else max)(("lr", "hgb", "lgbd"), key=lambda m: means[m][k]) for k in means["kefu"]}
    fixed = {"roc_auc": "hgb", "pr_auc": "hgb", "brier": "lr"}
    for a, b in [("blend", "kefu"), ("blend", "fixed"), ("kefu", "fixed"), ("blend", "best"), ("kefu", "best")]:
        for k in ("roc_auc", "pr_auc", "brier"):
            bb = fixed[k] if b == "fixed" else best[k] if b == "best" else b
            d = np.array([r[a][k] - r[bb][k] for r in rows])
            up = int(((d < 0) if k == "brier" else (d > 0)).sum())
            se = d.std(ddof=1) / len(d) ** 0.5
            p_t = ttest_1samp(d, 0).pvalue
            p_w = wilcoxon(d).pvalue if np.any(d != 0) else 1.0
            print(f"  {a}-{bb:5s} {k:7s} {d.mean():+.4f} ± {d.std(ddof=1):.4f} (se {se:.4f}, mean/se {d.mean()/se:+.1f}, t p={p_t:.3f}, Wilcoxon p={p_w:.3f}) better {up}/{len(d)}")
    print("  w (kefu share of stack coefs):", [round(r["w"], 2) for r in rows])
    print("  calibration:", [r["calibration"] for r in rows])

files = sys.argv[1:]
allrows = []
for f in files:
    name, v = next(iter(json.load(open(f)).items()))
    table(v["rows"], f"{name} {f}")
    allrows += v["rows"]
if len(files) > 1:
    table(allrows, "pooled")
