"""Does the ranker gain from more training periods? Ta-Feng, chosen on the January check only.

    python bench/tafeng_s17/dense_periods.py --sets committed weekly --seeds 7 8 9 [--keep-negatives 0.5]
        [--rounds 200] [--params '{"num_leaves": 63}'] [--setup january|february]

The committed set-up trains on two 14-day periods as of 1 and 15 December for the January check (four, to
mid-January, for February). Retail rankers are often trained on many overlapping weekly windows instead
(more queries, more seasons of the same customer). This script builds 14-day periods at more cutoffs, each
labelled by its own next 14 days and ending by the test month, and retrains LightGBM on a set of them with the
committed early stopping, blend and test rows (`bench/recommend_variants.py`'s cache of the set-up, built first
if missing). Each extra period's rows are cached beside that cache. Results: bench/tafeng_s17/README.md.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import DEFAULT_DATA, write_result  # noqa: E402
from bench.eval_recommend import _log  # noqa: E402
from bench.recommend_variants import (  # noqa: E402
    CACHE,
    SETUPS,
    build_cache,
    cache_digest,
    ndcg_at_10,
    training_period,
    validation_split,
    variant_scores,
)
from models.recommend.config import RecommendConfig  # noqa: E402
from models.recommend.datasets import load_ta_feng  # noqa: E402
from models.recommend.features import feature_names, repeat_prior  # noqa: E402
from models.recommend.training import PeriodData, PeriodStates, period_rows  # noqa: E402

#: Training cutoffs of each set; on the January check every period's 14-day labels end by 2001-01-01, its test
#: month; the February sets (``feb_*``) end by 2001-02-01 and are run once, after the choice.
SETS = {
    "committed": ("2000-12-01", "2000-12-15"),
    "dense4": ("2000-12-01", "2000-12-08", "2000-12-15", "2000-12-18"),
    "dense6": ("2000-12-01", "2000-12-04", "2000-12-08", "2000-12-11", "2000-12-15", "2000-12-18"),
    "dense8": ("2000-11-22", "2000-11-26", "2000-12-01", "2000-12-04", "2000-12-08", "2000-12-11", "2000-12-15",
               "2000-12-18"),
    "every2": tuple(str(d.date()) for d in pd.date_range("2000-11-16", "2000-12-18", freq="2D")),
    "daily": tuple(str(d.date()) for d in pd.date_range("2000-11-15", "2000-12-18", freq="D")),
    # every 4 days, back from the last cutoff whose labels end by the test month, over what history allows
    "every4": ("2000-11-20", "2000-11-24", "2000-11-28", "2000-12-02", "2000-12-06", "2000-12-10", "2000-12-14",
               "2000-12-18"),
    "weekly": ("2000-11-20", "2000-11-27", "2000-12-04", "2000-12-11", "2000-12-18"),
    "feb_committed": ("2000-12-01", "2000-12-15", "2001-01-01", "2001-01-15"),
    # the weekly rule a month later, as weekly_periods.patch makes bench/eval_recommend.py train (eight, to 18 January)
    "feb_weekly": tuple(str(d.date()) for d in pd.date_range("2000-11-30", "2001-01-18", freq="7D")),
}
#: The negatives' seed of the committed periods (build_cache uses 7 + the period's index), kept so that their
#: rows are the cached ones exactly; other cutoffs get their own.
SEEDS = {"january": {"2000-12-01": 7, "2000-12-15": 8},
         "february": {"2000-12-01": 7, "2000-12-15": 8, "2001-01-01": 9, "2001-01-15": 10}}


def period_part(events, items, customers, setup: str, cutoff: str, max_customers: int, say) -> PeriodData:
    """One 14-day period's training rows (cached), as build_cache builds the committed ones: customers held out
    for early stopping are left out of periods from the validation cutoff on."""
    tag = "" if setup == "january" else f"{setup}-"
    path = CACHE / f"period-{tag}{cutoff}-{max_customers}-{cache_digest()}.npz"
    if path.exists():
        z = np.load(path)
        return PeriodData(z["x"], z["y"], z["g"], float(z["recall"]), int(z["customers"]))
    t = time.perf_counter()
    valid, train_ids, _ = validation_split(events, SETUPS[setup])
    period = training_period(events, cutoff, valid, train_ids)
    state_for = PeriodStates(items, customers, RecommendConfig(), None, lambda m: say(f"{cutoff}: {m}"))
    seed = SEEDS[setup].get(cutoff, 7 + 1000 + int(cutoff.replace("-", "")) % 10_000)
    part = period_rows(state_for(period), period, negatives=100, seed=seed, max_customers=max_customers)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=part.x, y=part.y, g=part.groups, recall=part.recall, customers=part.customers)
    say(f"period {cutoff}: {part.customers} customers, {len(part.y)} rows, recall {part.recall:.3f} "
        f"({time.perf_counter() - t:.0f}s)")
    return part


def thin_negatives(part: PeriodData, share: float, seed: int) -> PeriodData:
    """The period's rows with ``share`` of its negatives kept at random (every positive kept)."""
    keep = (part.y > 0) | (np.random.default_rng(seed).random(len(part.y)) < share)
    query = np.repeat(np.arange(len(part.groups)), part.groups)
    groups = np.bincount(query[keep], minlength=len(part.groups))
    return dataclasses.replace(part, x=part.x[keep], y=part.y[keep], groups=groups[groups > 0])


def set_parts(ds, setup: str, name: str, max_customers: int, keep_negatives: float) -> list[PeriodData]:
    """The cached rows of each period of set ``name``, with ``keep_negatives`` of their negatives kept."""
    parts = [period_part(ds.events, ds.items, ds.customers, setup, c, max_customers, _log) for c in SETS[name]]
    if keep_negatives < 1.0:
        parts = [thin_negatives(p, keep_negatives, seed=k) for k, p in enumerate(parts)]
    return parts


def setup_rows(data, setup: str, script: str):
    """(Ta-Feng, the feature names, the setup's validation and test rows, the results' head) for a run of ``script``."""
    ds = load_ta_feng(data / "recommend" / "ta-feng" / "ta_feng.csv.zip")
    names = feature_names(RecommendConfig())
    _, val, test = build_cache(ds.events, ds.items, ds.customers, setup, _log)
    head = {"setup": setup, "command": f"python {script} " + " ".join(sys.argv[1:]),
            "repeat_popular": test.baseline["ndcg@10"], "prior_rule": ndcg_at_10(repeat_prior(test.x, names), test)}
    return ds, names, val, test, head


#: The blend weights every run reports (committed: ``RecommendConfig.prior_weight`` = 0.25; 0 is the ranker alone).
PRIOR_WEIGHTS = (0.0, 0.1, 0.25, 0.5)


def by_prior_weight(ranker: np.ndarray, prior: np.ndarray, test) -> dict[float, float]:
    """NDCG@10 of the ranker's (validation-scaled) scores plus the prior at each of ``PRIOR_WEIGHTS``."""
    return {w: round(ndcg_at_10(ranker + w * prior, test), 5) for w in PRIOR_WEIGHTS}


def run_result(s, parts: list[PeriodData], test) -> dict:
    """What a run records: NDCG@10 at the committed blend, the ranker alone, trees, rows, each blend weight."""
    return {"ndcg@10": ndcg_at_10(s.blended(), test), "ranker": ndcg_at_10(s.raw, test), "trees": s.trees,
            "rows": int(sum(len(p.y) for p in parts)), "by_prior_weight": by_prior_weight(s.ranker, s.prior, test)}


def add_period_set_args(parser: argparse.ArgumentParser, sets: list[str], keep_negatives: float) -> None:
    """The options every script on these cached period sets takes."""
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--setup", default="january", choices=list(SETUPS))
    parser.add_argument("--sets", nargs="+", default=sets, choices=list(SETS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[7])
    parser.add_argument("--max-customers", type=int, default=12_000)
    parser.add_argument("--keep-negatives", type=float, default=keep_negatives,
                        help="keep this share of each period's negatives, at random (fewer rows, faster training)")
    parser.add_argument("--params", type=json.loads, default={}, help="LightGBM parameter overrides, as JSON")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_period_set_args(parser, ["committed", "dense6"], keep_negatives=1.0)
    parser.add_argument("--rounds", type=int, default=200, help="the tree cap (committed: 200)")
    args = parser.parse_args()
    ds, names, val, test, head = setup_rows(args.data, args.setup, "bench/tafeng_s17/dense_periods.py")
    results = {**head, "sets": {}}
    for name in args.sets:
        parts = set_parts(ds, args.setup, name, args.max_customers, args.keep_negatives)
        for seed in args.seeds:
            t = time.perf_counter()
            spec = {"params": {**({"num_iterations": args.rounds} if args.rounds != 200 else {}), **args.params}}
            s = variant_scores(spec, parts, val, test, names, seed)
            res = run_result(s, parts, test)
            results["sets"].setdefault(name, {})[str(seed)] = res
            _log(f"{name} seed {seed}: NDCG@10 {res['ndcg@10']:.5f}, ranker alone {res['ranker']:.4f}, "
                 f"{res['by_prior_weight']}, {s.trees} trees, {res['rows']} rows ({time.perf_counter() - t:.0f}s)")
    write_result("tafeng_s17_dense_periods", results)


if __name__ == "__main__":
    main()
