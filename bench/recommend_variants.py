"""Ta-Feng ranker variants compared on cached candidate features: a choice out of period, then February.

    python bench/recommend_variants.py --data ../shared/data [--variants committed binary ...] [--seeds 7]

Why: a full `bench/eval_recommend.py` run refits candidate states and features for every period (~4 min),
and the test month must not choose the model. This script builds each period's candidates and features
once (cached under bench/results/cache/recommend_variants/), then retrains only LightGBM per variant and
scores two set-ups that share every rule of the committed protocol:

- ``january`` (the check that may choose): train on 14-day periods as of 1 and 15 December, stop early on
  December (31 days, 2,500 held-out customers), test on every customer's distinct January purchases;
- ``february`` (the protocol of `bench/eval_recommend.py`): periods as of 1 and 15 December and 1 and 15
  January, early stopping on January's held-out customers, test on February.

Scores are the ranker's blended with the repeat prior (`training.prior_blend`), top 10 of the candidate
list with no business rule; NDCG@10 counts every test item, candidate or not, as `metrics.ranking_metrics`
does. `repeat_popular` (the best baseline) is scored on the same test customers in the same run. The numbers
sit ~0.002 below the committed evaluation, whose final candidate state is refitted on the whole history.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DEFAULT_DATA, RESULTS, write_result  # noqa: E402
from bench.eval_recommend import _log, split_customers  # noqa: E402
from models.recommend.candidates import CandidateGenerator, batch_from_state  # noqa: E402
from models.recommend.config import RecommendConfig  # noqa: E402
from models.recommend.datasets import load_ta_feng  # noqa: E402
from models.recommend.evaluate import make_split, run_baselines  # noqa: E402
from models.recommend.features import build_features, feature_names, repeat_prior  # noqa: E402
from models.recommend.ranker import train_lambdarank  # noqa: E402
from models.recommend.training import LabelPeriod, PeriodData, PeriodStates, period_rows, time_period  # noqa: E402

CACHE = RESULTS / "cache" / "recommend_variants"

SETUPS: dict[str, dict[str, Any]] = {
    "january": {"train": ("2000-12-01", "2000-12-15"), "valid": ("2000-12-01", 31), "test": ("2001-01-01", 31)},
    "february": {"train": ("2000-12-01", "2000-12-15", "2001-01-01", "2001-01-15"), "valid": ("2001-01-01", 31),
                 "test": ("2001-02-01", 28)},
}


@dataclasses.dataclass
class TestRows:
    """Every candidate of every evaluated customer: features, (customer position, item code), truth size."""

    x: np.ndarray
    user: np.ndarray
    item: np.ndarray
    y: np.ndarray
    n_truth: np.ndarray
    baseline: dict[str, float]


def cache_digest() -> str:
    """The cache belongs to one feature list: a feature added or removed builds a new one."""
    return hashlib.sha256(" ".join(feature_names(RecommendConfig())).encode()).hexdigest()[:10]


def validation_split(events, setup: dict[str, Any]) -> tuple[LabelPeriod, tuple[str, ...], tuple[str, ...]]:
    """The setup's early-stopping period (all its customers), and (training customers, the 2,500 held out)."""
    v_cut, v_days = setup["valid"]
    valid = time_period(events, v_cut, v_days)
    train_ids, valid_ids = split_customers(valid.labels, 2500, seed=11)
    return valid, train_ids, valid_ids


def training_period(events, cutoff, valid: LabelPeriod, train_ids: tuple[str, ...]) -> LabelPeriod:
    """A 14-day training period (labels graded 1-3); from the validation cutoff on, without the customers held
    out for early stopping, and at that cutoff on the validation's own history (one candidate state for both)."""
    period = time_period(events, cutoff, 14, max_relevance=3)
    if period.as_of >= valid.as_of:
        period = dataclasses.replace(period, customers=train_ids)
    if period.as_of == valid.as_of:
        period = dataclasses.replace(period, history=valid.history)
    return period


def _periods(events, setup: dict[str, Any]) -> tuple[list[LabelPeriod], LabelPeriod, LabelPeriod]:
    """The setup's periods, built as `bench/eval_recommend.ta_feng_periods` builds February's."""
    valid, train_ids, valid_ids = validation_split(events, setup)
    train = [training_period(events, cutoff, valid, train_ids) for cutoff in setup["train"]]
    t_cut, t_days = setup["test"]
    return train, dataclasses.replace(valid, customers=valid_ids), time_period(events, t_cut, t_days)


def _test_rows(state, period: LabelPeriod, batch_size: int = 1024) -> TestRows:
    split = make_split(state, period.labels, exclude_seen=False)
    n_items = np.int64(len(state.item_ids))
    truth = np.unique(split.truth_rows * n_items + np.where(split.truth_items >= 0, split.truth_items, n_items))
    gen = CandidateGenerator(state)
    xs, users, items = [], [], []
    for start in range(0, split.n_users, batch_size):
        part = split.rows[start:start + batch_size]
        batch = batch_from_state(state, part)
        cands = gen.generate(batch)
        xs.append(build_features(state, batch, cands))
        users.append(cands.row + start)
        items.append(cands.item)
    user, item = np.concatenate(users), np.concatenate(items)
    y = np.isin(user * n_items + item, truth)
    baseline = run_baselines(state, split, names=("repeat_popular",))["repeat_popular"]
    return TestRows(np.concatenate(xs), user, item, y,
                    np.bincount(split.truth_rows, minlength=split.n_users),
                    {k: baseline[k] for k in ("ndcg@10", "hr@10", "recall@10")})


def build_cache(events, items, customers, name: str, say) -> tuple[list[PeriodData], PeriodData, TestRows]:
    path = CACHE / f"{name}-{cache_digest()}.npz"
    if path.exists():
        z = np.load(path, allow_pickle=True)
        parts = [PeriodData(z[f"x{i}"], z[f"y{i}"], z[f"g{i}"], 0.0, 0) for i in range(int(z["n_train"]))]
        val = PeriodData(z["vx"], z["vy"], z["vg"], 0.0, 0)
        test = TestRows(z["tx"], z["tu"], z["ti"], z["ty"], z["tn"], z["baseline"].item())
        return parts, val, test
    train, valid, test_period = _periods(events, SETUPS[name])
    state_for = PeriodStates(items, customers, RecommendConfig(), None, lambda m: say(f"{name}: {m}"))
    parts = [period_rows(state_for(p), p, negatives=100, seed=7 + k, max_customers=12_000)
             for k, p in enumerate(train)]
    val = period_rows(state_for(valid), valid, negatives=None, seed=7 + 99, max_customers=3_000)
    state_for.clear()
    test = _test_rows(state_for(test_period), test_period)
    say(f"{name}: {len(test.n_truth)} test customers, {len(test.y)} candidate rows")
    CACHE.mkdir(parents=True, exist_ok=True)
    arrays = {f"{k}{i}": getattr(p, a) for i, p in enumerate(parts) for k, a in (("x", "x"), ("y", "y"), ("g", "groups"))}
    np.savez(path, n_train=len(parts), vx=val.x, vy=val.y, vg=val.groups, tx=test.x, tu=test.user, ti=test.item,
             ty=test.y, tn=test.n_truth, baseline=np.array(test.baseline, dtype=object), **arrays)
    return parts, val, test


def top_rows(score: np.ndarray, user: np.ndarray, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """(the rows of each user's ``k`` best scores, their 0-based rank within the user)."""
    order = np.lexsort((-score, user))
    ranked = user[order]
    rank = np.arange(len(ranked)) - np.searchsorted(ranked, ranked)
    return order[rank < k], rank[rank < k]


def ndcg_at_10(score: np.ndarray, test: TestRows) -> float:
    """Mean NDCG@10 over every test customer (binary gains, ideal over min(|truth|, 10))."""
    top, rank = top_rows(score, test.user)
    discount = 1.0 / np.log2(rank + 2)
    dcg = np.bincount(test.user[top], weights=test.y[top] * discount, minlength=len(test.n_truth))
    idcg = np.cumsum(1.0 / np.log2(np.arange(2, 12)))[np.minimum(test.n_truth, 10) - 1]
    return float((dcg / idcg).mean())


# Each variant: LightGBM parameter overrides and a transform of the graded (1-3) training labels. Every variant is
# blended with the prior at the committed weight; the ranker alone and other weights are reported beside it.
MONOTONE_UP = ("customer_item_weight", "customer_item_baskets", "customer_item_decay", "customer_item_basket_share")
#: Ranker features added in session 15: the customer's units and price paid per item, then the item's units per
#: line, promotion share and recent price. "before" leaves both out, "pair_only" the item's.
QUANTITY_FEATURES = ("customer_item_quantity", "customer_item_units_per_basket", "customer_item_paid_vs_price")
PRICE_PAID_FEATURES = ("item_units_per_line", "item_promotion_share", "item_recent_price_ratio")
VARIANTS: dict[str, dict[str, Any]] = {
    "committed": {},
    "before": {"without": QUANTITY_FEATURES + PRICE_PAID_FEATURES},
    "pair_only": {"without": PRICE_PAID_FEATURES},
    "binary": {"params": {"objective": "binary"}, "labels": lambda y: (y > 0).astype(np.float32)},
    "xendcg": {"params": {"objective": "rank_xendcg"}},
    "binary_labels": {"labels": lambda y: (y > 0).astype(np.float32)},
    "no_truncation": {"params": {"lambdarank_truncation_level": 200}},
    "monotone": {"params": {"monotone_constraints": "monotone_up", "monotone_constraints_method": "advanced"}},
    "regularised": {"params": {"min_data_in_leaf": 200, "lambda_l2": 10.0, "feature_fraction": 0.6}},
}


@dataclasses.dataclass
class VariantScores:
    """A variant's ranker on the test rows: its raw scores, and the ranker and the repeat prior each divided by its
    spread on the validation candidates (how the service blends them: `training.prior_blend`)."""

    names: list[str]
    test: TestRows
    raw: np.ndarray
    ranker: np.ndarray
    prior: np.ndarray
    trees: int

    def blended(self, weight: float | None = None) -> np.ndarray:
        """The ranker plus the prior at ``weight`` (default: the committed ``RecommendConfig.prior_weight``)."""
        return self.ranker + (RecommendConfig().prior_weight if weight is None else weight) * self.prior


def variant_scores(spec: dict[str, Any], parts, val, test, names, seed: int,
                   period_weights: list[float] | None = None, prior_names: list[str] | None = None) -> VariantScores:
    """Train the variant (its columns, labels and parameters) on the cached periods and score the test rows;
    ``period_weights`` (one per part) weight each period's queries. With ``prior_names`` (the cache's own
    columns) the prior is read from the whole cached rows, so a variant may leave out the prior's columns."""
    prior_test = repeat_prior(test.x, prior_names) if prior_names else None
    prior_val = repeat_prior(val.x, prior_names) if prior_names else None
    if spec.get("without"):
        keep = [k for k, n in enumerate(names) if n not in spec["without"]]
        names = [names[k] for k in keep]
        parts = [dataclasses.replace(p, x=p.x[:, keep]) for p in parts]
        val = dataclasses.replace(val, x=val.x[:, keep])
        test = dataclasses.replace(test, x=test.x[:, keep])
    y = np.concatenate([p.y for p in parts])
    if "labels" in spec:
        y = spec["labels"](y)
    params = {"seed": seed, **spec.get("params", {})}
    if params.get("monotone_constraints") == "monotone_up":
        params["monotone_constraints"] = [int(n in MONOTONE_UP) for n in names]
    weight = None if period_weights is None else np.repeat(np.asarray(period_weights, dtype=np.float32),
                                                           [len(p.y) for p in parts])
    booster, info = train_lambdarank(np.concatenate([p.x for p in parts]), y,
                                     np.concatenate([p.groups for p in parts]), val.x, val.y, val.groups, names,
                                     params, weight=weight)
    trees = info["best_iteration"]
    raw = booster.predict(test.x, num_iteration=trees, num_threads=2)
    v = booster.predict(val.x, num_iteration=trees, num_threads=2)
    if prior_test is None:
        prior_test, prior_val = repeat_prior(test.x, names), repeat_prior(val.x, names)
    return VariantScores(names, test, raw, raw / np.std(v), prior_test / np.std(prior_val), trees)


def run_variant(spec: dict[str, Any], parts, val, test, names, seed: int) -> dict[str, float]:
    s = variant_scores(spec, parts, val, test, names, seed)
    return {"ranker": ndcg_at_10(s.raw, s.test), "trees": s.trees, "ndcg@10": ndcg_at_10(s.blended(), s.test),
            "by_prior_weight": {w: round(ndcg_at_10(s.blended(w), s.test), 4) for w in (0.25, 0.5, 1.0, 2.0)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--setups", nargs="+", default=list(SETUPS), choices=list(SETUPS))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[7])
    args = parser.parse_args()
    say = _log
    ds = load_ta_feng(args.data / "recommend" / "ta-feng" / "ta_feng.csv.zip")
    names = feature_names(RecommendConfig())
    results: dict[str, Any] = {"command": "python bench/recommend_variants.py " + " ".join(sys.argv[1:])}
    for setup in args.setups:
        parts, val, test = build_cache(ds.events, ds.items, ds.customers, setup, say)
        rule = ndcg_at_10(repeat_prior(test.x, names), test)
        results[setup] = {"repeat_popular": test.baseline["ndcg@10"], "prior_rule": rule, "variants": {}}
        say(f"{setup}: repeat_popular {test.baseline['ndcg@10']:.4f}, prior rule on candidates {rule:.4f}")
        for variant in args.variants:
            for seed in args.seeds:
                t = time.perf_counter()
                res = run_variant(VARIANTS[variant], parts, val, test, names, seed)
                res["ratio"] = res["ndcg@10"] / test.baseline["ndcg@10"]
                results[setup]["variants"].setdefault(variant, {})[str(seed)] = res
                say(f"{setup} {variant} seed {seed}: NDCG@10 {res['ndcg@10']:.4f} ({res['ratio']:.3f}x), "
                    f"ranker alone {res['ranker']:.4f}, by prior weight {res['by_prior_weight']}, {res['trees']} trees ({time.perf_counter() - t:.0f}s)")
    write_result("recommend_variants", results)


if __name__ == "__main__":
    main()
