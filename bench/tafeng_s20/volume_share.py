"""Popularity as a share of the shop's volume: does the ranker carry across periods better?

    python bench/tafeng_s20/volume_share.py [--setup january] [--seeds 7]

A diagnostic. The ranker's popularity inputs are counts: an item's weighted lines in the last 7 and 30 days and in
the whole history, its category's lines in the last 30 days, its buyers, and the popular sources' scores. Counts
move with the shop, not only with the item. The first training period (as of 1 December) sees one month of history
and the February test three, so every whole-history count is about three times larger at test time. The 30 days
before February hold the Chinese New Year rush. Trees split on fixed thresholds, so a count learnt in one period
means something else in another. Here each count is divided by the shop's own figure in the same window and at the
same cutoff (lines; buyers by the customers with a purchase before the cutoff), in every training period, the
validation period and the test rows of `bench/recommend_variants.py`'s caches. The committed ranker is then trained
again. The repeat prior it is blended with stays as committed, read from the unscaled columns.
"""
from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import write_result  # noqa: E402
from bench.eval_recommend import _log  # noqa: E402
from bench.recommend_variants import SETUPS, VARIANTS, ndcg_at_10, variant_scores  # noqa: E402
from bench.tafeng_s20.demand_windows import options_and_rows  # noqa: E402

#: Each count column and the shop-wide figure it is divided by: lines in the last N days (None: the whole history)
#: or, for buyers, the customers with a purchase before the cutoff.
COUNT_COLUMNS: dict[str, int | str | None] = {
    "item_pop_7d": 7, "item_pop_30d": 30, "item_pop_total": None, "category_pop_window": 30,
    "score_popular": 30, "score_popular_age_band": 30, "score_popular_region": 30, "item_buyers": "customers"}


def shop_figures(events: pd.DataFrame, cutoff: str) -> dict[int | str | None, float]:
    """The shop's lines in each window before ``cutoff`` (as the item tables count them: day > as_of - window),
    in its whole history, and its customers with a purchase before it."""
    as_of = pd.Timestamp(cutoff)
    before = events[events["ts"] < as_of]
    out: dict[int | str | None, float] = {None: float(len(before)), "customers": float(before["customer_id"].nunique())}
    for days in (7, 30):
        out[days] = float((before["ts"] > as_of - pd.Timedelta(days=days)).sum())
    return out


def as_shares(x: np.ndarray, names: list[str], figures: dict[int | str | None, float]) -> np.ndarray:
    """``x`` with every count column divided by the shop's matching figure."""
    x = x.copy()
    for column, key in COUNT_COLUMNS.items():
        x[:, names.index(column)] /= np.float32(figures[key])
    return x


def main() -> None:
    args, ds, names, (parts, val, test) = options_and_rows(__doc__, "january")
    setup = SETUPS[args.setup]
    figures = {c: shop_figures(ds.events, c) for c in (*setup["train"], setup["valid"][0], setup["test"][0])}
    _log(f"shop figures per cutoff: {figures}")
    shared_parts = [dataclasses.replace(p, x=as_shares(p.x, names, figures[c])) for p, c in zip(parts, setup["train"])]
    shared_val = dataclasses.replace(val, x=as_shares(val.x, names, figures[setup["valid"][0]]))
    shared_test = dataclasses.replace(test, x=as_shares(test.x, names, figures[setup["test"][0]]))
    out = {"command": "python bench/tafeng_s20/volume_share.py " + " ".join(sys.argv[1:]), "setup": args.setup,
           "repeat_popular": test.baseline["ndcg@10"], "figures": {str(k): v for k, v in figures.items()},
           "seeds": {}}
    for seed in args.seeds:
        t = time.perf_counter()
        committed = variant_scores(dict(VARIANTS["committed"]), parts, val, test, names, seed, prior_names=names)
        shares = variant_scores(dict(VARIANTS["committed"]), shared_parts, shared_val, shared_test, names, seed,
                                prior_names=names)
        # both blended with the committed prior, read from the unscaled columns
        row = {"committed": ndcg_at_10(committed.blended(), test),
               "committed_ranker": ndcg_at_10(committed.raw, test), "committed_trees": committed.trees,
               "shares": ndcg_at_10(dataclasses.replace(shares, prior=committed.prior).blended(), test),
               "shares_ranker": ndcg_at_10(shares.raw, test), "shares_trees": shares.trees}
        out["seeds"][str(seed)] = row
        _log(f"seed {seed}: {row} ({time.perf_counter() - t:.0f}s)")
    write_result(f"tafeng_s20_volume_share_{args.setup}", out)


if __name__ == "__main__":
    main()
