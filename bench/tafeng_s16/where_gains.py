"""Where NDCG@10 comes from on the January check: items the customer bought again, or items new to them.

    python bench/tafeng_s16/where_gains.py --data ../shared/data [--ranker [--variant committed] [--seed 7]]

Why: seventy objective, label and prior variants (sessions 7, 9, 11) left the January check where it was, and
most of a customer's next-month items are new to them. Before adding inputs for "explore" slots or for the
order of re-buys, this splits the score of each ranking into the part earned by re-bought items (bought
before the cut-off) and the part earned by new ones; the two parts add up to the NDCG@10.

- ``repeat_popular`` from the raw file with pandas (history before 2001-01-01, test = distinct January
  purchases): the customer's items by distinct baskets, ties by 30-day popularity, then the 30-day popular
  items. It lands within ~0.001 of the harness's figure (the harness counts the state's pop_30d the same way).
- ``--ranker``: a ranker of ``bench/recommend_variants.py`` (``--variant``, one seed, blended with the prior as
  the harness does) and the prior rule, both on the harness's cached January candidates
  (``bench/recommend_variants.py --setups january`` must have built the cache for the current feature list);
  "re-bought" there = ``customer_item_baskets`` > 0.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import DEFAULT_DATA  # noqa: E402
from models.recommend.datasets import load_ta_feng  # noqa: E402

CUT, END = pd.Timestamp("2001-01-01"), pd.Timestamp("2001-02-01")
DISCOUNT = 1.0 / np.log2(np.arange(10) + 2)
IDCG = np.cumsum(DISCOUNT)


def split_ndcg(rank: np.ndarray, hit: np.ndarray, old: np.ndarray, user: np.ndarray, n_truth: np.ndarray
               ) -> dict[str, float]:
    """NDCG@10 over every user, split by whether each hit was re-bought (``old``) or new; plus slot shares.

    ``rank`` (0-based), ``hit``, ``old`` and ``user`` describe the top-10 rows only."""
    n = len(n_truth)
    idcg = IDCG[np.minimum(n_truth, 10) - 1]
    gain = hit * DISCOUNT[rank]
    parts = {name: float((np.bincount(user[m], weights=gain[m], minlength=n) / idcg).mean())
             for name, m in (("repeat", old), ("new", ~old))}
    return {"ndcg@10": parts["repeat"] + parts["new"], "from_repeat": parts["repeat"], "from_new": parts["new"],
            "hits_repeat": int((hit & old).sum()), "hits_new": int((hit & ~old).sum()),
            "slots_repeat_share": float(old.mean()), "precision_repeat_slots": float(hit[old].mean()),
            "precision_new_slots": float(hit[~old].mean()) if (~old).any() else float("nan")}


def repeat_popular(events: pd.DataFrame) -> dict[str, float]:
    """repeat_popular on January from the raw events, and what January's truth is made of."""
    p = events[events["type"] == "purchase"]
    hist, test = p[p["ts"] < CUT], p[(p["ts"] >= CUT) & (p["ts"] < END)]
    truth = test[["customer_id", "item_id"]].drop_duplicates()
    truth = truth[truth["customer_id"].isin(hist["customer_id"].unique())]
    users = np.sort(truth["customer_id"].unique())
    pop = hist[hist["ts"] >= CUT - pd.Timedelta(days=30)].groupby("item_id").size()
    pop = pop.add(1e-3 * hist.groupby("item_id").size(), fill_value=0).sort_values(ascending=False, kind="stable")
    baskets = hist.groupby(["customer_id", "item_id"])["order_id"].nunique().rename("b").reset_index()
    baskets = baskets[baskets["customer_id"].isin(users)]
    baskets["s"] = baskets["b"] + 0.5 * pop.reindex(baskets["item_id"]).fillna(0).to_numpy() / (pop.max() + 1)
    own = baskets.sort_values(["customer_id", "s"], ascending=[True, False]).groupby("customer_id").head(10)
    # fill each list with the popular items it lacks, in popularity order
    top = pd.DataFrame({"item_id": pop.index[:40], "s": -np.arange(40, dtype=float)})
    fill = pd.DataFrame({"customer_id": users}).merge(top, how="cross")
    recs = pd.concat([own[["customer_id", "item_id", "s"]], fill]).drop_duplicates(["customer_id", "item_id"])
    recs = recs.sort_values(["customer_id", "s"], ascending=[True, False], kind="stable")
    recs = recs.groupby("customer_id").head(10)
    recs["rank"] = recs.groupby("customer_id").cumcount()
    code = pd.Index(users)
    key = set(zip(truth["customer_id"], truth["item_id"]))
    bought = set(zip(baskets["customer_id"], baskets["item_id"]))
    pairs = list(zip(recs["customer_id"], recs["item_id"]))
    hit = np.array([k in key for k in pairs])
    old = np.array([k in bought for k in pairs])
    n_truth = truth.groupby("customer_id").size().reindex(users).to_numpy()
    t_old = np.array([k in bought for k in zip(truth["customer_id"], truth["item_id"])])
    out = split_ndcg(recs["rank"].to_numpy(), hit, old, code.get_indexer(recs["customer_id"]), n_truth)
    per_user_old = pd.Series(t_old).groupby(truth["customer_id"].to_numpy()).mean()
    out.update({"customers": len(users), "truth_pairs": len(truth), "truth_rebought_share": float(t_old.mean()),
                "customers_with_a_rebuy": float((per_user_old > 0).mean()),
                "mean_customer_new_share": float(1 - per_user_old.mean())})
    return out


def ranker(variant: str, seed: int) -> dict[str, dict[str, float]]:
    """A variant's ranker and the prior rule on the harness's cached January candidates, split alike."""
    from bench.eval_recommend import _log
    from bench.recommend_variants import VARIANTS, build_cache, top_rows, variant_scores
    from models.recommend.config import RecommendConfig
    from models.recommend.features import feature_names

    parts, val, test = build_cache(None, None, None, "january", _log)   # cached: the frames are not read
    scores = variant_scores(VARIANTS[variant], parts, val, test, feature_names(RecommendConfig()), seed)
    test = scores.test
    old_all = test.x[:, scores.names.index("customer_item_baskets")] > 0
    truth_in_cands = {"new_truth_in_candidates": int((test.y & ~old_all).sum()),
                      "rebought_truth_in_candidates": int((test.y & old_all).sum()),
                      "truth_pairs": int(test.n_truth.sum())}
    out = {}
    for name, score in (("prior_rule", scores.prior), (f"ranker {variant}", scores.blended())):
        top, rank = top_rows(score, test.user)
        out[name] = split_ndcg(rank, test.y[top], old_all[top], test.user[top], test.n_truth)
    out["candidates"] = truth_in_cands
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--ranker", action="store_true")
    parser.add_argument("--variant", default="committed")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    ds = load_ta_feng(args.data / "recommend" / "ta-feng" / "ta_feng.csv.zip")
    rows = {"repeat_popular (pandas)": repeat_popular(ds.events)}
    if args.ranker:
        rows.update(ranker(args.variant, args.seed))
    for name, res in rows.items():
        print(name, {k: round(v, 4) if isinstance(v, float) else v for k, v in res.items()})


if __name__ == "__main__":
    main()
