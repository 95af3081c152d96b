"""Session recommendations on Ta-Feng: do the items a visitor has just looked at find the rest of the basket,
for an anonymous visitor (a cold start) and for a known customer?

    python bench/session_context.py [--data ../shared/data] [--baskets 3000] [--model-dir DIR]

The model is eval_recommend's Ta-Feng model (history through 2001-01-31; trained once, ~5 min, and kept in
``--model-dir`` for reruns; bench/item_page_context.py shares it). Each sampled customer's first February basket
with at least four known items gives one case: its items in a random order (seed 0; Ta-Feng gives no order
within a basket), the first one, two or three of them are the session (`context.items`: what the visitor has
viewed), and the items from the fourth on are what to find, the same truth for every session length. Methods, on
the same cases: the visitor as an unknown customer (the cold start: popular items) with 0-3 session items, and the
customer as known (their history) with 0-3 session items. The session items are never recommended back, and the
committed ``CONTEXT_WEIGHT`` (chosen on single item pages in session 8) is used. With two or more session items,
both ways of combining them (``CONTEXT_SCALING``) are scored; the one with the higher NDCG@10 on the even baskets
is chosen, and the odd baskets report it. Metric: NDCG@10 of the rest of the basket.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DEFAULT_DATA, print_table, write_result  # noqa: E402
from bench.eval_recommend import _log  # noqa: E402
from bench.item_page_context import first_february_baskets, ndcg_at_10, ta_feng_model  # noqa: E402
from models.recommend import candidates as candidates_module  # noqa: E402
from models.recommend.recommender import Recommender  # noqa: E402

SESSION = 3
#: How several session items are combined (models/recommend/candidates.py CONTEXT_SCALING), chosen on the even
#: baskets and reported on the odd ones.
SCALINGS = ("each", "together")


def cases(rec: Recommender, events, n: int) -> list[tuple[str, list[str], set[str]]]:
    """(customer, the basket's first SESSION items in a random order, the rest) for n first February baskets."""
    baskets = first_february_baskets(rec, events, n, SESSION + 1)
    rng = np.random.default_rng(0)
    out = []
    for customer, items in zip(baskets["customer"], baskets["items"]):
        order = [items[i] for i in rng.permutation(len(items))]
        out.append((str(customer), order[:SESSION], set(order[SESSION:])))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--baskets", type=int, default=3000)
    parser.add_argument("--model-dir", type=Path, default=Path("/tmp/kefu-item-page-model"))
    args = parser.parse_args()

    ds, rec = ta_feng_model(args.data, args.model_dir)
    todo = cases(rec, ds.events, args.baskets)
    _log(f"{len(todo)} baskets")
    truths = [truth for _, _, truth in todo]
    lists: dict[str, list[list[str]]] = {}
    for who in ("anonymous visitor", "known customer"):
        for n in range(SESSION + 1):
            for scaling in (SCALINGS if n > 1 else ("-",)):
                if scaling != "-":
                    candidates_module.CONTEXT_SCALING = scaling
                label = f"{who}, {n} session item{'s' if n != 1 else ''}" + (
                    f", items scaled {scaling}" if scaling != "-" else "")
                lists[label] = [rec.propose(f"anonymous-{i}" if who.startswith("anonymous") else customer, 10,
                                            exclude=session, context=session[:n]).item_ids
                                for i, (customer, session, _) in enumerate(todo)]
    even = np.arange(len(todo)) % 2 == 0
    rows = {name: {part: round(ndcg_at_10(rec, found, truths, keep), 4)
                   for part, keep in (("all", np.ones(len(todo), bool)), ("even", even), ("odd", ~even))}
            for name, found in lists.items()}
    print_table([(name, f"all {r['all']:.4f}  even {r['even']:.4f}  odd {r['odd']:.4f}") for name, r in rows.items()])
    wins = {s: sum(rows[n]["even"] for n in rows if n.endswith(f"scaled {s}")) for s in SCALINGS}
    chosen = max(wins, key=wins.get)
    print(f"chosen on the even baskets (sum over the multi-item rows): items scaled {chosen}")
    print("written", write_result("session_context", {"baskets": len(todo), "methods": rows, "chosen": chosen}))


if __name__ == "__main__":
    main()
