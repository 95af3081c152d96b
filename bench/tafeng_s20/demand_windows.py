"""Which popularity window forecasts a Ta-Feng test month's item demand: each added to the committed score.

    python bench/tafeng_s20/demand_windows.py [--setup february] [--seeds 7]

A diagnostic. Session 19 found that the month's true item demand added to the committed score gives 1.18x on
February, and the last 30 days' popularity added the same way +0.0017. February follows Chinese New Year, and
February's 100 most-bought items share 36 with January's, 47 with December's and 45 with November's: the
months before the holiday look more like the month after it than the holiday month does. So this adds, one at a
time, each popularity window the features already hold (log, scaled to unit standard deviation) to the committed
blended score at a few weights: the last 7 days, the last 30, the whole history, and the history before the
last 30 days (total minus 30 days). A window that gains on February and not on January would be a holiday effect
seen after the fact, not a rule the January check would choose.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import DEFAULT_DATA, write_result  # noqa: E402
from bench.eval_recommend import _log  # noqa: E402
from bench.recommend_variants import VARIANTS, build_cache, ndcg_at_10, variant_scores  # noqa: E402
from models.recommend.config import RecommendConfig  # noqa: E402
from models.recommend.datasets import load_ta_feng  # noqa: E402
from models.recommend.features import feature_names, repeat_prior  # noqa: E402

WEIGHTS = (0.1, 0.25, 0.5, 1.0, 2.0)
MONTHS = ("2000-11", "2000-12", "2001-01", "2001-02")


def top_item_overlap(events, n: int = 100) -> dict[str, dict[str, int]]:
    """For each month, how many of its ``n`` items with the most buyers are among each earlier month's ``n``."""
    month = events["ts"].dt.strftime("%Y-%m")
    top = {m: set(events[month == m].groupby("item_id")["customer_id"].nunique().nlargest(n).index) for m in MONTHS}
    return {m: {e: len(top[m] & top[e]) for e in MONTHS[:k]} for k, m in enumerate(MONTHS) if k}


def popularity_before_30_days(x: np.ndarray, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Each row's item popularity over its whole history, and over the history before the last 30 days."""
    total = x[:, names.index("item_pop_total")].astype(np.float64)
    return total, np.maximum(total - x[:, names.index("item_pop_30d")], 0.0)


def windows(x: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """Each popularity window as log(1 + count), scaled to unit standard deviation."""
    total, older = popularity_before_30_days(x, names)
    raw = {"last_7_days": x[:, names.index("item_pop_7d")].astype(np.float64),
           "last_30_days": x[:, names.index("item_pop_30d")].astype(np.float64),
           "whole_history": total, "before_last_30_days": older}
    out = {}
    for name, v in raw.items():
        v = np.log1p(v)
        out[name] = v / np.std(v)
    return out


def options_and_rows(doc: str, setup: str):
    """The options of a script here (--data, --setup, --seeds), Ta-Feng, the feature names and the setup's cached
    (training periods, validation, test rows)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--setup", default=setup, choices=["january", "february"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[7])
    args = parser.parse_args()
    ds = load_ta_feng(args.data / "recommend" / "ta-feng" / "ta_feng.csv.zip")
    names = feature_names(RecommendConfig())
    return args, ds, names, build_cache(ds.events, ds.items, ds.customers, args.setup, _log)


def main() -> None:
    args, ds, names, (parts, val, test) = options_and_rows(__doc__, "february")
    out = {"command": "python bench/tafeng_s20/demand_windows.py " + " ".join(sys.argv[1:]),
           "setup": args.setup, "repeat_popular": test.baseline["ndcg@10"],
           "prior_rule": ndcg_at_10(repeat_prior(test.x, names), test), "seeds": {}}
    out["top_100_items_shared_with_earlier_months"] = top_item_overlap(ds.events)
    _log(f"top-100 items shared with earlier months: {out['top_100_items_shared_with_earlier_months']}")
    signals = windows(test.x, names)
    for seed in args.seeds:
        t = time.perf_counter()
        committed = variant_scores(dict(VARIANTS["committed"]), parts, val, test, names, seed, prior_names=names)
        base = committed.blended()
        row = {"committed": ndcg_at_10(base, test)}
        for name, signal in signals.items():
            row[name] = {w: round(ndcg_at_10(base + w * signal, test), 5) for w in WEIGHTS}
        out["seeds"][str(seed)] = row
        _log(f"seed {seed}: {row} ({time.perf_counter() - t:.0f}s)")
    write_result(f"tafeng_s20_demand_windows_{args.setup}", out)


if __name__ == "__main__":
    main()
