"""How much of a Ta-Feng test month is within reach of the ranker's inputs: a ranker that learns from the month.

    python bench/tafeng_s19/in_month.py [--setup february] [--personal-only | --demand-only] [--seeds 7] [--folds 2]

A diagnostic, never a model. The test customers are cut into folds at random; each fold is scored by a ranker
trained on the other folds' purchases in the test month (binary labels: all positives and ``--negatives`` random
negatives per customer; early stopping on a fifth of those customers with their whole candidate lists). Every
customer is scored once, by a model that never saw their labels, on the same cached candidates and features as
the committed ranker, which the same run trains on the committed periods before the month.

If the in-month ranker scores far above the committed one, the inputs can rank the month and what the committed
ranker lacks is knowledge of that month; if about the same, the limit is the inputs themselves. ``--personal-only``
gives both rankers only the customer's own inputs (``PERSONAL``), so the in-month one cannot learn which items the
month favours, only how a customer's history maps to their purchases. ``--demand-only`` adds to the committed
ranker's score only the month's item demand (log buyers among the other folds' customers): what a perfect
forecast of the month's item popularity would add; beside it, the same with the last 30 days' popularity (the
forecast the inputs already hold). Uses `bench/recommend_variants.py`'s caches
(built if missing); ``--setup january`` asks the same of the January check.
"""
from __future__ import annotations

import argparse
import dataclasses
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
from models.recommend.ranker import train_lambdarank  # noqa: E402
from models.recommend.state import PROFILE_FEATURES  # noqa: E402

#: Inputs that describe the customer and their own past with the item, none the item itself: a ranker on these
#: cannot learn which items the month favours, only how a customer's history maps to their next purchases.
PERSONAL = (*PROFILE_FEATURES, "customer_items", "customer_avg_unit_price", "score_repeat", "relative_repeat",
            "customer_item_weight", "customer_item_baskets", "customer_item_decay", "customer_item_basket_share",
            "days_since_item_interaction", "days_since_item_purchase", "days_since_category_interaction",
            "category_share", "customer_item_quantity", "customer_item_units_per_basket")


def query_rows(user: np.ndarray, y: np.ndarray, customers: np.ndarray, negatives: int | None,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of ``customers`` that have a positive among their candidates (all positives and at most
    ``negatives`` random negatives each; None keeps every row), grouped by customer, and the group sizes."""
    take = np.isin(user, customers)
    has_pos = np.bincount(user, weights=y, minlength=user.max() + 1) > 0
    take &= has_pos[user]
    if negatives is not None:
        noise = rng.random(len(user))
        neg_rank = np.zeros(len(user), dtype=np.int64)
        neg = np.flatnonzero(take & ~y)
        order = neg[np.lexsort((noise[neg], user[neg]))]
        first = np.searchsorted(user[order], user[order])
        neg_rank[order] = np.arange(len(order)) - first
        take &= y | (neg_rank < negatives)
    idx = np.flatnonzero(take)
    idx = idx[np.argsort(user[idx], kind="stable")]
    sizes = np.bincount(user[idx])
    return idx, sizes[sizes > 0]


def draw_folds(n_users: int, folds: int, seed: int) -> tuple[np.ndarray, np.random.Generator]:
    """Each test customer's fold, and the generator that drew them (it goes on to draw the rest of the seed's run)."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, folds, n_users), rng


def in_month_scores(test, names: list[str], fold: np.ndarray, rng: np.random.Generator, negatives: int,
                    seed: int) -> tuple[np.ndarray, list[int]]:
    """Every test row's score from the ranker trained on the other folds' customers (``fold`` per customer)."""
    score = np.full(len(test.y), np.nan)
    trees = []
    for f in range(int(fold.max()) + 1):
        others = np.flatnonzero(fold != f)
        stop = rng.random(len(others)) < 0.2
        tr, tg = query_rows(test.user, test.y, others[~stop], negatives, rng)
        va, vg = query_rows(test.user, test.y, others[stop], None, rng)
        booster, info = train_lambdarank(test.x[tr], test.y[tr].astype(np.float32), tg, test.x[va],
                                         test.y[va].astype(np.float32), vg, names, {"seed": seed})
        rows = np.flatnonzero(fold[test.user] == f)
        score[rows] = booster.predict(test.x[rows], num_iteration=info["best_iteration"], num_threads=2)
        trees.append(info["best_iteration"])
        _log(f"fold {f}: {len(tg)} training queries, {len(tr)} rows, {info['best_iteration']} trees")
    return score, trees


def month_item_demand(test, fold: np.ndarray) -> np.ndarray:
    """Each test row's item demand in the month: log(1 + buyers among the other folds' customers, ``fold`` per
    customer). What a perfect forecast of the month's item popularity would tell the ranker."""
    n_items = int(test.item.max()) + 1
    out = np.zeros(len(test.y))
    for f in range(int(fold.max()) + 1):
        mine = fold[test.user] == f
        buyers = np.bincount(test.item[~mine & test.y], minlength=n_items)
        out[mine] = np.log1p(buyers[test.item[mine]])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--setup", default="february", choices=["january", "february"],
                        help="the test month: february (the goal's protocol) or the january check")
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--negatives", type=int, default=100)
    parser.add_argument("--seeds", nargs="+", type=int, default=[7])
    parser.add_argument("--personal-only", action="store_true",
                        help="both rankers see only the customer's own inputs (PERSONAL), nothing about the item")
    parser.add_argument("--demand-only", action="store_true",
                        help="skip the in-month ranker: the committed one alone, with and without the month's demand")
    args = parser.parse_args()
    ds = load_ta_feng(args.data / "recommend" / "ta-feng" / "ta_feng.csv.zip")
    names = feature_names(RecommendConfig())
    parts, val, test = build_cache(ds.events, ds.items, ds.customers, args.setup, _log)
    prior = repeat_prior(test.x, names)
    spec = dict(VARIANTS["committed"])
    if args.personal_only:
        spec["without"] = tuple(n for n in names if n not in PERSONAL)
        keep = [k for k, n in enumerate(names) if n in PERSONAL]
        month_test = dataclasses.replace(test, x=test.x[:, keep])
        month_names = [names[k] for k in keep]
    else:
        month_test, month_names = test, names
    out = {"command": "python bench/tafeng_s19/in_month.py " + " ".join(sys.argv[1:]),
           "repeat_popular": test.baseline["ndcg@10"], "prior_rule": ndcg_at_10(prior, test),
           "setup": args.setup, "personal_only": args.personal_only, "seeds": {}}
    _log(f"repeat_popular {out['repeat_popular']:.5f}, prior rule {out['prior_rule']:.5f}")
    for seed in args.seeds:
        t = time.perf_counter()
        committed = variant_scores(spec, parts, val, test, names, seed, prior_names=names)
        fold, rng = draw_folds(len(test.n_truth), args.folds, seed)
        demand = month_item_demand(test, fold)
        demand /= np.std(demand)
        trailing = np.log1p(test.x[:, names.index("item_pop_30d")].astype(np.float64))
        trailing /= np.std(trailing)
        base = committed.blended()
        row = {"committed": ndcg_at_10(base, test), "committed_ranker": ndcg_at_10(committed.raw, test),
               "committed_with_month_demand": {w: round(ndcg_at_10(base + w * demand, test), 5)
                                               for w in (0.25, 0.5, 1.0, 2.0)},
               "committed_with_trailing_demand": {w: round(ndcg_at_10(base + w * trailing, test), 5)
                                                  for w in (0.25, 0.5, 1.0, 2.0)}}
        if not args.demand_only:
            month, row["in_month_trees"] = in_month_scores(month_test, month_names, fold, rng, args.negatives,
                                                          seed)
            month_scaled = month / np.std(month)
            row["in_month"] = ndcg_at_10(month, test)
            row["in_month_with_prior"] = {w: round(ndcg_at_10(month_scaled + w * prior / np.std(prior), test), 5)
                                          for w in (0.1, 0.25, 0.5)}
        out["seeds"][str(seed)] = row
        _log(f"seed {seed}: {({k: v for k, v in row.items() if k != 'in_month_trees'})} "
             f"({time.perf_counter() - t:.0f}s)")
    write_result(f"tafeng_s19_in_month_{args.setup}" + ("_personal" if args.personal_only else "")
                 + ("_demand" if args.demand_only else ""), out)


if __name__ == "__main__":
    main()
