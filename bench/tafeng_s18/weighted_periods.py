"""Do older training periods help more when they count for less? Ta-Feng, chosen on the January check only.

    python bench/tafeng_s18/weighted_periods.py --sets weekly --half-lives 0 14 28 --seeds 7 8 9
        [--keep-negatives 0.5] [--max-customers 12000] [--setup january|february]

Session 17 found that more 14-day training periods, reaching back over more of the history, lift the ranker on
the January check and a little on February, but cost it on `kefu evaluate recommender`'s protocol, whose test is
the last two weeks. This script weights each period's queries by its age: 0.5 ** (days before the last cutoff /
half-life); half-life 0 weights all alike. Everything else is `bench/tafeng_s17/dense_periods.py`'s: the cached
period rows, the committed early stopping, test rows and blend. Results: bench/tafeng_s18/README.md.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import write_result  # noqa: E402
from bench.eval_recommend import _log  # noqa: E402
from bench.recommend_variants import variant_scores  # noqa: E402
from bench.tafeng_s17.dense_periods import (  # noqa: E402
    SETS,
    add_period_set_args,
    by_prior_weight,
    run_result,
    set_parts,
    setup_rows,
)


def period_weights(cutoffs: tuple[str, ...], half_life: float) -> list[float]:
    """0.5 ** (days before the last cutoff / half-life) per period; all 1.0 when ``half_life`` is 0."""
    last = max(pd.Timestamp(c) for c in cutoffs)
    if half_life <= 0:
        return [1.0] * len(cutoffs)
    return [float(0.5 ** ((last - pd.Timestamp(c)).days / half_life)) for c in cutoffs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_period_set_args(parser, ["weekly"], keep_negatives=0.5)
    parser.add_argument("--half-lives", nargs="+", type=float, default=[0.0, 14.0, 28.0])
    args = parser.parse_args()
    ds, names, val, test, head = setup_rows(args.data, args.setup, "bench/tafeng_s18/weighted_periods.py")
    results = {**head, "runs": {}}
    for name in args.sets:
        parts = set_parts(ds, args.setup, name, args.max_customers, args.keep_negatives)
        for half_life in args.half_lives:
            weights = period_weights(SETS[name], half_life)
            key = f"{name} half-life {half_life:g}"
            rankers = []
            for seed in args.seeds:
                t = time.perf_counter()
                s = variant_scores({"params": args.params}, parts, val, test, names, seed, period_weights=weights)
                res = {**run_result(s, parts, test), "weights": [round(w, 3) for w in weights]}
                results["runs"].setdefault(key, {})[str(seed)] = res
                rankers.append(s.ranker)
                _log(f"{key} seed {seed}: {res['by_prior_weight']}, {s.trees} trees ({time.perf_counter() - t:.0f}s)")
            if len(rankers) > 1:  # the seeds' rankers averaged (each divided by its validation spread), then blended
                res = by_prior_weight(np.mean(rankers, axis=0), s.prior, test)
                results["runs"][key]["seed_average"] = {"by_prior_weight": res}
                _log(f"{key}, the {len(rankers)} seeds averaged: {res}")
    write_result(f"tafeng_s18_weighted_periods_{args.setup}", results)


if __name__ == "__main__":
    main()
