"""How much the candidates leave to gain: oracle orderings of the cached test rows, Ta-Feng.

    python bench/tafeng_s18/headroom.py [--setups january february]

Scores, with `bench/recommend_variants.py`'s test rows and NDCG@10, two orderings that know the test month: every
test purchase among the candidates first, and only the customer's items bought before first (the rest in the
repeat prior's order). Results: bench/tafeng_s18/README.md.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import DEFAULT_DATA, write_result  # noqa: E402
from bench.eval_recommend import _log  # noqa: E402
from bench.recommend_variants import SETUPS, build_cache, ndcg_at_10  # noqa: E402
from models.recommend.config import RecommendConfig  # noqa: E402
from models.recommend.datasets import load_ta_feng  # noqa: E402
from models.recommend.features import feature_names, repeat_prior  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--setups", nargs="+", default=list(SETUPS), choices=list(SETUPS))
    args = parser.parse_args()
    ds = load_ta_feng(args.data / "recommend" / "ta-feng" / "ta_feng.csv.zip")
    names = feature_names(RecommendConfig())
    results = {"command": "python bench/tafeng_s18/headroom.py " + " ".join(sys.argv[1:])}
    for setup in args.setups:
        _, _, test = build_cache(ds.events, ds.items, ds.customers, setup, _log)
        prior = repeat_prior(test.x, names)
        bought_before = test.x[:, names.index("customer_item_baskets")] > 0
        tie_break = prior / (prior.max() + 1.0)  # < 1: orders within each group, never across
        res = {"customers": len(test.n_truth), "test_pairs": int(test.n_truth.sum()),
               "candidate_hits": int(test.y.sum()), "hits_bought_before": int((test.y & bought_before).sum()),
               "repeat_popular": test.baseline["ndcg@10"], "prior_rule": ndcg_at_10(prior, test),
               "oracle_all": ndcg_at_10(test.y.astype(float), test),
               "oracle_bought_before": ndcg_at_10((test.y & bought_before) + tie_break, test)}
        results[setup] = res
        _log(f"{setup}: {res}")
    write_result("tafeng_s18_headroom", results)


if __name__ == "__main__":
    main()
