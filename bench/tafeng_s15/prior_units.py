"""Does the repeat prior rule gain from the units a customer takes? January check, on recommend_variants' cache.

    python bench/tafeng_s15/prior_units.py [--seeds 7]

The rule ``b·(0.5 + rr) + 0.03·log(1 + pop)`` (``features.repeat_prior``) plus ``γ·log(units per basket)`` and
``δ·log(price paid / price)`` for items the customer bought, scored alone and blended with the committed ranker
(trained as ``bench/recommend_variants.py`` trains it) at three blend weights. Session 15 kept the rule unchanged.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.recommend_variants import build_cache, ndcg_at_10  # noqa: E402
from models.recommend.config import RecommendConfig  # noqa: E402
from models.recommend.features import feature_names, repeat_prior  # noqa: E402
from models.recommend.ranker import train_lambdarank  # noqa: E402


def prior(x: np.ndarray, names: list[str], units_weight: float, price_weight: float) -> np.ndarray:
    col = lambda name: x[:, names.index(name)].astype(np.float64)  # noqa: E731
    bought = col("customer_item_baskets") > 0
    per_basket = np.nan_to_num(col("customer_item_units_per_basket"), nan=0.0)
    paid = np.nan_to_num(np.log(np.clip(col("customer_item_paid_vs_price"), 0.2, 5.0)))
    return (repeat_prior(x, names) + units_weight * bought * np.log(np.maximum(per_basket, 1.0))
            + price_weight * bought * paid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", nargs="+", type=int, default=[7])
    args = parser.parse_args()
    names = feature_names(RecommendConfig())
    parts, val, test = build_cache(None, None, None, "january", print)  # built by recommend_variants.py
    for g in (0.0, 0.25, 0.5, 1.0):
        for d in (0.0, -0.25, 0.25):
            print(f"rule alone, units {g}, price {d}: {ndcg_at_10(prior(test.x, names, g, d), test):.4f}")
    for seed in args.seeds:
        booster, info = train_lambdarank(np.concatenate([p.x for p in parts]), np.concatenate([p.y for p in parts]),
                                         np.concatenate([p.groups for p in parts]), val.x, val.y, val.groups, names,
                                         {"seed": seed})
        trees = info["best_iteration"]
        ranker = booster.predict(test.x, num_iteration=trees, num_threads=2)
        ranker = ranker / np.std(booster.predict(val.x, num_iteration=trees, num_threads=2))
        for g in (0.0, 0.5, 1.0):
            for d in (0.0, 0.25):
                p = prior(test.x, names, g, d) / np.std(prior(val.x, names, g, d))
                blends = {w: round(ndcg_at_10(ranker + w * p, test), 4) for w in (0.25, 0.5, 1.0)}
                print(f"seed {seed}, units {g}, price {d}: blend by weight {blends}", flush=True)


if __name__ == "__main__":
    main()
