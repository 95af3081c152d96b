"""What `kefu train recommender --refresh` brings back on Ta-Feng: the committed ranker over candidate tables two
weeks stale against the same ranker over tables fitted on everything (what a refresh does), on February.

    python bench/recommend_refresh_value.py [--data ../shared/data]

The ranker is trained exactly as in bench/eval_recommend.py (history through 2001-01-31, test = each customer's
distinct February purchases). "Refreshed" is that model: its candidate tables (co-purchases, item-kNN, user-kNN,
popularity, histories) are fitted on everything through January 31. "Stale" keeps the ranker and fits the tables
on events before January 15 only, as a service would be serving two weeks after its last training. As in the
service (service/pipelines/recommend.py), each customer is ranked with their own events through January 31
passed in, so only the tables are stale, not the customer's history. A third row ranks from the stale state's
own histories too (and recency measured at its own date), for reference. NDCG@10 etc. on the same customers, with the best baseline of the same run.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DEFAULT_DATA, write_result  # noqa: E402
from bench.eval_recommend import _log, ta_feng_periods  # noqa: E402
from models.recommend.datasets import load_ta_feng  # noqa: E402
from models.recommend.evaluate import evaluate, make_split, run_baselines  # noqa: E402
from models.recommend.training import train_recommender  # noqa: E402

STALE_AS_OF = pd.Timestamp("2001-01-15")


def ranked(rec, customers, events_by_customer, item_index, now, k: int = 10) -> np.ndarray:
    """Each customer's top k from ``rec.rank`` with their own events passed in and recency measured at ``now`` (the
    service passes the store's data clock), as item codes of ``item_index``."""
    out = np.full((len(customers), k), -1, dtype=np.int64)
    for row, customer in enumerate(customers):
        found = rec.rank(str(customer), k, events=events_by_customer.get(customer), now=now)
        codes = item_index.get_indexer([r.item_id for r in found])
        out[row, :len(codes)] = codes
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    ds = load_ta_feng(args.data / "recommend" / "ta-feng" / "ta_feng.csv.zip")
    train, valid, test = ta_feng_periods(ds)
    started = time.perf_counter()
    rec = train_recommender(ds.items, ds.customers, train, valid, test.history, test.as_of, progress=_log)
    _log(f"trained in {time.perf_counter() - started:.1f}s")
    split = make_split(rec.state, test.labels, exclude_seen=False)
    n_items = len(rec.state.item_ids)
    history = test.history
    t = time.perf_counter()
    stale = rec.refresh(history[history["ts"] < STALE_AS_OF], ds.items, ds.customers, STALE_AS_OF)
    refresh_seconds = time.perf_counter() - t
    customers = [str(c) for c in split.customer_ids]
    wanted = set(customers)
    events = {c: frame for c, frame in history[history["customer_id"].astype(str).isin(wanted)]
              .groupby(history["customer_id"].astype(str))}
    methods = {}
    t = time.perf_counter()
    clock = history["ts"].max()                     # the data clock: the newest event stored
    methods["refreshed (tables through Jan 31)"] = evaluate(
        ranked(rec, customers, events, rec.state.item_index, clock), split, n_items)
    _log(f"refreshed ranked in {time.perf_counter() - t:.1f}s")
    t = time.perf_counter()
    methods["stale (tables through Jan 14)"] = evaluate(
        ranked(stale, customers, events, rec.state.item_index, clock), split, n_items)
    _log(f"stale ranked in {time.perf_counter() - t:.1f}s")
    methods["stale, the customers' histories stale too"] = evaluate(
        ranked(stale, customers, {}, rec.state.item_index, None), split, n_items)
    methods["committed batch path (recommend_batch)"] = evaluate(rec.recommend_batch(split.customer_ids, 10),
                                                                 split, n_items)
    baselines = run_baselines(rec.state, split, names=("repeat_popular",))
    methods.update(baselines)
    result = {"command": "python bench/recommend_refresh_value.py", "users": split.n_users,
              "stale_as_of": str(STALE_AS_OF), "refit_seconds": round(refresh_seconds, 1), "methods": methods}
    for name, m in methods.items():
        print(f"| {name} | {m['ndcg@10']:.4f} | {m['recall@10']:.4f} | {m['hr@10']:.4f} |")
    write_result("recommend_refresh_value", result)


if __name__ == "__main__":
    main()
