"""Item-page recommendations on Ta-Feng: does the item on the page help find the rest of its basket?

    python bench/item_page_context.py [--data ../shared/data] [--baskets 3000] [--weights 0 1 1.5 2 2.5 3]
                                      [--model-dir DIR]

The model is eval_recommend's Ta-Feng model (history through 2001-01-31; trained once, ~5 min, and kept in
``--model-dir`` for reruns). Each sampled customer's first February basket with at least two known items gives one
case: one of its items, drawn at random (seed 0), is the item on the page (`context`), and the basket's other items
are what to find. Methods, on the same cases: kefu without the page item (it is only excluded, as before this
benchmark), kefu with it at each ``CONTEXT_WEIGHT`` (0 = the item only anchors the candidates), and the page item's
own bought-together list (what ``GET /v1/items/<id>/similar`` shows first). The weight is chosen on the even cases
and reported on the odd ones. Metric: NDCG@10 of the basket's other items.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DEFAULT_DATA, print_table, write_result  # noqa: E402
from bench.eval_recommend import _log, ta_feng_periods  # noqa: E402
from models.recommend import recommender as recommender_module  # noqa: E402
from models.recommend.datasets import load_ta_feng  # noqa: E402
from models.recommend.metrics import ranking_metrics  # noqa: E402
from models.recommend.recommender import Recommender  # noqa: E402
from models.recommend.training import train_recommender  # noqa: E402


def ndcg_at_10(rec: Recommender, lists: list[list[str]], truths: list[set[str]], keep: np.ndarray) -> float:
    """Mean NDCG@10 over the kept cases, by the evaluation's own metrics (models/recommend/metrics.py)."""
    code = rec.state.code_of
    recs = np.full((int(keep.sum()), 10), -1, dtype=np.int64)
    rows, items = [], []
    for row, n in enumerate(np.flatnonzero(keep)):
        shown = [code("item", i) for i in lists[n][:10]]
        recs[row, :len(shown)] = shown
        rows += [row] * len(truths[n])
        items += [code("item", i) for i in truths[n]]
    return ranking_metrics(recs, np.array(rows), np.array(items), len(rec.state.item_ids))["ndcg@10"]


def first_february_baskets(rec: Recommender, events, n: int, min_items: int):
    """n customers' first February baskets (of the model's known customers and items) with at least
    ``min_items`` items, drawn with seed 0: a frame with ``customer`` and ``items`` (sorted ids)."""
    st = rec.state
    feb = events[(events.ts >= "2001-02-01") & (events.ts < "2001-03-01") & (events.type == "purchase")]
    feb = feb[feb.customer_id.astype(str).map(lambda c: st.code_of("customer", c) >= 0)
              & feb.item_id.astype(str).map(lambda i: st.code_of("item", i) >= 0)]
    first = feb.sort_values("ts").groupby("customer_id").order_id.first()
    baskets = feb[feb.order_id.isin(first.values)].groupby("order_id").agg(
        customer=("customer_id", "first"), items=("item_id", lambda s: sorted(set(map(str, s)))))
    baskets = baskets[baskets["items"].map(len) >= min_items]
    return baskets.sample(n=min(n, len(baskets)), random_state=0)


def ta_feng_model(data: Path, model_dir: Path):
    """(the Ta-Feng dataset, eval_recommend's Ta-Feng model), trained into ``model_dir`` on the first call."""
    ds = load_ta_feng(data / "recommend" / "ta-feng" / "ta_feng.csv.zip")
    if not (model_dir / "model.txt").exists():
        train, valid, test = ta_feng_periods(ds)
        train_recommender(ds.items, ds.customers, train, valid, test.history, test.as_of,
                          progress=_log).save(model_dir)
    return ds, Recommender.load(model_dir, compiled=True)


def cases(rec: Recommender, events, n: int) -> list[tuple[str, str, set[str]]]:
    """(customer, page item, the basket's other items) for n customers' first February baskets."""
    baskets = first_february_baskets(rec, events, n, 2)
    rng = np.random.default_rng(0)
    out = []
    for customer, items in zip(baskets["customer"], baskets["items"]):
        page = items[rng.integers(len(items))]
        out.append((str(customer), page, set(items) - {page}))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--baskets", type=int, default=3000)
    parser.add_argument("--weights", type=float, nargs="+", default=[0, 1, 1.5, 2, 2.5, 3])
    parser.add_argument("--model-dir", type=Path, default=Path("/tmp/kefu-item-page-model"))
    args = parser.parse_args()

    ds, rec = ta_feng_model(args.data, args.model_dir)
    todo = cases(rec, ds.events, args.baskets)
    _log(f"{len(todo)} baskets")
    table_items, _ = rec.state.tables["bought_together"]
    truths = [truth for _, _, truth in todo]
    lists: dict[str, list[list[str]]] = {"without the page item": [], "bought together with the page item": []}
    for customer, page, _ in todo:
        lists["without the page item"].append(rec.propose(customer, 10, exclude=[page]).item_ids)
        code = rec.state.code_of("item", page)
        lists["bought together with the page item"].append(
            [str(rec.state.item_ids[i]) for i in table_items[code] if i >= 0 and i != code])
    for weight in args.weights:
        recommender_module.CONTEXT_WEIGHT = weight
        lists[f"with the page item, weight {weight:g}"] = [
            rec.propose(customer, 10, exclude=[page], context=[page]).item_ids for customer, page, _ in todo]
    even = np.arange(len(todo)) % 2 == 0
    rows = {name: {part: round(ndcg_at_10(rec, found, truths, keep), 4)
                   for part, keep in (("all", np.ones(len(todo), bool)), ("even", even), ("odd", ~even))}
            for name, found in lists.items()}
    chosen = max((n for n in rows if n.startswith("with the page item")), key=lambda n: rows[n]["even"])
    print_table([(name, f"all {r['all']:.4f}  even {r['even']:.4f}  odd {r['odd']:.4f}") for name, r in rows.items()])
    print(f"chosen on the even baskets: {chosen}; odd baskets {rows[chosen]['odd']:.4f} against "
          f"{rows['without the page item']['odd']:.4f} without the page item")
    print("written", write_result("item_page_context", {"baskets": len(todo), "methods": rows, "chosen": chosen}))


if __name__ == "__main__":
    main()
