"""The item's popularity before the last 30 days as a ranker input of its own.

    python bench/tafeng_s20/older_popularity.py [--setup january] [--seeds 7]

A diagnostic. `demand_windows.py` found that on February the history before the last 30 days (November and
December) says more about the month's demand than the last 30 days (the holiday) do, but only as a hand-weighted
addition that January rejects. Here the ranker gets it as an input, log(1 + whole-history minus last-30-day
weighted lines), and its share of the item's whole history, in every training period, the validation period and
the test rows of `bench/recommend_variants.py`'s caches, so it can learn from the periods how much to trust it. The
committed ranker is trained beside it in the same run; both are blended with the committed repeat prior.
"""
from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import write_result  # noqa: E402
from bench.eval_recommend import _log  # noqa: E402
from bench.recommend_variants import VARIANTS, ndcg_at_10, variant_scores  # noqa: E402
from bench.tafeng_s20.demand_windows import options_and_rows, popularity_before_30_days  # noqa: E402

NEW_COLUMNS = ["item_pop_before_30d", "item_pop_before_30d_share"]


def with_older(x: np.ndarray, names: list[str]) -> np.ndarray:
    """``x`` with the two new columns appended (NEW_COLUMNS)."""
    total, older = popularity_before_30_days(x, names)
    share = np.divide(older, total, out=np.full(len(total), np.nan), where=total > 0)
    return np.column_stack([x, np.log1p(older), share]).astype(np.float32)


def main() -> None:
    args, _, names, (parts, val, test) = options_and_rows(__doc__, "january")
    wide = names + NEW_COLUMNS
    older_parts = [dataclasses.replace(p, x=with_older(p.x, names)) for p in parts]
    older_val = dataclasses.replace(val, x=with_older(val.x, names))
    older_test = dataclasses.replace(test, x=with_older(test.x, names))
    out = {"command": "python bench/tafeng_s20/older_popularity.py " + " ".join(sys.argv[1:]), "setup": args.setup,
           "repeat_popular": test.baseline["ndcg@10"], "seeds": {}}
    for seed in args.seeds:
        t = time.perf_counter()
        committed = variant_scores(dict(VARIANTS["committed"]), parts, val, test, names, seed, prior_names=names)
        older = variant_scores(dict(VARIANTS["committed"]), older_parts, older_val, older_test, wide, seed,
                               prior_names=wide)
        row = {"committed": ndcg_at_10(committed.blended(), test), "committed_trees": committed.trees,
               "with_older": ndcg_at_10(older.blended(), test), "with_older_ranker": ndcg_at_10(older.raw, test),
               "with_older_trees": older.trees}
        out["seeds"][str(seed)] = row
        _log(f"seed {seed}: {row} ({time.perf_counter() - t:.0f}s)")
    write_result(f"tafeng_s20_older_popularity_{args.setup}", out)


if __name__ == "__main__":
    main()
